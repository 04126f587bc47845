"""The wire readers on their own: LSP frames, legacy messages, UTF-8 tails, waiting for input."""

from __future__ import annotations

import asyncio
import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azsdk_rag.server.framing import (
    FramingError,
    IdleTimeout,
    Limits,
    MessageTooLarge,
    Stopped,
    encode_frame,
    ends_inside_utf8_char,
    next_input,
    one_line,
    read_frame,
    read_legacy_message,
)
from support.virtual_clock import virtual_clock

LIMITS = Limits(max_message_bytes=1000, max_header_bytes=200, max_legacy_bytes=100)


def stream(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


# -- frames ----------------------------------------------------------------------------------------


async def test_frames_are_read_back_to_back_and_end_cleanly() -> None:
    reader = stream(encode_frame(b'{"a":1}') + encode_frame(b"[]"))
    assert await read_frame(reader, LIMITS) == b'{"a":1}'
    assert await read_frame(reader, LIMITS) == b"[]"
    assert await read_frame(reader, LIMITS) is None


async def test_content_type_and_unknown_headers_are_ignored_names_are_case_insensitive() -> None:
    data = (
        b"content-length: 2\r\n"
        b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
        b"X-Whatever: 1\r\n\r\n{}"
    )
    assert await read_frame(stream(data), LIMITS) == b"{}"


async def test_bare_newlines_are_tolerated() -> None:
    assert await read_frame(stream(b"Content-Length: 2\n\n{}"), LIMITS) == b"{}"


@pytest.mark.parametrize(
    "data",
    [
        b"Content-Type: text/plain\r\n\r\n{}",  # no Content-Length
        b"\r\n{}",  # no header at all
        b"Content-Length: abc\r\n\r\n",
        b"Content-Length: -5\r\n\r\n",
        b"Content-Length: +5\r\n\r\n",
        b"Content-Length: 1.5\r\n\r\n",
        b"Content-Length: 99999999999999999999999\r\n\r\n",
        b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"\x00\xff\xfe\r\n\r\n",
        b"Bad Name: 1\r\n\r\n",
        b"Content-Length: 2\r\n",  # ends inside the header block
        b"Content-Len",
        b"Content-Length: 10\r\n\r\n{}",  # ends inside the body
        b"X-Pad: " + b"a" * 300 + b"\r\n\r\n",  # header block over the cap
    ],
)
async def test_malformed_frames_raise_framing_error(data: bytes) -> None:
    with pytest.raises(FramingError):
        await read_frame(stream(data), LIMITS)


async def test_a_body_over_the_cap_is_refused_without_reading_it() -> None:
    reader = stream(b"Content-Length: 1001\r\n\r\n", eof=False)
    with pytest.raises(MessageTooLarge):
        await read_frame(reader, LIMITS)


@given(st.binary(max_size=1000))
async def test_any_body_round_trips(body: bytes) -> None:
    assert await read_frame(stream(encode_frame(body)), LIMITS) == body


# -- UTF-8 tails ---------------------------------------------------------------------------------


def _pending(prefix: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    decoder.decode(prefix, final=False)
    return bool(decoder.getstate()[0])


@given(st.text(max_size=30))
def test_a_cut_inside_a_character_is_detected(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    for cut in range(len(data) + 1):
        prefix = data[:cut]
        try:
            expected = _pending(prefix)
        except UnicodeDecodeError:
            continue  # lone surrogates: not UTF-8 anyway
        assert ends_inside_utf8_char(prefix) == expected, prefix


def test_invalid_tails_do_not_wait_forever() -> None:
    assert not ends_inside_utf8_char(b"\x80\x80\x80\x80")
    assert not ends_inside_utf8_char(b"")


# -- legacy messages -----------------------------------------------------------------------------

QUICK = Limits(legacy_quiet=0.05, legacy_partial_wait=0.5, max_legacy_bytes=100)

# The timing tests run on a virtual clock (support/virtual_clock.py): a pause is loop time, so
# "0.005 s is no pause, 0.2 s is one" holds however loaded the machine is, and costs no real time.


def _feed_at(reader: asyncio.StreamReader, pieces: list[tuple[float, bytes]]) -> None:
    """Feed each piece when the loop's clock reaches its time (seconds from now)."""
    loop = asyncio.get_running_loop()
    for at, data in pieces:
        loop.call_later(at, reader.feed_data, data)


@virtual_clock
async def test_pieces_that_follow_without_a_pause_are_one_message() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"first half, ")
    _feed_at(reader, [(0.005, b"second "), (0.045, b"half")])  # each gap under the 0.05 quiet
    assert await read_legacy_message(reader, QUICK) == b"first half, second half"
    assert asyncio.get_running_loop().time() == pytest.approx(0.045 + 0.05)  # then one quiet


@virtual_clock
async def test_a_pause_ends_a_message() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"one")
    _feed_at(reader, [(0.06, b"two")])  # just over the quiet window
    assert await read_legacy_message(reader, QUICK) == b"one"
    assert asyncio.get_running_loop().time() == pytest.approx(0.05)
    assert await read_legacy_message(reader, QUICK) == b"two"


@virtual_clock
async def test_a_message_cut_inside_a_character_waits_for_the_rest() -> None:
    data = "café au lait".encode()
    cut = data.index(b"\xa9")  # between the two bytes of "é"
    reader = asyncio.StreamReader()
    reader.feed_data(data[:cut])
    _feed_at(reader, [(0.4, data[cut:])])  # > quiet, < partial wait
    assert await read_legacy_message(reader, QUICK) == data


@virtual_clock
async def test_a_cut_character_waits_no_longer_than_the_partial_wait() -> None:
    data = "café".encode()
    reader = asyncio.StreamReader()
    reader.feed_data(data[:-1])
    _feed_at(reader, [(0.6, data[-1:])])  # after the 0.5 partial wait
    assert await read_legacy_message(reader, QUICK) == data[:-1]
    assert asyncio.get_running_loop().time() == pytest.approx(0.5)


async def test_end_of_stream_after_a_message_still_returns_it() -> None:
    reader = stream(b"question")
    assert await read_legacy_message(reader, QUICK) == b"question"
    assert await read_legacy_message(reader, QUICK) is None


async def test_a_legacy_message_over_the_cap_is_refused() -> None:
    with pytest.raises(MessageTooLarge):
        await read_legacy_message(stream(b"x" * 101, eof=False), QUICK)


# -- waiting ---------------------------------------------------------------------------------------


@virtual_clock
async def test_an_idle_wait_times_out_and_cancels_the_read() -> None:
    loop = asyncio.get_running_loop()
    read = loop.create_future()  # input that never comes
    with pytest.raises(IdleTimeout):
        await next_input(read, loop.create_future(), 0.05)
    assert read.cancelled()
    assert loop.time() == pytest.approx(0.05)


@virtual_clock
async def test_a_busy_connection_is_not_idle() -> None:
    loop = asyncio.get_running_loop()
    read = loop.create_future()
    loop.call_later(0.2, read.set_result, "message")  # four idle periods later
    assert await next_input(read, loop.create_future(), 0.05, busy=lambda: True) == "message"
    assert loop.time() == pytest.approx(0.2)


@virtual_clock
async def test_an_idle_wait_ends_when_the_connection_stops_being_busy() -> None:
    loop = asyncio.get_running_loop()
    read = loop.create_future()
    busy = [True]
    loop.call_later(0.12, busy.clear)  # busy for two idle periods, idle during the third
    with pytest.raises(IdleTimeout):
        await next_input(read, loop.create_future(), 0.05, busy=lambda: bool(busy))
    assert loop.time() == pytest.approx(0.15)
    assert read.cancelled()


@virtual_clock
async def test_stopping_interrupts_the_wait() -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    read = loop.create_future()
    loop.call_later(0.01, stop.set_result, None)
    with pytest.raises(Stopped):
        await next_input(read, stop, 10)
    assert read.cancelled()
    assert loop.time() == pytest.approx(0.01)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        Limits(idle_timeout=0)


def test_one_line_flattens_and_cuts() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert len(one_line("x" * 1000, limit=50)) == 50
