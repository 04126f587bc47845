"""The socket adapters over the real AzureSdkRag (extractive model, sample index)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from azsdk_rag.rag import AzureSdkRag
from support.socket_clients import OldExtensionClient, in_thread, rpc_client, running

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_rag(sample_index, settings_factory) -> Iterator[AzureSdkRag]:
    settings = settings_factory(qdrant_path=str(sample_index.settings.qdrant_path))
    rag = AzureSdkRag(settings, store=sample_index)
    yield rag


async def test_jsonrpc_ask_streams_a_grounded_python_answer(real_rag: AzureSdkRag) -> None:
    async with running(real_rag) as server, rpc_client(server) as client:
        reply, notes = await client.call(
            "ask", {"question": "/python upload a file to a blob container"})
        result = reply["result"]
        methods = [n["method"] for n in notes]
        assert methods[0] == "answer/route" and methods[1] == "answer/sources"
        assert set(methods[2:]) == {"answer/delta"}
        deltas = "".join(n["params"]["text"] for n in notes if n["method"] == "answer/delta")
        assert deltas == result["text"]
        assert result["route"]["languages"] == ["python"]
        assert result["sources"][0]["package"] == "azure-storage-blob"
        assert "pip install azure-storage-blob" in result["text"]


async def test_legacy_client_gets_one_nonempty_reply_per_question(real_rag: AzureSdkRag) -> None:
    async with running(real_rag) as server:
        client = await in_thread(OldExtensionClient, server.addresses["legacy"])
        try:
            reply = await in_thread(client.ask, "/rust read a secret from key vault")
            assert reply.strip()
            assert b"azure_security_keyvault_secrets" in reply
            # a question naming two languages gets an answer too, not silence
            reply = await in_thread(client.ask, "compare blob upload in Java and in C#")
            assert b"azure-storage-blob" in reply and b"Azure.Storage.Blobs" in reply
            assert await in_thread(client.ask, "exit") == b"endchat"
        finally:
            await in_thread(client.close)


async def test_follow_up_keeps_the_language_within_a_connection(real_rag: AzureSdkRag) -> None:
    async with running(real_rag) as server, rpc_client(server) as client:
        await client.call("ask", {"question": "send messages to a service bus queue with npm",
                                  "sessionId": "chat"})
        reply, _ = await asyncio.wait_for(
            client.call("ask", {"question": "and how do I receive them?", "sessionId": "chat"}),
            60)
        assert reply["result"]["route"]["languages"] == ["javascript"]
        assert reply["result"]["sources"][0]["package"] == "@azure/service-bus"


async def test_jsonrpc_retrieve_matches_ask_and_carries_the_prompt(real_rag: AzureSdkRag) -> None:
    params = {"question": "/python upload a file to a blob container",
              "hint": {"languageId": "python", "manifests": ["pyproject.toml"]}}
    async with running(real_rag) as server, rpc_client(server) as client:
        retrieved, _ = await client.call("retrieve", params)
        asked, _ = await client.call("ask", params)
    result, answer = retrieved["result"], asked["result"]
    assert result["route"] == answer["route"]
    assert result["sources"] == answer["sources"]
    assert [m["role"] for m in result["messages"]] == ["system", "user"]
    assert result["context"] in result["messages"][-1]["content"]
    assert "azure-storage-blob" in result["context"]
