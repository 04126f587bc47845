"""Run both socket protocols over one shared RAG until a signal, ``exit`` or end of input.

TCP mode listens on two ports: the legacy raw-text port (``settings.port``) for the old
extension and the JSON-RPC port (``settings.rpc_port``). Separate ports, not sniffing the first
bytes: a legacy question can begin with any text (even ``Content-Length:``), so guessing would
misroute someone; docs/protocol.md says more. stdio mode serves one JSON-RPC client on
stdin/stdout. :class:`Server` is the piece tests drive (ephemeral ports, explicit close);
:func:`serve` wraps it with signal handling for the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

from azsdk_rag.errors import ConfigError
from azsdk_rag.server import jsonrpc, legacy, rpc_messages
from azsdk_rag.server.admission import MIN_TOKEN_BITS, Admission, Slot, token_bits
from azsdk_rag.server.connection import Connection
from azsdk_rag.server.framing import Limits, Writer
from azsdk_rag.server.status import StatusCache
from azsdk_rag.server.stdio import open_stdio
from azsdk_rag.settings import Settings
from azsdk_rag.types import RagService

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def server_version() -> str:
    try:
        return metadata.version("azsdk-rag")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _token(settings: Settings) -> str | None:
    secret = settings.token.get_secret_value() if settings.token is not None else ""
    return secret or None


def check_settings(settings: Settings) -> None:
    """Refuse an address other machines can reach unless clients must present a strong token."""
    if is_loopback(settings.host):
        return
    token = _token(settings)
    where = settings.host or "all interfaces"
    if token is None:
        raise ConfigError(
            f"Refusing to serve on {where}, which other machines can "
            "reach, without a token: set AZSDK_RAG_TOKEN (JSON-RPC clients send it in "
            "'initialize') or serve on 127.0.0.1."
        )
    if token_bits(token) < MIN_TOKEN_BITS:
        raise ConfigError(
            f"Refusing to serve on {where} with an AZSDK_RAG_TOKEN that is easy to guess (under "
            f"{MIN_TOKEN_BITS} bits; 22 random URL-safe characters is the least): set it to the "
            "output of 'azsdk-rag token'."
        )


class Server:
    """Both protocols over one RAG: ``await start()`` (or ``start_stdio()``), then ``close()``.

    Every connection is its own chat; at most ``limits.max_connections`` are served at once over
    both ports. ``close()`` stops listening, lets answers in flight finish for
    ``limits.shutdown_grace`` seconds, cancels the rest and closes every connection.
    """

    def __init__(
        self,
        rag: RagService,
        settings: Settings,
        *,
        limits: Limits | None = None,
        languages: Sequence[str] | None = None,
    ) -> None:
        self._rag = rag
        self._settings = settings
        self.limits = limits or Limits()
        self._token = _token(settings)
        self._info = jsonrpc.ServerInfo(
            version=server_version(),
            languages=tuple(languages) if languages is not None else None,
            token=self._token,
        )
        self._servers: dict[str, asyncio.base_events.Server] = {}
        self._stop: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # every connection handler, refused or not
        self._admission = Admission(self.limits)
        self._status = StatusCache(rag)
        self.stdio_connection: jsonrpc.JsonRpcConnection | None = None
        self.stop_reason: str | None = None
        self._stdio_cleanup: Callable[[], None] | None = None
        self._closed = False

    # -- starting --------------------------------------------------------------------------------

    def _stop_future(self) -> asyncio.Future[None]:
        if self._stop is None:
            self._stop = asyncio.get_running_loop().create_future()
        return self._stop

    async def start(self) -> None:
        """Listen on the JSON-RPC and the legacy port (port 0: any free port; see ``addresses``).

        The legacy protocol has no authentication, so when ``host`` is not loopback it is
        served on 127.0.0.1 only. Raises :class:`ConfigError` for a reachable address without a
        token, or a port that cannot be bound.
        """
        check_settings(self._settings)
        self._stop_future()
        host = self._settings.host
        legacy_host = host if is_loopback(host) else LOOPBACK
        if legacy_host != host:
            logger.info("legacy protocol (no authentication) listens on %s only", LOOPBACK)
        self._servers["rpc"] = await self._listen(host, self._settings.rpc_port, self._accept_rpc)
        try:
            self._servers["legacy"] = await self._listen(
                legacy_host, self._settings.port, self._accept_legacy
            )
        except BaseException:
            rpc = self._servers.pop("rpc")
            rpc.close()
            await rpc.wait_closed()
            raise
        for name, address in self.addresses.items():
            logger.info("%s protocol listening on %s:%d", name, *address[:2])

    @staticmethod
    async def _listen(host: str, port: int, accept: Any) -> asyncio.base_events.Server:
        try:
            return await asyncio.start_server(accept, host or None, port)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"Cannot listen on {host or 'all interfaces'} port {port}: {reason}."
            ) from None

    async def start_stdio(self) -> None:
        """Serve one JSON-RPC client on this process's stdin and stdout.

        While it runs, file descriptor 1 points at stderr, so a stray ``print`` from any library
        lands in the log instead of corrupting the protocol; ``close()`` puts it back. The
        server stops when the client sends ``exit`` or closes stdin.
        """
        stop = self._stop_future()
        reader, writer, self._stdio_cleanup = await open_stdio()
        conn = jsonrpc.JsonRpcConnection(
            self._rag,
            reader,
            writer,
            limits=self.limits,
            stop=stop,
            info=jsonrpc.ServerInfo(self._info.version, self._info.languages, token=None),
            peer="stdio",
            stdio=True,
            status=self._status,
        )
        self.stdio_connection = conn
        task = asyncio.create_task(conn.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _t: self.stop())  # the connection says why it ended

    # -- the running server ----------------------------------------------------------------------

    @property
    def sockets(self) -> list[socket.socket]:
        """Every listening socket (a hostname such as ``localhost`` may bind more than one)."""
        return [sock for srv in self._servers.values() for sock in (srv.sockets or ())]

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        """``{"rpc": (host, port), "legacy": (host, port)}`` as bound (real ports for port 0)."""
        result: dict[str, tuple[str, int]] = {}
        for name, srv in self._servers.items():
            if srv.sockets:
                host, port = srv.sockets[0].getsockname()[:2]
                result[name] = (host, port)
        return result

    @property
    def connections(self) -> int:
        """Connections being served now, pending ones included (refused ones are not counted)."""
        return self._admission.connections

    def stop(self, reason: str | None = None) -> None:
        """Make :meth:`wait_stopped` return (signal handlers and the end of stdio call this).

        ``reason`` (the first one given wins) is what :attr:`stop_reason` reports.
        """
        stop = self._stop_future()
        if not stop.done():
            self.stop_reason = reason
            stop.set_result(None)

    async def wait_stopped(self) -> None:
        await asyncio.shield(self._stop_future())

    async def _accept_rpc(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._accept(reader, writer, rpc=True)

    async def _accept_legacy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._accept(reader, writer, rpc=False)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, rpc: bool
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self._stop_future().done():
                writer.transport.abort()
                return
            slot = await self._admit(writer, rpc=rpc)
            if slot is None:
                return
            slot.evict = writer.transport.abort  # a newcomer needs the place of a silent socket
            try:
                await self._connection(reader, writer, slot, rpc=rpc).run()
            finally:
                slot.release()
        finally:
            self._tasks.discard(task)

    async def _admit(self, writer: asyncio.StreamWriter, *, rpc: bool) -> Slot | None:
        """A pending slot for a new connection, or ``None`` after refusing it (a locked-out
        address, or no place freed in time)."""
        peer = _peer(writer)
        host = peer.rsplit(":", 1)[0]
        wait = self._admission.locked_out(host) if rpc and self._token else None
        if wait is not None:
            logger.warning("refusing %s: too many wrong tokens", peer)
            await rpc_messages.refuse(
                writer,
                f"Too many wrong tokens from this address; try again in {math.ceil(wait)} s.",
                code=rpc_messages.UNAUTHORIZED,
            )
            return None
        slot = await self._admission.enter(host)
        if slot is None:
            logger.warning("refusing a connection from %s: too many connections", peer)
            await (rpc_messages.refuse(writer) if rpc else legacy.refuse(writer))
        return slot

    def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    slot: Slot, *, rpc: bool) -> Connection:
        peer, stop = _peer(writer), self._stop_future()
        if not rpc:
            return legacy.LegacyConnection(self._rag, reader, writer, limits=self.limits,
                                           stop=stop, peer=peer, slot=slot)
        return jsonrpc.JsonRpcConnection(
            self._rag, reader, writer, limits=self.limits, stop=stop, info=self._info,
            peer=peer, status=self._status, slot=slot, admission=self._admission,
        )

    # -- stopping --------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop listening, let answers in flight finish briefly, then close everything."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        for srv in self._servers.values():
            srv.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.shutdown_grace
        for _ in range(3):  # let connections accepted a moment ago register and see the stop
            await asyncio.sleep(0)
        while self._tasks:
            tasks = set(self._tasks)
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks -= tasks
        for srv in self._servers.values():
            await srv.wait_closed()
        if self._stdio_cleanup is not None:
            self._stdio_cleanup()
            self._stdio_cleanup = None
        logger.info("server stopped")


def _peer(writer: Writer) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "?")


async def serve(
    rag: RagService,
    settings: Settings,
    *,
    stdio: bool = False,
    ready: Callable[[Server], object] | None = None,
    limits: Limits | None = None,
) -> int:
    """Serve ``rag`` until SIGINT/SIGTERM (or, over stdio, ``exit`` or the end of stdin).

    ``ready(server)`` is called once listening (``server.addresses`` has the ports). Raises
    :class:`ConfigError` for an unsafe address or a port in use. Returns the exit status: over
    stdio 0 only when stdin closed or the client sent ``shutdown`` then ``exit``, and the reason
    is written to stderr either way (the editor that spawned us shows it).
    """
    server = Server(rag, settings, limits=limits)
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, server.stop, f"received {signal.Signals(sig).name}")
            installed.append(sig)
    try:
        if stdio:
            await server.start_stdio()
        else:
            await server.start()
        if ready is not None:
            ready(server)
        await server.wait_stopped()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.close()
    if not stdio:
        return 0
    conn = server.stdio_connection
    reason = server.stop_reason or (conn.end_reason if conn else "it stopped")
    clean = server.stop_reason is None and conn is not None and conn.clean_exit
    with contextlib.suppress(OSError, ValueError):
        print(f"azsdk-rag serve --stdio: exiting: {reason}.", file=sys.stderr, flush=True)
    return 0 if clean else 1
