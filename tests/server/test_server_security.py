"""Loopback by default, a token off loopback, constant-time token checks, no secrets in logs."""

from __future__ import annotations

import hmac
import logging
from typing import Any

import pytest

from azsdk_rag.errors import ConfigError
from azsdk_rag.server import Server, is_loopback, serve
from support.fake_rag import FakeRag
from support.socket_clients import OldExtensionClient, in_thread, make_settings, rpc_client, running

TOKEN = "s3cret-token-for-tests-Q7xK2mP9vR4w"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "example.com"])
def test_other_addresses_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize("token", [None, ""])
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
async def test_a_reachable_address_without_a_token_is_refused(host: str, token: str | None) -> None:
    server = Server(FakeRag(), make_settings(host=host, token=token))
    with pytest.raises(ConfigError, match="without a token: set AZSDK_RAG_TOKEN"):
        await server.start()
    assert server.sockets == []


async def test_serve_refuses_before_binding_anything() -> None:
    with pytest.raises(ConfigError):
        await serve(FakeRag(), make_settings(host="0.0.0.0"))


async def test_stdio_binds_nothing_so_the_host_does_not_matter() -> None:
    server = Server(FakeRag(), make_settings(host="0.0.0.0"))
    await server.close()  # constructing and closing is fine; only start() binds


async def test_off_loopback_the_legacy_protocol_listens_on_loopback_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bound: dict[str, tuple[str, int]] = {}

    class FakeListener:
        sockets: tuple[Any, ...] = ()

        def close(self) -> None: ...

        async def wait_closed(self) -> None: ...

    async def listen(host: str, port: int, accept: Any) -> FakeListener:
        kind = "rpc" if accept.__name__ == "_accept_rpc" else "legacy"
        bound[kind] = (host, port)
        return FakeListener()

    monkeypatch.setattr(Server, "_listen", staticmethod(listen))
    server = Server(FakeRag(), make_settings(host="0.0.0.0", token=TOKEN, port=1, rpc_port=2))
    await server.start()
    await server.close()
    assert bound == {"rpc": ("0.0.0.0", 2), "legacy": ("127.0.0.1", 1)}


@pytest.mark.parametrize("params", [{}, {"token": "wrong"}, {"token": 12345}, {"token": ""}])
async def test_a_missing_or_wrong_token_is_refused_and_the_connection_closed(
    params: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rag = FakeRag()
    async with running(rag, token=TOKEN) as server, rpc_client(server, initialize=False) as client:
        reply, _ = await client.call("initialize", params)
        assert reply["error"]["code"] == -32003
        assert TOKEN not in reply["error"]["message"]
        assert await client.closed()
    assert TOKEN not in caplog.text
    assert rag.calls == []


async def test_the_right_token_is_accepted_via_a_constant_time_compare(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with (
        running(FakeRag(), token=TOKEN) as server,
        rpc_client(server, initialize=False) as client,
    ):
        result = await client.initialize(token=TOKEN)
        assert result["protocolVersion"] == "1"
        reply, _ = await client.call("ask", {"question": "q"})
        assert reply["result"]["text"] == "Answer 1 to: q"
    assert compared == [(TOKEN.encode(), TOKEN.encode())]
    assert TOKEN not in caplog.text


async def test_without_a_token_configured_any_token_is_fine() -> None:
    async with running(FakeRag()) as server, rpc_client(server, initialize=False) as client:
        assert (await client.initialize(token="anything"))["protocolVersion"] == "1"


async def test_the_legacy_protocol_on_loopback_needs_no_token() -> None:
    async with running(FakeRag(), token=TOKEN) as server:
        client = OldExtensionClient(server.addresses["legacy"])
        try:
            assert (await in_thread(client.ask, "q")).decode() == "Answer 1 to: q"
        finally:
            client.close()
