"""Regression tests for issue 14 (what an attack on the servers broke), items 1, 2, 4, 5 and 8.

Each failed on the code before its fix; docs/reliability.md lists them with the attack and what
the user now sees.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
from typing import Any

import pytest
from click.testing import CliRunner

from azsdk_rag.cli import cli
from azsdk_rag.errors import ConfigError
from azsdk_rag.server import Limits, Server
from azsdk_rag.server.admission import MIN_TOKEN_BITS, Admission, token_bits
from azsdk_rag.server.jsonrpc import JsonRpcConnection, ServerInfo
from support.fake_rag import FakeRag
from support.socket_clients import (
    FAST,
    OldExtensionClient,
    RpcClient,
    frame,
    in_thread,
    make_settings,
    rpc_client,
    running,
    wait_until,
)
from support.virtual_clock import virtual_clock

STRONG = secrets.token_urlsafe(32)

# -- 1. one client's status must not stall everyone ---------------------------------------------


class BlockingStatusRag(FakeRag):
    """``status()`` blocks its thread until ``release`` is set, like a scroll of a big index."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.status_calls = 0
        self.version = 1
        self.in_status = False

    def status(self) -> dict[str, Any]:
        self.status_calls += 1
        self.in_status = True
        self.entered.set()
        # Bounded: on the old code this ran on the event loop, and the test must still end.
        self.release.wait(5)
        self.in_status = False
        return {"backend": "fake", "version": self.version}

    def index_version(self) -> int:
        return self.version


async def test_a_status_in_progress_does_not_stall_another_clients_initialize_and_ask() -> None:
    rag = BlockingStatusRag()
    async with running(rag) as server:
        slow = await RpcClient.connect(server)
        try:
            await slow.initialize()
            status = await slow.request("status")
            await in_thread(rag.entered.wait, 5)
            async with rpc_client(server, initialize=False) as other:
                await other.initialize()
                assert rag.in_status  # answered while the status is still being computed
                reply, _ = await other.call("ask", {"question": "q"})
                assert reply["result"]["text"] == "Answer 1 to: q"
                legacy = OldExtensionClient(server.addresses["legacy"])
                try:
                    assert await in_thread(legacy.ask, "q") == b"Answer 1 to: q"
                finally:
                    legacy.close()
                assert rag.in_status
            rag.release.set()
            reply, _ = await slow.response(status)
            assert reply["result"] == {"backend": "fake", "version": 1}
        finally:
            rag.release.set()
            await slow.close()


@virtual_clock
async def test_pipelined_statuses_are_computed_once_per_index_version() -> None:
    rag = BlockingStatusRag()
    rag.release.set()
    async with running(rag) as server, rpc_client(server) as one, rpc_client(server) as two:
        for client in (one, two):
            await client.send_raw(b"".join(
                frame({"jsonrpc": "2.0", "id": 100 + n, "method": "status"}) for n in range(20)
            ))
        for client in (one, two):
            for n in range(20):
                reply, _ = await client.response(100 + n)
                assert reply["result"]["version"] == 1
        assert rag.status_calls == 1
        rag.version = 2  # a new index version: counted again, once the version is asked again
        await asyncio.sleep(1.5)
        reply, _ = await one.call("status")
        assert reply["result"]["version"] == 2
        assert rag.status_calls == 2


# -- 2. connection slots and tokens --------------------------------------------------------------


@virtual_clock
async def test_silent_sockets_cannot_starve_served_or_local_clients() -> None:
    rag = FakeRag()
    limits = Limits(max_connections=8, max_pending=2, legacy_quiet=0.02, first_message_timeout=10)
    async with running(rag, limits) as server, rpc_client(server) as served:
        loop = asyncio.get_running_loop()
        started = loop.time()
        legacy = server.addresses["legacy"]
        silent = [await asyncio.open_connection(*legacy) for _ in range(6)]
        try:
            await wait_until(lambda: server.connections >= 3)
            reply, _ = await served.call("status")  # the served client never waits on them
            assert "result" in reply
            # A newcomer waits for a place while the silent sockets hold the pending pool...
            reader, writer = await asyncio.open_connection(*legacy)
            writer.write(b"q")
            assert await asyncio.wait_for(reader.read(1000), 60) == b"Answer 1 to: q"
            writer.close()
            # ... which they give up after the first-message limit (counted from the accept,
            # so those that waited for a place are closed as soon as they get one), not 900 s.
            for silent_reader, _ in silent:
                assert await asyncio.wait_for(silent_reader.read(), 60) == b""
            assert loop.time() - started <= limits.first_message_timeout + 2
        finally:
            for _, silent_writer in silent:
                silent_writer.close()
        await wait_until(lambda: server.connections == 1)
        reply, _ = await served.call("status")
        assert "result" in reply


