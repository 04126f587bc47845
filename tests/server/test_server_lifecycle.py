"""Limits and lifecycle: idle timeout, max connections, clean shutdown, stdio and signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from typing import Any

import pytest

from azsdk_rag.errors import ConfigError
from azsdk_rag.server import Limits, Server, serve
from azsdk_rag.server.framing import BUSY
from support.fake_rag import HANG_QUESTION, PRINT_QUESTION, FakeRag
from support.socket_clients import (
    FAST,
    SERVE_FAKE,
    OldExtensionClient,
    RpcClient,
    first_delta,
    frame,
    in_thread,
    make_settings,
    rpc_client,
    running,
    wait_until,
)
from support.virtual_clock import virtual_clock


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


# -- idle timeout ----------------------------------------------------------------------------------


# The timing tests run on a virtual clock (support/virtual_clock.py): idle periods, grace times
# and the fake's delays are loop time, so they do not stretch or shrink with the machine's load.


@virtual_clock
async def test_idle_connections_are_closed_on_both_protocols(rag: FakeRag) -> None:
    async with running(rag, Limits(idle_timeout=0.2)) as server:
        legacy = OldExtensionClient(server.addresses["legacy"])
        async with rpc_client(server) as client:
            try:
                assert await client.closed()
                assert await in_thread(legacy.recv) == b""
            finally:
                legacy.close()
        await wait_until(lambda: server.connections == 0)


@virtual_clock
async def test_a_connection_with_an_answer_in_flight_is_not_idle(rag: FakeRag) -> None:
    async with running(rag, Limits(idle_timeout=0.1)) as server, rpc_client(server) as client:
        ask = await client.request("ask", {"question": HANG_QUESTION})
        await first_delta(client, ask)
        await asyncio.sleep(0.4)  # several idle periods
        reply, _ = await client.call("status")
        assert "result" in reply
        await client.notify("$/cancelRequest", {"id": ask})
        reply, _ = await client.response(ask)
        assert reply["error"]["code"] == -32800


@virtual_clock
async def test_a_client_that_never_initializes_is_closed_after_the_handshake_timeout(
    rag: FakeRag,
) -> None:
    loop = asyncio.get_running_loop()
    limits = Limits(handshake_timeout=0.5)
    async with (
        running(rag, limits) as server,
        rpc_client(server, initialize=False) as lazy,
        rpc_client(server) as ready,
    ):
        connected = loop.time()
        for _ in range(3):  # messages do not extend the handshake
            reply, _ = await lazy.call("status")
            assert reply["error"]["code"] == -32002
            await asyncio.sleep(0.15)
        assert await lazy.closed()
        # closed at the handshake deadline, not half a second after the last message (0.95 s)
        assert loop.time() - connected == pytest.approx(0.5, abs=0.05)
        reply, _ = await ready.call("status")  # an initialized client stays
        assert "result" in reply


# -- max connections -----------------------------------------------------------------------------


async def test_connections_over_the_limit_get_a_clean_close(rag: FakeRag) -> None:
    limits = Limits(max_connections=2, legacy_quiet=0.02)
    async with running(rag, limits) as server, rpc_client(server) as first:
        second = OldExtensionClient(server.addresses["legacy"])
        try:
            assert (await in_thread(second.ask, "q")).decode() == "Answer 1 to: q"
            # a third JSON-RPC client waits in the pending pool; its initialize gets the error
            third = await RpcClient.connect(server)
            reply, _ = await third.call("initialize", {})
            assert reply["id"] == 0 and reply["error"]["code"] == -32000
            assert reply["error"]["message"] == BUSY
            assert await third.closed()
            await third.close()
            # a third legacy client: its first question gets the busy text, then the close
            fourth = OldExtensionClient(server.addresses["legacy"])
            assert await in_thread(fourth.ask, "q") == BUSY.encode()
            assert await in_thread(fourth.recv) == b""
            fourth.close()
        finally:
            second.close()
        await wait_until(lambda: server.connections == 1)
        async with rpc_client(server) as again:  # room again
            reply, _ = await again.call("status")
            assert "result" in reply
        reply, _ = await first.call("status")
        assert "result" in reply


@virtual_clock
async def test_a_client_that_stops_reading_is_dropped() -> None:
    rag = FakeRag(answer="x" * (1 << 20), deltas=16)
    async with running(rag, Limits(write_timeout=0.2)) as server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(server.addresses["rpc"])
        reader, writer = await asyncio.open_connection(sock=sock)
        client = RpcClient(reader, writer)
        try:
            await client.initialize()
            for _ in range(8):  # far more than the socket buffers hold; never read
                await client.request("ask", {"question": "q"})
            await wait_until(lambda: server.connections == 0)
        finally:
            await client.close()
    assert rag.active == 0


# -- shutdown ------------------------------------------------------------------------------------


@virtual_clock
async def test_close_lets_short_answers_finish_and_cancels_long_ones() -> None:
    rag = FakeRag(deltas=5, delay=0.02)  # ~0.1 s: inside the 0.5 s grace
    server = Server(rag, make_settings(), limits=FAST)
    await server.start()
    listening = server.sockets
    short = await RpcClient.connect(server)
    long = await RpcClient.connect(server)
    idle = OldExtensionClient(server.addresses["legacy"])
    try:
        await short.initialize()
        await long.initialize()
        hang = await long.request("ask", {"question": HANG_QUESTION})
        await first_delta(long, hang)
        quick = await short.request("ask", {"question": "q"})
        await wait_until(lambda: len(rag.calls) == 2)  # the short answer has started
        closing = asyncio.create_task(server.close())
        reply, _ = await short.response(quick)
        assert reply["result"]["text"] == "Answer 1 to: q"
        await closing
        assert await short.closed()
        assert await long.closed()  # the hanging answer was cancelled: no reply
        assert await in_thread(idle.recv) == b""
    finally:
        await short.close()
        await long.close()
        idle.close()
    assert rag.active == 0 and rag.aborted == 1
    assert all(sock.fileno() == -1 for sock in listening)
    assert server.connections == 0
    assert other_tasks() == set()


async def test_serve_runs_until_stopped_and_leaves_nothing_behind(rag: FakeRag) -> None:
    started: list[Server] = []
    task = asyncio.create_task(serve(rag, make_settings(), ready=started.append, limits=FAST))
    await wait_until(lambda: bool(started))
    server = started[0]
    async with rpc_client(server) as client:
        reply, _ = await client.call("ask", {"question": "q"})
        assert reply["result"]["text"] == "Answer 1 to: q"
        ask = await client.request("ask", {"question": HANG_QUESTION})
        await first_delta(client, ask)
        server.stop()
        await asyncio.wait_for(task, 5)
        assert await client.closed()
    assert rag.active == 0
    assert all(sock.fileno() == -1 for sock in server.sockets)
    assert other_tasks() == set()


async def test_a_port_in_use_is_a_clear_error(rag: FakeRag) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"Cannot listen on 127.0.0.1 port {port}"):
            await serve(rag, make_settings(port=port))
    assert other_tasks() == set()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_bad_clients_leak_no_file_descriptors(rag: FakeRag) -> None:
    async with running(rag) as server:

        async def bad(i: int) -> None:
            reader, writer = await asyncio.open_connection(*server.addresses["rpc"])
            writer.write([b"Content-Length: x\r\n\r\n", b"\xff" * 10 + b"\r\n\r\n"][i % 2])
            await reader.read()  # until the server closes
            writer.close()
            await writer.wait_closed()

        await asyncio.gather(*(bad(i) for i in range(5)))  # warm up
        await wait_until(lambda: server.connections == 0)
        before = len(os.listdir("/proc/self/fd"))
        await asyncio.gather(*(bad(i) for i in range(100)))
        await wait_until(lambda: server.connections == 0)
        assert len(os.listdir("/proc/self/fd")) == before


# -- separate processes: stdio and signals --------------------------------------------------------


def read_frames(data: bytes) -> list[dict[str, Any]]:
    """Every message in ``data``, which must hold nothing but frames."""
    messages = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, data[:100]
        assert head.startswith(b"Content-Length: "), head
        length = int(head.split(b":")[1])
        messages.append(json.loads(rest[:length]))
        data = rest[length:]
    return messages


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVE_FAKE),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.slow  # another process
async def test_stdio_speaks_the_same_protocol_and_exits_on_exit() -> None:
    proc = await spawn("--stdio", "--delay", "0.01")
    assert proc.stdin is not None and proc.stdout is not None
    client = RpcClient(proc.stdout, proc.stdin)  # type: ignore[arg-type]
    try:
        result = await client.initialize()
        assert result["serverInfo"]["name"] == "azsdk-rag"
        reply, notes = await client.call("ask", {"question": "In Python?"})
        assert [n["method"] for n in notes] == [
            "answer/route",
            "answer/sources",
            "answer/delta",
            "answer/delta",
            "answer/delta",
        ]
        assert reply["result"]["text"] == "Answer 1 to: In Python?"
        # a library printing to stdout must not corrupt the protocol
        reply, _ = await client.call("ask", {"question": PRINT_QUESTION})
        assert reply["result"]["text"] == f"Answer 2 to: {PRINT_QUESTION}"
        ask = await client.request("ask", {"question": HANG_QUESTION})
        await first_delta(client, ask)
        await client.notify("$/cancelRequest", {"id": ask})
        reply, _ = await client.response(ask)
        assert reply["error"]["code"] == -32800
        reply, _ = await client.call("shutdown")
        assert reply["result"] is None
        await client.notify("exit")
        rest = await asyncio.wait_for(proc.stdout.read(), 10)
        assert read_frames(rest) == []
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert proc.stderr is not None
        assert b"stray output from a library" in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.slow  # another process
async def test_stdio_finishes_its_answers_and_exits_when_stdin_closes() -> None:
    proc = await spawn("--stdio")
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(
        frame({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}})
        + frame({"jsonrpc": "2.0", "id": 1, "method": "ask", "params": {"question": "q"}})
    )
    proc.stdin.close()
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    assert b"azsdk-rag serve --stdio: exiting: stdin closed." in err
    messages = read_frames(out)
    assert messages[0]["id"] == 0 and "result" in messages[0]
    assert messages[-1] == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {
            "text": "Answer 1 to: q",
            "route": {"languages": [], "query": "q", "signal": "none", "reason": "fake router"},
            "sources": [],
        },
    }


@pytest.mark.slow  # another process
async def test_stdio_outlives_the_tcp_limits_and_says_why_it_exits() -> None:
    """Issue 14.4: over stdio the editor owns the lifetime (it exited silently, rc 0, 33 s
    without initialize and 905 s idle); an exit the client did not ask for is non-zero."""
    proc = await spawn("--stdio", "--idle", "0.2", "--handshake", "0.2")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    client = RpcClient(proc.stdout, proc.stdin)  # type: ignore[arg-type]
    try:
        await asyncio.sleep(1.0)  # several handshake periods without initialize
        assert proc.returncode is None
        await client.initialize()
        await asyncio.sleep(1.0)  # several idle periods
        reply, _ = await client.call("ask", {"question": "q"})
        assert reply["result"]["text"] == "Answer 1 to: q"
        await client.notify("exit")  # without shutdown
        assert await asyncio.wait_for(proc.wait(), 10) == 1
        err = await proc.stderr.read()
        assert b"exiting: the client sent 'exit' without 'shutdown'." in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.slow  # another process
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_sigterm_stops_the_tcp_server_cleanly() -> None:
    proc = await spawn()
    assert proc.stdout is not None
    try:
        ports = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        reader, writer = await asyncio.open_connection("127.0.0.1", ports["legacy"])
        writer.write(b"python?")
        assert await asyncio.wait_for(reader.read(1 << 16), 5) == b"Answer 1 to: python?"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", ports["rpc"])
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
