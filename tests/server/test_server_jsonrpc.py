"""JSON-RPC 2.0 over LSP framing on TCP: methods, streaming, cancellation, sessions, bad input."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from azsdk_rag.languages import language_ids
from azsdk_rag.server import Limits, Server
from azsdk_rag.server.framing import NO_ANSWER
from support.fake_rag import (
    CRASH_QUESTION,
    EMPTY_QUESTION,
    ERROR_MESSAGE,
    ERROR_QUESTION,
    HANG_QUESTION,
    SECRET,
    FakeRag,
)
from support.socket_clients import (
    FAST,
    RpcClient,
    first_delta,
    frame,
    rpc_client,
    running,
    wait_until,
)
from support.virtual_clock import virtual_clock

# -- initialize ----------------------------------------------------------------------------------


async def test_initialize_reports_protocol_server_and_capabilities(server: Server) -> None:
    async with rpc_client(server, initialize=False) as client:
        result = await client.initialize(protocolVersion="1", clientInfo={"name": "test"})
    assert result["protocolVersion"] == "1"
    assert result["serverInfo"]["name"] == "azsdk-rag"
    assert isinstance(result["serverInfo"]["version"], str)
    assert result["capabilities"] == {
        "streaming": True,
        "cancel": True,
        "languages": list(language_ids()),
    }


async def test_requests_before_initialize_get_server_not_initialized(
    server: Server, rag: FakeRag
) -> None:
    async with rpc_client(server, initialize=False) as client:
        await client.notify("$/cancelRequest", {"id": 0})  # dropped, no reply
        for method in ("ask", "status", "session/reset", "shutdown"):
            reply, notes = await client.call(method, {"question": "python?"})
            assert reply["error"]["code"] == -32002, method
            assert notes == []
        await client.initialize()
        reply, _ = await client.call("initialize", {})
        assert reply["error"]["code"] == -32600  # only once
    assert rag.calls == []


@pytest.mark.parametrize("version", ["2", 2, True, "1.0"])
async def test_an_unknown_protocol_version_is_refused(server: Server, version: Any) -> None:
    async with rpc_client(server, initialize=False) as client:
        reply, _ = await client.call("initialize", {"protocolVersion": version})
        assert reply["error"]["code"] == -32602
        message = reply["error"]["message"]
        assert f'protocolVersion {json.dumps(version)}:' in message
        assert 'speaks protocol version "1" (send the string "1"' in message


@pytest.mark.parametrize("version", ["1", 1])
async def test_protocol_version_1_as_a_string_or_a_number_is_accepted(
    server: Server, version: Any
) -> None:
    """Issue 14.5: the number 1 was refused with "this server speaks '1'"."""
    async with rpc_client(server, initialize=False) as client:
        result = await client.initialize(protocolVersion=version)
        assert result["protocolVersion"] == "1"


# -- ask -----------------------------------------------------------------------------------------


async def test_ask_streams_route_sources_deltas_then_the_whole_answer(server: Server) -> None:
    question = "How do I list blobs in Python and Rust?"
    async with rpc_client(server) as client:
        reply, notes = await client.call("ask", {"question": question})
    request_id = reply["id"]
    methods = [n["method"] for n in notes]
    assert methods == ["answer/route", "answer/sources", *["answer/delta"] * 3]
    assert all(n["params"]["requestId"] == request_id for n in notes)
    assert all(n["jsonrpc"] == "2.0" and "id" not in n for n in notes)
    route = notes[0]["params"]["route"]
    assert route["languages"] == ["python", "rust"]
    assert [s["language"] for s in notes[1]["params"]["sources"]] == ["python", "rust"]
    text = "".join(n["params"]["text"] for n in notes[2:])
    assert text == f"Answer 1 to: {question}"
    assert reply["result"] == {
        "text": text,
        "route": route,
        "sources": notes[1]["params"]["sources"],
    }


async def test_a_language_is_resolved_and_passed_on(server: Server, rag: FakeRag) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call("ask", {"question": "upload a blob", "language": "C#"})
    assert rag.calls[0].language == "dotnet"
    assert reply["result"]["route"]["languages"] == ["dotnet"]


async def test_an_empty_answer_becomes_a_helpful_text(server: Server) -> None:
    async with rpc_client(server) as client:
        reply, notes = await client.call("ask", {"question": EMPTY_QUESTION})
    assert reply["result"]["text"] == NO_ANSWER
    assert notes[-1]["params"]["text"] == NO_ANSWER


async def test_sessions_are_separate_per_id_and_per_connection(
    server: Server, rag: FakeRag
) -> None:
    async def text(client: RpcClient, **params: Any) -> str:
        reply, _ = await client.call("ask", {"question": "q", **params})
        return reply["result"]["text"]

    async with rpc_client(server) as one, rpc_client(server) as two:
        assert await text(one) == "Answer 1 to: q"
        assert await text(one) == "Answer 2 to: q"
        assert await text(one, sessionId="other") == "Answer 1 to: q"
        assert await text(two, sessionId="other") == "Answer 1 to: q"  # not the same "other"
        assert await text(two) == "Answer 1 to: q"
        reply, _ = await one.call("session/reset", {"sessionId": "other"})
        assert reply == {"jsonrpc": "2.0", "id": reply["id"], "result": None}
        assert await text(one, sessionId="other") == "Answer 1 to: q"
        await one.call("session/reset", {})  # the default session
        assert await text(one) == "Answer 1 to: q"
        assert len({c.session_id for c in rag.calls}) == 4
    await wait_until(lambda: server.connections == 0)
    assert rag.history == {}  # a closed connection's sessions are forgotten


async def test_status_returns_the_rags_status(server: Server, rag: FakeRag) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call("status")
    assert reply["result"] == rag.status()


async def test_whatever_the_rag_returns_goes_out_as_strict_json(
    server: Server, rag: FakeRag, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = {"nan": float("nan"), "inf": [float("-inf"), 1.5], "path": Path("/data/qdrant")}
    monkeypatch.setattr(rag, "status", lambda: odd)
    async with rpc_client(server) as client:
        reply, _ = await client.call("status")  # the client's parser rejects NaN / Infinity
    assert reply["result"] == {"nan": None, "inf": [None, 1.5], "path": "/data/qdrant"}


@virtual_clock  # the fake's delays are loop time: the 50 answers overlap on any machine
async def test_fifty_clients_at_once_each_get_their_own_answer() -> None:
    rag = FakeRag(deltas=4, delay=0.005)
    async with running(rag) as server:

        async def one(i: int) -> None:
            async with rpc_client(server) as client:
                question = f"question number {i} about java"
                reply, notes = await client.call("ask", {"question": question})
                expected = f"Answer 1 to: {question}"
                assert reply["result"]["text"] == expected
                deltas = [n["params"]["text"] for n in notes if n["method"] == "answer/delta"]
                assert "".join(deltas) == expected
                assert {n["params"]["requestId"] for n in notes} == {reply["id"]}

        await asyncio.gather(*(one(i) for i in range(50)))
    assert len(rag.calls) == 50
    assert rag.max_active > 1  # answered side by side, not one after another


# -- concurrency and cancellation ------------------------------------------------------------------


async def test_cancel_mid_stream_ends_the_request_with_32800_and_closes_the_stream(
    server: Server, rag: FakeRag
) -> None:
    async with rpc_client(server) as client:
        ask = await client.request("ask", {"question": HANG_QUESTION})
        await first_delta(client, ask)
        await client.notify("$/cancelRequest", {"id": ask})
        reply, _ = await client.response(ask)
        assert reply["error"]["code"] == -32800
        assert rag.aborted == 1 and rag.active == 0
        # the connection goes on
        reply, _ = await client.call("ask", {"question": "python?"})
        assert reply["result"]["text"] == "Answer 1 to: python?"


async def test_an_ask_in_flight_does_not_block_status(server: Server, rag: FakeRag) -> None:
    async with rpc_client(server) as client:
        ask = await client.request("ask", {"question": HANG_QUESTION})
        await first_delta(client, ask)
        reply, _ = await client.call("status")
        assert reply["result"]["backend"] == "fake"
        await client.notify("$/cancelRequest", {"id": ask})
        reply, _ = await client.response(ask)
        assert reply["error"]["code"] == -32800


async def test_cancelling_an_unknown_or_finished_request_is_harmless(server: Server) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call("ask", {"question": "q"})
        await client.notify("$/cancelRequest", {"id": reply["id"]})
        await client.notify("$/cancelRequest", {"id": "nope"})
        await client.notify("$/cancelRequest", {})
        reply, _ = await client.call("status")
        assert "result" in reply


async def test_a_duplicate_id_in_flight_is_refused(server: Server) -> None:
    async with rpc_client(server) as client:
        await client.send(
            {"jsonrpc": "2.0", "id": "a", "method": "ask", "params": {"question": HANG_QUESTION}}
        )
        await first_delta(client, "a")  # type: ignore[arg-type]
        await client.send({"jsonrpc": "2.0", "id": "a", "method": "status"})
        reply, _ = await client.response("a")
        assert reply["error"]["code"] == -32600
        await client.notify("$/cancelRequest", {"id": "a"})
        reply, _ = await client.response("a")
        assert reply["error"]["code"] == -32800


async def test_too_many_requests_in_flight_are_refused(rag: FakeRag) -> None:
    limits = Limits(max_requests_per_connection=2)
    async with running(rag, limits) as server, rpc_client(server) as client:
        first = await client.request("ask", {"question": HANG_QUESTION})
        second = await client.request("ask", {"question": HANG_QUESTION})
        reply, _ = await client.call("ask", {"question": "q"})
        assert reply["error"]["code"] == -32000
        for request_id in (first, second):
            await client.notify("$/cancelRequest", {"id": request_id})
            reply, _ = await client.response(request_id)
            assert reply["error"]["code"] == -32800


async def test_a_client_that_resets_mid_answer_closes_the_stream(
    server: Server, rag: FakeRag
) -> None:
    client = await RpcClient.connect(server)
    await client.initialize()
    ask = await client.request("ask", {"question": HANG_QUESTION})
    await first_delta(client, ask)
    sock = client.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.writer.transport.abort()  # linger 0: a reset, the client is gone for sure
    await wait_until(lambda: rag.active == 0 and server.connections == 0)
    assert rag.aborted == 1
    async with rpc_client(server) as other:  # everyone else is still served
        reply, _ = await other.call("ask", {"question": "q"})
        assert reply["result"]["text"] == "Answer 1 to: q"


@virtual_clock
async def test_a_client_that_closes_mid_answer_stops_it_at_the_next_write() -> None:
    """A closed connection reads as end of input, like a half-closed one (whose answers are
    finished): the next write finds the client gone and closes the stream."""
    rag = FakeRag(answer="x" * 400, deltas=200, delay=0.05)
    async with running(rag) as server:
        client = await RpcClient.connect(server)
        await client.initialize()
        ask = await client.request("ask", {"question": "q"})
        await first_delta(client, ask)
        client.writer.transport.abort()
        await wait_until(lambda: rag.active == 0 and server.connections == 0)
        assert rag.aborted == 1
        assert asyncio.get_running_loop().time() < 200 * 0.05 / 4  # long before its end


# -- shutdown and exit -------------------------------------------------------------------------


async def test_shutdown_then_exit(server: Server, rag: FakeRag) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call("shutdown")
        assert reply["result"] is None and "error" not in reply
        reply, _ = await client.call("ask", {"question": "q"})
        assert reply["error"]["code"] == -32600
        await client.notify("exit")
        assert await client.closed()
    assert rag.calls == []


async def test_exit_with_an_answer_in_flight_closes_its_stream(
    server: Server, rag: FakeRag
) -> None:
    async with rpc_client(server) as client:
        ask = await client.request("ask", {"question": HANG_QUESTION})
        await first_delta(client, ask)
        await client.notify("exit")
        assert await client.closed()
    await wait_until(lambda: rag.active == 0)
    assert rag.aborted == 1


# -- errors --------------------------------------------------------------------------------------


async def test_a_rag_error_is_a_server_error_with_its_message(server: Server) -> None:
    async with rpc_client(server) as client:
        reply, notes = await client.call("ask", {"question": ERROR_QUESTION})
    assert reply["error"] == {
        "code": -32001,
        "message": ERROR_MESSAGE,
        "data": {"type": "ModelError"},
    }
    assert [n["method"] for n in notes] == ["answer/route"]


async def test_an_unexpected_failure_is_internal_and_leaks_nothing(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with rpc_client(server) as client:
        reply, _ = await client.call("ask", {"question": CRASH_QUESTION})
        assert reply["error"]["code"] == -32603
        assert SECRET not in json.dumps(reply)
        reply, _ = await client.call("ask", {"question": "q"})  # still serving
        assert "result" in reply
    assert SECRET not in caplog.text
    assert "RuntimeError" in caplog.text


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"question": 42},
        {"question": ""},
        {"question": "   \n"},
        {"question": "x" * (FAST.max_question_chars + 1)},
        {"question": "q", "sessionId": 5},
        {"question": "q", "language": "cobol"},
        {"question": "q", "language": ["python"]},
        {"question": "\ud800 lone surrogate"},
        ["q"],
    ],
)
async def test_bad_ask_params_are_invalid_params(
    server: Server, rag: FakeRag, params: dict[str, Any]
) -> None:
    async with rpc_client(server) as client:
        reply, notes = await client.call("ask", params)
    assert reply["error"]["code"] == -32602, reply
    assert notes == []
    assert rag.calls == []


# Each is one whole, correctly framed message: the server answers and the connection lives on.
BAD_MESSAGES = [
    pytest.param(b"{not json", -32700, None, id="invalid-json"),
    pytest.param(b"\xff\xfe{}", -32700, None, id="not-utf8"),
    pytest.param(b"[" * 100_000, -32700, None, id="deeply-nested"),
    pytest.param(b'[{"jsonrpc":"2.0","id":1,"method":"status"}]', -32600, None, id="batch"),
    pytest.param(b"42", -32600, None, id="not-an-object"),
    pytest.param(b'{"id":1,"method":"status"}', -32600, 1, id="no-jsonrpc"),
    pytest.param(b'{"jsonrpc":"2.0","id":2,"method":7}', -32600, 2, id="method-not-string"),
    pytest.param(b'{"jsonrpc":"2.0","id":3}', -32600, 3, id="no-method"),
    pytest.param(b'{"jsonrpc":"2.0","id":true,"method":"status"}', -32600, None, id="bad-id"),
    pytest.param(b'{"jsonrpc":"2.0","id":1e400,"method":"status"}', -32600, None, id="inf-id"),
    pytest.param(b'{"jsonrpc":"2.0","id":{},"method":"status"}', -32600, None, id="object-id"),
    pytest.param(b'{"jsonrpc":"2.0","id":4,"method":"ask","params":"q"}', -32600, 4, id="params"),
    pytest.param(b'{"jsonrpc":"2.0","id":5,"method":"nope"}', -32601, 5, id="unknown-method"),
    pytest.param(b'{"jsonrpc":"2.0","id":6,"method":"$/nope"}', -32601, 6, id="unknown-$"),
]


@pytest.mark.parametrize(("body", "code", "reply_id"), BAD_MESSAGES)
async def test_a_bad_message_gets_an_error_and_the_connection_lives_on(
    server: Server, body: bytes, code: int, reply_id: Any
) -> None:
    async with rpc_client(server) as client:
        await client.send_raw(b"Content-Length: %d\r\n\r\n%b" % (len(body), body))
        reply = await client.read()
        assert reply is not None
        assert reply["error"]["code"] == code
        assert reply["id"] == reply_id
        reply, _ = await client.call("ask", {"question": "q"})
        assert reply["result"]["text"] == "Answer 1 to: q"


async def test_unknown_notifications_and_responses_are_ignored(server: Server) -> None:
    async with rpc_client(server) as client:
        await client.notify("initialized", {})
        await client.notify("$/setTrace", {"value": "off"})
        await client.notify("ask", {"question": "q"})  # a notification gets no reply
        await client.send({"jsonrpc": "2.0", "id": 99, "result": None})
        reply, notes = await client.call("status")
        assert "result" in reply and notes == []


# Each breaks the framing: the server answers once (when it can), closes, and serves others.
BAD_FRAMES = [
    pytest.param(b"Content-Type: application/json\r\n\r\n{}", -32700, id="no-length"),
    pytest.param(b"Content-Length: abc\r\n\r\n{}", -32700, id="bad-length"),
    pytest.param(b"Content-Length: -2\r\n\r\n{}", -32700, id="negative-length"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", -32700, id="http"),
    pytest.param(b"\x00\xff\xfe garbage\r\n\r\n", -32700, id="binary"),
    pytest.param(b"X-Pad: " + b"a" * 20_000 + b"\r\n\r\n", -32700, id="huge-header"),
    pytest.param(b"Content-Length: 99999999\r\n\r\n", -32600, id="too-large"),
    pytest.param(b"Content-Length: 50\r\n\r\n{}", None, id="truncated"),
]


@pytest.mark.parametrize(("data", "code"), BAD_FRAMES)
async def test_a_broken_frame_gets_an_error_and_a_clean_close(
    server: Server, rag: FakeRag, data: bytes, code: int | None
) -> None:
    client = await RpcClient.connect(server)
    try:
        await client.send_raw(data)
        if code is None:
            client.writer.write_eof()  # the client leaves mid-message
        else:
            reply = await client.read()
            assert reply is not None
            assert reply["error"]["code"] == code
            assert reply["id"] is None
        assert await client.closed()
    finally:
        await client.close()
    async with rpc_client(server) as other:
        reply, _ = await other.call("ask", {"question": "q"})
        assert reply["result"]["text"] == "Answer 1 to: q"
    await wait_until(lambda: server.connections == 0)


async def test_a_message_of_exactly_the_limit_is_accepted(rag: FakeRag) -> None:
    limits = Limits(max_message_bytes=300)
    async with running(rag, limits) as server, rpc_client(server) as client:
        message = {"jsonrpc": "2.0", "id": 1, "method": "ask", "params": {"question": ""}}
        base = len(frame(message)) - len(b"Content-Length: 00\r\n\r\n")
        message["params"]["question"] = "q" * (300 - base)
        await client.send(message)
        reply, _ = await client.response(1)
        assert "result" in reply
        message["params"]["question"] += "q"
        message["id"] = 2
        await client.send(message)
        reply = await client.read()
        assert reply is not None and reply["error"]["code"] == -32600
        assert await client.closed()
