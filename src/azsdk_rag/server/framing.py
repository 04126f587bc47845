"""The bytes of both wires, read under limits: LSP-style frames and the legacy raw-text messages.

Everything here is transport-level: it knows nothing of JSON-RPC methods or of the RAG. The
:class:`Limits` that bound what one client may cost live here too, since both readers enforce them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

READ_CHUNK = 65536
_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token
_NO_HEADER = (
    "A message must start with a 'Content-Length: N' header and a blank line (LSP framing), "
    "not with its JSON body."
)


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server; every field has a safe default.

    Sizes are bytes unless named ``chars``; times are seconds. Each field's ``#:`` comment says
    what it bounds (Sphinx reads them as the fields' docs).
    """

    #: Largest JSON-RPC body (``Content-Length``).
    max_message_bytes: int = 1 << 20
    #: Largest JSON-RPC header block.
    max_header_bytes: int = 8 << 10
    #: Largest legacy message (one question).
    max_legacy_bytes: int = 64 << 10
    #: Longest question, on either protocol.
    max_question_chars: int = 16_000
    #: Connections being served over both ports together (authenticated JSON-RPC clients,
    #: legacy clients that have spoken); more get a clean close.
    max_connections: int = 256
    #: Connections not yet authenticated (legacy: not yet spoken), per pool: one pool for
    #: loopback peers, one for the rest. They never take ``max_connections`` slots; newcomers to a
    #: full pool wait (up to ``first_message_timeout``) for a place.
    max_pending: int = 32
    #: A TCP connection that has sent no whole message by then is closed.
    first_message_timeout: float = 10.0
    #: A wrong token is answered after this long, doubling with each failure from that address.
    auth_delay: float = 0.5
    #: Wrong tokens from one address before it is locked out.
    auth_max_failures: int = 5
    #: How long a locked-out address waits (and how long until failures are forgotten).
    auth_lockout: float = 60.0
    #: JSON-RPC requests in flight on one connection.
    max_requests_per_connection: int = 16
    #: Distinct ``sessionId`` values one JSON-RPC connection may use.
    max_sessions_per_connection: int = 64
    #: A TCP connection with no message and no answer in flight for this long is closed.
    idle_timeout: float = 900.0
    #: A JSON-RPC TCP connection that has not initialized successfully by then is closed.
    handshake_timeout: float = 30.0
    #: After a TCP client shuts its sending side, its answers in flight get this long to finish.
    eof_grace: float = 300.0
    #: A legacy message ends when no more bytes arrive for this long.
    legacy_quiet: float = 0.05
    #: How long to wait for the rest of a legacy message that ends inside a UTF-8 character.
    legacy_partial_wait: float = 1.0
    #: A client that reads nothing for this long while we have output queued is dropped.
    write_timeout: float = 30.0
    #: On shutdown, answers in flight get this long to finish before they are cancelled.
    shutdown_grace: float = 2.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"Limits.{f.name} must be positive.")


class FramingError(Exception):
    """The byte stream cannot be read as messages any more: answer once, then close."""


class MessageTooLarge(FramingError):
    """A message over the size limit (its bytes are not read)."""


class Writer(Protocol):
    """The part of :class:`asyncio.StreamWriter` the connections use (stdio provides its own)."""

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def is_closing(self) -> bool: ...
    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


# -- JSON-RPC: LSP base protocol --------------------------------------------------------------


def encode_frame(body: bytes) -> bytes:
    """One message as it goes on the wire: ``Content-Length`` header, blank line, body."""
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


async def read_frame(reader: asyncio.StreamReader, limits: Limits) -> bytes | None:
    """Read one framed body; ``None`` at a clean end of stream between messages.

    Headers are ``Name: value`` lines ended by ``\\r\\n`` (a bare ``\\n`` is tolerated) and a blank
    line. ``Content-Length`` is required; ``Content-Type`` and unknown headers are ignored. A line
    that is not a header (an HTTP request line, say) is an error, which also keeps browsers out.
    """
    length = await _read_headers(reader, limits)
    if length is None:
        return None
    if length > limits.max_message_bytes:
        raise MessageTooLarge(f"The message is larger than {limits.max_message_bytes} bytes.")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FramingError("The connection closed inside a message.") from None


async def _read_headers(reader: asyncio.StreamReader, limits: Limits) -> int | None:
    """The header block's ``Content-Length``; ``None`` at end of stream before its first byte."""
    too_large = f"The header block is larger than {limits.max_header_bytes} bytes."
    length: int | None = None
    total = 0
    while True:
        line = await _header_line(reader, first=total == 0, too_large=too_large)
        if line is None:
            return None
        total += len(line)
        if total > limits.max_header_bytes:
            raise FramingError(too_large)
        text = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if not text:
            break
        length = _content_length(text, length)
    if length is None:
        raise FramingError("The Content-Length header is missing.")
    return length


