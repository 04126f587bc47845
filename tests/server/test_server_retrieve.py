"""JSON-RPC ``retrieve`` and the ``hint`` parameter (on ``ask`` too), over the scripted RAG."""

from __future__ import annotations

import pytest

from azsdk_rag.server import Server
from azsdk_rag.types import Hint
from support.fake_rag import (
    CRASH_QUESTION,
    ERROR_MESSAGE,
    ERROR_QUESTION,
    HANG_QUESTION,
    RETRIEVE_SYSTEM,
    SECRET,
    FakeRag,
)
from support.socket_clients import rpc_client, wait_until


async def test_retrieve_returns_route_sources_context_and_messages(server: Server) -> None:
    async with rpc_client(server) as client:
        reply, notes = await client.call("retrieve", {"question": "list blobs in Rust"})
    assert notes == []  # no streaming: one result
    result = reply["result"]
    assert set(result) == {"route", "sources", "context", "messages"}
    assert result["route"]["languages"] == ["rust"]
    assert [s["package"] for s in result["sources"]] == ["azure-fake-rust"]
    assert "azure-fake-rust" in result["context"]
    assert result["messages"][0] == {"role": "system", "content": RETRIEVE_SYSTEM}
    assert result["messages"][-1]["role"] == "user"
    assert result["messages"][-1]["content"].endswith("Question: list blobs in Rust")


async def test_retrieve_uses_the_sessions_history_of_earlier_asks(server: Server) -> None:
    async with rpc_client(server) as client:
        await client.call("ask", {"question": "upload in python", "sessionId": "a"})
        reply, _ = await client.call("retrieve", {"question": "and download?", "sessionId": "a"})
        other, _ = await client.call("retrieve", {"question": "and download?"})
    messages = reply["result"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "upload in python"
    assert messages[2]["content"] == "Answer 1 to: upload in python"
    assert [m["role"] for m in other["result"]["messages"]] == ["system", "user"]


async def test_retrieve_forces_a_language_like_ask(server: Server, rag: FakeRag) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call("retrieve", {"question": "list blobs", "language": "C#"})
    assert reply["result"]["route"]["languages"] == ["dotnet"]
    assert rag.calls[-1].method == "retrieve" and rag.calls[-1].language == "dotnet"


@pytest.mark.parametrize("method", ["ask", "retrieve"])
async def test_the_hint_is_passed_through_to_the_rag(
        server: Server, rag: FakeRag, method: str) -> None:
    hint = {"languageId": "typescriptreact", "manifests": ["package.json", " tsconfig.json "]}
    async with rpc_client(server) as client:
        reply, _ = await client.call(method, {"question": "upload a blob", "hint": hint})
        assert "result" in reply
        await client.call(method, {"question": "upload a blob", "hint": {}})
        await client.call(method, {"question": "upload a blob"})
    assert [c.hint for c in rag.calls] == [
        Hint("typescriptreact", ("package.json", "tsconfig.json")), None, None]


@pytest.mark.parametrize(("hint", "message"), [
    ("python", "'hint' must be an object."),
    ({"languageId": 3}, "'languageId' must be a string."),
    ({"languageId": "x" * 65}, "'languageId' is longer than 64 characters."),
    ({"manifests": "Cargo.toml"}, "'hint.manifests' must be an array of strings."),
    ({"manifests": [1]}, "'hint.manifests' must be an array of strings."),
    ({"manifests": ["a"] * 65}, "'hint.manifests' has more than 64 items."),
    ({"manifests": ["a" * 261]}, "'hint.manifests' is longer than 260 characters."),
])
@pytest.mark.parametrize("method", ["ask", "retrieve"])
async def test_a_bad_hint_is_invalid_params(
        server: Server, rag: FakeRag, method: str, hint: object, message: str) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call(method, {"question": "upload a blob", "hint": hint})
        assert reply["error"] == {"code": -32602, "message": message}
        ok, _ = await client.call(method, {"question": "upload a blob"})
        assert "result" in ok
    assert len(rag.calls) == 1


@pytest.mark.parametrize(("params", "code"), [
    ({}, -32602),
    ({"question": "   "}, -32602),
    ({"question": "x" * 16_001}, -32602),
    ({"question": "upload", "language": "cobol"}, -32602),
    ({"question": ERROR_QUESTION}, -32001),
])
async def test_retrieve_errors_like_ask(server: Server, params: dict, code: int) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call("retrieve", params)
    assert reply["error"]["code"] == code
    if code == -32001:
        assert reply["error"]["message"] == ERROR_MESSAGE


async def test_an_unexpected_failure_never_shows_its_message(server: Server) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call("retrieve", {"question": CRASH_QUESTION})
    assert reply["error"]["code"] == -32603
    assert SECRET not in str(reply)


async def test_retrieve_can_be_cancelled_and_does_not_block_others(
        server: Server, rag: FakeRag) -> None:
    async with rpc_client(server) as client:
        hang = await client.request("retrieve", {"question": HANG_QUESTION})
        await wait_until(lambda: any(c.question == HANG_QUESTION for c in rag.calls))
        reply, _ = await client.call("retrieve", {"question": "python blobs"})
        assert "result" in reply  # the hanging retrieve runs in a task of its own
        await client.notify("$/cancelRequest", {"id": hang})
        cancelled, _ = await client.response(hang)
    assert cancelled["error"]["code"] == -32800
