"""A loopback TCP proxy that breaks connections on demand, for network fault tests.

It runs an asyncio loop in a background thread (the code under test is synchronous) and forwards
bytes both ways to ``upstream``. Its ``mode`` says what happens to *new* connections:

``"pass"``     forward (the default);
``"reset"``    accept, then reset at once (TCP RST): a server that is up but drops every connection;
``"silent"``   accept, read and never answer: a server that hangs.

``cut()`` resets every connection open right now, so a test can break the link at an exact point
of a request sequence (for example from a :class:`~support.reliability_qdrant.FakeQdrantServer`
hook while the server is handling an upsert). Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Literal

Mode = Literal["pass", "reset", "silent"]
TIMEOUT = 5.0


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, so the peer gets a TCP reset instead of a clean end of stream."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """``with FaultProxy(port) as p: url = p.url; p.mode = "reset"; p.cut()``."""

    def __init__(self, upstream_port: int | None, *, mode: Mode = "pass") -> None:
        self.upstream_port = upstream_port
        self.mode: Mode = mode
        self.accepted = 0
        self.resets = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy",
                                        daemon=True)
        self._port = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        self._port = self._call(self._start())
        return self

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._cut()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: object) -> int:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        return future.result(TIMEOUT)

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- faults ------------------------------------------------------------------------------------
    def cut(self) -> int:
        """Reset every open connection now; returns how many were cut."""
        return self._call(self._cut_async())

    async def _cut_async(self) -> int:
        return self._cut()

    def _cut(self) -> int:
        writers = list(self._writers)
        for writer in writers:
            _reset(writer)
        self._writers.clear()
        self.resets += len(writers)
        return len(writers)

    # -- forwarding ------------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset" or self.upstream_port is None:
            self.resets += 1
            _reset(writer)
            return
        if self.mode == "silent":
            self._writers.add(writer)
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while await reader.read(65536):
                    pass
            self._writers.discard(writer)
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.upstream_port), TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            _reset(writer)
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if writer.transport.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not writer.transport.is_closing():
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()


@contextlib.contextmanager
def fault_proxy(upstream_port: int | None, mode: Mode = "pass") -> Iterator[FaultProxy]:
    with FaultProxy(upstream_port, mode=mode) as proxy:
        yield proxy