async def test_remote_pending_connections_never_take_local_places() -> None:
    admission = Admission(Limits(max_pending=2, max_connections=1, first_message_timeout=0.05))
    remote = [await admission.enter("203.0.113.9") for _ in range(2)]
    assert all(remote)
    assert await admission.enter("203.0.113.10") is None  # waited, no place freed
    local = await admission.enter("127.0.0.1")
    assert local is not None and local.promote()
    assert admission.served == 1 and admission.pending == {True: 0, False: 2}
    later = await admission.enter("::1")
    assert later is not None and not later.promote()  # the main pool is full: stays pending
    for slot in (*remote, local, later):
        assert slot is not None
        slot.release()
    assert admission.connections == 0


@virtual_clock
async def test_wrong_tokens_are_slowed_per_address_then_locked_out() -> None:
    rag = FakeRag()
    limits = Limits(auth_delay=0.5, auth_max_failures=4, auth_lockout=60)
    async with running(rag, limits, token=STRONG) as server:
        loop = asyncio.get_running_loop()

        async def attempt(token: str) -> tuple[dict[str, Any], float]:
            client = await RpcClient.connect(server)
            try:
                started = loop.time()
                request = await client.request("initialize", {"token": token})
                reply, _ = await asyncio.wait_for(client.response(request), 120)
                return reply, loop.time() - started
            finally:
                await client.close()

        waits = []
        for guess in ("0000", "0001", "0002", "0003"):
            reply, waited = await attempt(guess)
            assert reply["error"]["code"] == -32003
            waits.append(waited)
        assert waits == sorted(waits) and waits[-1] >= 4 * waits[0] >= 4 * 0.5
        # Locked out: refused at once, even with the right token.
        client = await RpcClient.connect(server)
        try:
            reply = await client.read()
            assert reply is not None and reply["error"]["code"] == -32003
            assert reply["error"]["message"].startswith("Too many wrong tokens from this address")
            assert await client.closed()
        finally:
            await client.close()
        await asyncio.sleep(61)
        async with rpc_client(server, initialize=False) as client:
            result = await client.initialize(token=STRONG)
            assert result["protocolVersion"] == "1"


@pytest.mark.parametrize("weak", [" ", "1", "1234", "hunter2", "a" * 40, "12" * 30,
                                  secrets.token_urlsafe(8)])
async def test_a_guessable_token_is_refused_off_loopback(weak: str) -> None:
    server = Server(FakeRag(), make_settings(host="0.0.0.0", token=weak))
    with pytest.raises(ConfigError) as info:
        await server.start()
    message = str(info.value)
    assert "azsdk-rag token" in message and message.count(". ") == 0
    assert len(weak.strip()) < 4 or weak not in message
    assert server.sockets == []


@pytest.mark.parametrize("strong", [secrets.token_urlsafe(16), secrets.token_hex(16), STRONG,
                                    # draws that happen to miss a character class still count
                                    "qwErtyUiopAsdfGhjklZxc", "2718281828459045235360287471352662"])
def test_random_tokens_of_128_bits_or_more_are_strong(strong: str) -> None:
    assert token_bits(strong) >= MIN_TOKEN_BITS


def test_every_draw_of_a_128_bit_generator_is_strong() -> None:
    assert all(token_bits(secrets.token_urlsafe(16)) >= MIN_TOKEN_BITS for _ in range(2000))
    assert all(token_bits(secrets.token_hex(16)) >= MIN_TOKEN_BITS for _ in range(2000))


async def test_a_weak_token_is_fine_on_loopback() -> None:
    async with running(FakeRag(), token="1") as server, rpc_client(server, initialize=False) as c:
        assert (await c.initialize(token="1"))["protocolVersion"] == "1"


def test_azsdk_rag_token_prints_a_fresh_strong_token() -> None:
    runner = CliRunner()
    first, second = (runner.invoke(cli, ["token"]) for _ in range(2))
    assert first.exit_code == 0 and second.exit_code == 0
    one, two = first.output.strip(), second.output.strip()
    assert one != two and len(one) == 43 and token_bits(one) >= MIN_TOKEN_BITS


# -- 4. stdio lives as long as its stdin -----------------------------------------------------------


class _Sink:
    """A writer that keeps what the connection writes (stdio without file descriptors)."""

    transport = None

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