async def _header_line(reader: asyncio.StreamReader, *, first: bool,
                       too_large: str) -> bytes | None:
    """One header line with its line end; ``None`` at end of stream before the first line."""
    start = b""
    if first:  # a bare JSON body gets its error at once, not after a newline or a timeout
        try:
            start = await reader.readexactly(1)
        except asyncio.IncompleteReadError:
            return None
        if start in (b"{", b"["):
            raise FramingError(_NO_HEADER)
    try:
        return start if start == b"\n" else start + await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        raise FramingError("The connection closed inside a header.") from None
    except asyncio.LimitOverrunError:
        raise FramingError(too_large) from None


def _content_length(line: bytes, length: int | None) -> int | None:
    """Read one header line: the ``Content-Length`` it gives, else ``length`` (the one so far)."""
    name, sep, value = line.partition(b":")
    name = name.strip()
    if not sep or not _HEADER_NAME.fullmatch(name):
        raise FramingError("A header line is not of the form 'Name: value'.")
    if name.lower() != b"content-length":
        return length
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        raise FramingError("Content-Length is not a whole number of bytes.")
    if length is not None and int(value) != length:
        raise FramingError("Two different Content-Length headers.")
    return int(value)


# -- legacy: raw text, one message per pause ---------------------------------------------------


def ends_inside_utf8_char(data: bytes | bytearray) -> bool:
    """Whether ``data`` stops part-way through a multi-byte UTF-8 character (so more is coming)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        if byte >= 0xF0:
            need = 4
        elif byte >= 0xE0:
            need = 3
        elif byte >= 0xC0:
            need = 2
        else:
            need = 1
        return need > back
    return False


async def read_legacy_message(reader: asyncio.StreamReader, limits: Limits) -> bytes | None:
    """Read one legacy message: what is there now, plus whatever follows without a pause.

    The old wire has no framing: a client writes a question and waits. A long question can arrive
    in several pieces, so after the first piece we keep reading while more bytes come within
    ``limits.legacy_quiet`` (longer when the bytes so far end inside a UTF-8 character). Returns
    ``None`` at end of stream before any byte; raises :class:`MessageTooLarge` over the cap.
    """
    first = await reader.read(READ_CHUNK)
    if not first:
        return None
    buffer = bytearray(first)
    while True:
        if len(buffer) > limits.max_legacy_bytes:
            raise MessageTooLarge(f"The message is larger than {limits.max_legacy_bytes} bytes.")
        wait = limits.legacy_partial_wait if ends_inside_utf8_char(buffer) else limits.legacy_quiet
        try:
            more = await asyncio.wait_for(reader.read(READ_CHUNK), wait)
        except asyncio.TimeoutError:
            break
        if not more:  # the client closed after its message: answer it anyway
            break
        buffer += more
    return bytes(buffer)


# -- waiting for input without getting stuck ----------------------------------------------------


class Stopped(Exception):
    """The server is shutting down: stop reading."""


class IdleTimeout(Exception):
    """Nothing happened on the connection for ``Limits.idle_timeout`` seconds."""


async def next_input(
    read: asyncio.Future[Any],
    stop: asyncio.Future[None],
    idle_timeout: float | None,
    busy: Callable[[], bool] | None = None,
) -> Any:
    """Await ``read`` unless the server stops or the connection idles, whichever comes first.

    ``stop`` is the server's shutdown future (never resolved here). ``busy`` says whether work is
    in flight: a busy connection is never idle, and the same ``read`` keeps going, so a message
    half-read when the timer fires is not lost. On :class:`Stopped` or :class:`IdleTimeout`, or if
    the caller is cancelled, the read is cancelled.
    """
    try:
        while True:
            done, _ = await asyncio.wait(
                {read, stop}, timeout=idle_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if read in done:
                return read.result()
            if stop in done:
                raise Stopped
            if busy is None or not busy():
                raise IdleTimeout
    except BaseException:
        read.cancel()
        await asyncio.gather(read, return_exceptions=True)
        raise


async def close_writer(writer: Writer, timeout: float = 1.0) -> None:
    """Close a connection; abort it if queued output cannot be flushed within ``timeout``."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout)
    except (asyncio.TimeoutError, OSError, RuntimeError):
        transport = getattr(writer, "transport", None)
        if transport is not None:
            transport.abort()


# -- texts both wires send -----------------------------------------------------------------------

NO_ANSWER = (
    "I could not find an answer to that in the Azure SDK READMEs. Try rephrasing the question, "
    "or name the language (for example `/python` or `/dotnet`)."
)
BUSY = "The azsdk-rag server is busy (too many connections); try again in a moment."
INTERNAL_ERROR = "Internal error: the server could not answer; its log has the details."


def one_line(text: str, limit: int = 500) -> str:
    """A message squeezed onto one line and cut to ``limit`` characters, for error replies."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def log_failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    """Log an unexpected failure by type and place only.

    An exception's message may quote a request, an endpoint or a key, so it is never logged: the
    type and the frames (file, line, function, source line) are enough to find the bug.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    log.error("%s failed: %s%s", what, type(exc).__name__, where)
    if log.isEnabledFor(logging.DEBUG) and frames:
        log.debug("%s traceback (message withheld):\n%s", what, "".join(frames.format()))
