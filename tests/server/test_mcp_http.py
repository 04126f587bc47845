"""``azsdk-rag mcp --http``: the token rule of ``serve``, on streamable HTTP at /mcp."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

from azsdk_rag.errors import ConfigError
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.server.mcp import RagHolder
from azsdk_rag.server.mcp_http import UNAUTHORIZED
from azsdk_rag.server.mcp_serve import bind, check_mcp_settings, serve_http
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import assert_one_sentence, sample_rag

TOKEN = "a-long-random-test-token-0123456789"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def rag(sample_index: Store, settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    with sample_rag(sample_index, settings_factory) as r:
        yield r


@asynccontextmanager
async def serving(rag: AzureSdkRag, settings: Settings,
                  host: str = "127.0.0.1") -> AsyncIterator[str]:
    urls: list[str] = []
    stop = asyncio.Event()
    task = asyncio.ensure_future(serve_http(RagHolder(lambda: rag), settings, host, 0,
                                            ready=urls.append, stop=stop))
    try:
        while not urls:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.02)
        yield urls[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def list_tools(url: str, headers: dict[str, str] | None = None) -> list[str]:
    async with streamablehttp_client(url, headers=headers) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        return sorted(t.name for t in (await session.list_tools()).tools)


async def test_without_a_token_loopback_clients_need_none(rag: AzureSdkRag,
                                                          settings_factory: Any) -> None:
    async with serving(rag, settings_factory()) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        assert len(await list_tools(url)) == 4


async def test_with_a_token_every_request_must_carry_it(
        rag: AzureSdkRag, settings_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[int] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with serving(rag, settings_factory(token=TOKEN)) as url, httpx.AsyncClient() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}):
            reply = await http.post(url, json=INIT, headers={**HEADERS, **headers})
            assert reply.status_code == 401, headers
            assert reply.json() == {"error": UNAUTHORIZED}
            assert reply.headers["www-authenticate"].startswith("Bearer")
            assert TOKEN not in reply.text
        assert_one_sentence(UNAUTHORIZED)
        assert len(await list_tools(url, {"Authorization": f"Bearer {TOKEN}"})) == 4
    assert len(compared) >= 5


async def test_off_loopback_with_a_token_serves(rag: AzureSdkRag, settings_factory: Any) -> None:
    async with serving(rag, settings_factory(token=TOKEN), host="0.0.0.0") as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        local = f"http://127.0.0.1:{port}/mcp"
        async with httpx.AsyncClient() as http:
            assert (await http.post(local, json=INIT, headers=HEADERS)).status_code == 401
        assert len(await list_tools(local, {"Authorization": f"Bearer {TOKEN}"})) == 4


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_off_loopback_needs_a_token(host: str, settings_factory: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        check_mcp_settings(settings_factory(), host)
    assert_one_sentence(str(caught.value))
    check_mcp_settings(settings_factory(token=TOKEN), host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_token(host: str, settings_factory: Any) -> None:
    check_mcp_settings(settings_factory(), host)


def test_a_port_in_use_is_one_sentence() -> None:
    taken = bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            bind("127.0.0.1", port)
        assert str(caught.value) == (f"The MCP address 127.0.0.1:{port} is in use; choose "
                                     "another with --host/--port.")
    finally:
        taken.close()