@virtual_clock
async def test_stdio_has_no_handshake_first_message_or_idle_limit() -> None:
    loop = asyncio.get_running_loop()
    reader, sink = asyncio.StreamReader(), _Sink()
    limits = Limits(idle_timeout=1, handshake_timeout=1, first_message_timeout=1)
    conn = JsonRpcConnection(FakeRag(), reader, sink, limits=limits, stop=loop.create_future(),
                             info=ServerInfo("0"), peer="stdio", stdio=True)
    task = asyncio.ensure_future(conn.run())
    await asyncio.sleep(3600)  # an hour without initialize
    assert not task.done()
    reader.feed_data(frame({"jsonrpc": "2.0", "id": 0, "method": "initialize"}))
    await asyncio.sleep(3600)  # an hour idle
    assert not task.done()
    reader.feed_data(frame({"jsonrpc": "2.0", "id": 1, "method": "ask",
                            "params": {"question": "q"}}))
    reader.feed_eof()
    await asyncio.wait_for(task, 5)
    assert b'"text":"Answer 1 to: q"' in sink.data
    assert conn.end_reason == "stdin closed" and conn.clean_exit


# -- 5. a JSON body without a header ---------------------------------------------------------


@pytest.mark.parametrize("data", [
    b'{"jsonrpc":"2.0","id":1,"method":"initialize"}\r\n',
    b'{"jsonrpc":"2.0","id":1,"method":"initialize"}',  # no newline at all
    b'[{"jsonrpc":"2.0","id":1,"method":"initialize"}]\n',
    b'{"jsonrpc": "2.0"}: 1\r\n\r\n',
])
@virtual_clock
async def test_a_json_body_without_a_header_gets_32700_and_a_close_at_once(data: bytes) -> None:
    async with running(FakeRag()) as server:
        loop = asyncio.get_running_loop()
        client = await RpcClient.connect(server)
        try:
            started = loop.time()
            await client.send_raw(data)
            reply = await client.read()
            assert reply is not None and reply["id"] is None
            assert reply["error"]["code"] == -32700
            assert "Content-Length" in reply["error"]["message"]
            assert await client.closed()
            assert loop.time() - started < 1  # not the 10 s, 30 s or 900 s limit
        finally:
            await client.close()


# -- 8. a half-closed client still gets its answer ----------------------------------------------


def _half_closed(address: tuple[str, int], data: bytes) -> bytes:
    """``printf ... | nc``: send, shut the sending side, read to the end."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_a_half_closed_json_rpc_client_gets_its_answer() -> None:
    rag = FakeRag(deltas=4, delay=0.02)
    async with running(rag, FAST) as server:
        data = frame({"jsonrpc": "2.0", "id": 0, "method": "initialize"}) + frame(
            {"jsonrpc": "2.0", "id": 1, "method": "ask", "params": {"question": "in Python?"}})
        out = await in_thread(_half_closed, server.addresses["rpc"], data)
        bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1])
                  for part in out.split(b"Content-Length: ")[1:]]
        assert bodies[0]["id"] == 0 and "result" in bodies[0]
        assert bodies[-1]["id"] == 1
        assert bodies[-1]["result"]["text"] == "Answer 1 to: in Python?"
        assert rag.aborted == 0
        await wait_until(lambda: server.connections == 0)


async def test_an_ask_with_the_chats_history_is_answered_in_context_statelessly() -> None:
    """The extension sends the chat's earlier turns: a fresh server (a restart, another
    window's connection) answers the follow-up as the third turn and keeps nothing."""
    rag = FakeRag()
    history = [{"role": "user", "content": "/python upload a blob"},
               {"role": "assistant", "content": "Answer 1 to: /python upload a blob"},
               {"role": "user", "content": "and list them?"},
               {"role": "assistant", "content": "Answer 2 to: and list them?"}]
    async with running(rag) as server, rpc_client(server) as client:
        reply, _ = await client.call("ask", {"question": "and delete one?", "history": history})
        assert reply["result"]["text"] == "Answer 3 to: and delete one?"
        assert rag.calls[-1].history == tuple((m["role"], m["content"]) for m in history)
        assert rag.history == {}  # nothing recorded: the client keeps the transcript
        reply, _ = await client.call("retrieve", {"question": "and delete one?",
                                                  "history": history[:2]})
        roles = [m["role"] for m in reply["result"]["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
        reply, _ = await client.call("ask", {"question": "q"})  # without: the session's own
        assert reply["result"]["text"] == "Answer 1 to: q"


@pytest.mark.parametrize("history", [
    "not a list", [{"role": "system", "content": "x"}], [{"role": "user"}],
    [{"role": "user", "content": 3}], [{"role": "user", "content": "x"}] * 201,
])
async def test_a_malformed_history_is_invalid_params(history: Any) -> None:
    async with running(FakeRag()) as server, rpc_client(server) as client:
        reply, _ = await client.call("ask", {"question": "q", "history": history})
        assert reply["error"]["code"] == -32602
        assert "history" in reply["error"]["message"] or "content" in reply["error"]["message"]
