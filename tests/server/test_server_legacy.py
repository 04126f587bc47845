"""The legacy raw-text wire, driven like the old VS Code extension drove it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from azsdk_rag.server import Limits
from azsdk_rag.server.framing import NO_ANSWER
from azsdk_rag.server.legacy import EMPTY_QUESTION as EMPTY_QUESTION_HELP
from support.fake_rag import (
    CRASH_QUESTION,
    EMPTY_QUESTION,
    ERROR_MESSAGE,
    ERROR_QUESTION,
    SECRET,
    FakeRag,
)
from support.socket_clients import FAST, OldExtensionClient, in_thread, running, wait_until
from support.virtual_clock import virtual_clock


async def test_the_old_extension_gets_each_whole_answer_in_one_nonempty_chunk() -> None:
    long = "## Uploading a blob\n\n" + "Use `BlobClient.upload_blob`. " * 150  # ~4.5 kB, 20 deltas
    rag = FakeRag(answer=lambda q, turn: f"{long}\n\n(turn {turn}: {q})", deltas=20)
    async with running(rag, Limits()) as server:  # the real quiet window
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            for turn in (1, 2, 3):
                question = f"How do I upload a blob in Python? #{turn}"
                reply = await in_thread(client.ask, question)
                assert reply, "an empty reply hangs the old extension"
                assert reply.decode() == f"{long}\n\n(turn {turn}: {question})"
        finally:
            client.close()
    asked = [f"How do I upload a blob in Python? #{turn}" for turn in (1, 2, 3)]
    assert [c.question for c in rag.calls] == asked
    assert rag.aborted == 0  # each answer's stream was drained to its end


@pytest.mark.parametrize("word", ["exit", "end", " EXIT\n", "End\r\n", "\teNd  "])
async def test_exit_or_end_gets_endchat_and_closes_the_chat(rag: FakeRag, word: str) -> None:
    async with running(rag) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            assert await in_thread(client.ask, word) == b"endchat"
            assert await in_thread(client.recv) == b""  # closed
        finally:
            client.close()
    assert rag.calls == []


async def test_a_message_longer_than_1024_bytes_is_one_question(rag: FakeRag) -> None:
    question = "How do I configure retries for the Python storage client? " * 40  # 2.4 kB
    async with running(rag, Limits()) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            reply = await in_thread(client.ask, question)
        finally:
            client.close()
    assert len(rag.calls) == 1
    assert rag.calls[0].question == question.strip()
    assert reply.decode() == f"Answer 1 to: {question.strip()}"


@virtual_clock  # the pause is loop time: longer than the quiet window, shorter than the wait
async def test_a_question_written_in_pieces_is_one_question(rag: FakeRag) -> None:
    question = "é" * 700 + " in Rust?"  # cut inside a character, then a pause longer than quiet
    data = question.encode()
    async with running(rag) as server:
        reader, writer = await asyncio.open_connection(*server.addresses["legacy"])
        writer.write(data[:1001])
        await writer.drain()
        await asyncio.sleep((FAST.legacy_quiet + FAST.legacy_partial_wait) / 2)
        writer.write(data[1001:])
        reply = await asyncio.wait_for(reader.read(1 << 20), 5)
        writer.close()
    assert [c.question for c in rag.calls] == [question]
    assert reply.decode() == f"Answer 1 to: {question}"


@pytest.mark.parametrize("message", ["   ", "\n", "\r\n\t "])
async def test_an_empty_message_gets_help_not_silence(rag: FakeRag, message: str) -> None:
    async with running(rag) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            assert (await in_thread(client.ask, message)).decode() == EMPTY_QUESTION_HELP
            # and the chat goes on
            assert (await in_thread(client.ask, "python?")).decode() == "Answer 1 to: python?"
        finally:
            client.close()
    assert [c.question for c in rag.calls] == ["python?"]


async def test_an_empty_answer_is_replaced_by_a_helpful_text(rag: FakeRag) -> None:
    async with running(rag) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            assert (await in_thread(client.ask, EMPTY_QUESTION)).decode() == NO_ANSWER
        finally:
            client.close()


async def test_a_question_naming_two_languages_is_answered(rag: FakeRag) -> None:
    question = "How do I authenticate with DefaultAzureCredential in Python and in Java?"
    async with running(rag) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            reply = await in_thread(client.ask, question)
        finally:
            client.close()
    assert reply.decode() == f"Answer 1 to: {question}"
    assert rag.route(question, None).languages == ("java", "python")


async def test_a_rag_error_is_one_markdown_line_and_the_chat_goes_on(rag: FakeRag) -> None:
    async with running(rag) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            reply = (await in_thread(client.ask, ERROR_QUESTION)).decode()
            assert reply == f"**Error:** {ERROR_MESSAGE}"
            assert (await in_thread(client.ask, "rust?")).decode() == "Answer 1 to: rust?"
        finally:
            client.close()


async def test_an_unexpected_failure_is_generic_and_leaks_nothing(
    rag: FakeRag, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(rag) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            reply = (await in_thread(client.ask, CRASH_QUESTION)).decode()
        finally:
            client.close()
    assert reply.startswith("**Error:** Internal error")
    assert "\n" not in reply
    assert SECRET not in reply
    assert SECRET not in caplog.text
    assert "RuntimeError" in caplog.text  # but the log says what failed


async def test_bytes_that_are_not_utf8_get_an_error_line(rag: FakeRag) -> None:
    async with running(rag) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            reply = (await in_thread(client.ask, b"\xff\xfe caf\xe9")).decode()
            assert reply == "**Error:** The message is not UTF-8 text."
            assert (await in_thread(client.ask, "java?")).decode() == "Answer 1 to: java?"
        finally:
            client.close()
    assert [c.question for c in rag.calls] == ["java?"]


async def test_a_message_over_the_cap_gets_an_error_then_the_chat_closes(rag: FakeRag) -> None:
    limits = Limits(max_legacy_bytes=2048, legacy_quiet=0.02)
    async with running(rag, limits) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            reply = (await in_thread(client.ask, "x" * 5000)).decode()
            assert reply.startswith("**Error:** The message is larger than 2048 bytes.")
            assert await in_thread(client.recv) == b""
        finally:
            client.close()
    assert rag.calls == []


async def test_an_http_request_is_closed_without_an_answer(rag: FakeRag) -> None:
    async with running(rag) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            request = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello"
            assert await in_thread(client.ask, request) == b""
        finally:
            client.close()
    assert rag.calls == []


async def test_each_connection_is_its_own_session_and_is_forgotten_on_close(rag: FakeRag) -> None:
    async with running(rag) as server:
        first = OldExtensionClient(server.addresses["legacy"])
        second = OldExtensionClient(server.addresses["legacy"])
        try:
            assert (await in_thread(first.ask, "a")).decode() == "Answer 1 to: a"
            assert (await in_thread(first.ask, "b")).decode() == "Answer 2 to: b"
            assert (await in_thread(second.ask, "c")).decode() == "Answer 1 to: c"
            assert await in_thread(first.ask, "exit") == b"endchat"
        finally:
            first.close()
            second.close()
        sessions = {c.session_id for c in rag.calls}
        assert len(sessions) == 2
        await wait_until(lambda: server.connections == 0)
    assert set(rag.resets) == sessions
    assert rag.history == {}


async def test_fifty_old_clients_at_once_each_get_their_own_answer() -> None:
    rag = FakeRag(deltas=3, delay=0.005)
    async with running(rag, FAST) as server:

        async def one(i: int) -> None:
            reader, writer = await asyncio.open_connection(*server.addresses["legacy"])
            try:
                writer.write(f"question {i} about python".encode())
                reply = await asyncio.wait_for(reader.read(1 << 20), 10)
                assert reply.decode() == f"Answer 1 to: question {i} about python"
            finally:
                writer.close()
                await writer.wait_closed()

        await asyncio.gather(*(one(i) for i in range(50)))
    assert len(rag.calls) == 50
