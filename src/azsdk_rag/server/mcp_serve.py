"""Run ``azsdk-rag mcp``: stdio by default, or streamable HTTP with ``http=True``."""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
from collections.abc import Callable

from azsdk_rag.errors import ConfigError
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.server.mcp import RagHolder, run_stdio
from azsdk_rag.server.mcp_http import PATH, http_server, token_of
from azsdk_rag.server.serve import is_loopback
from azsdk_rag.settings import Settings


def check_mcp_settings(settings: Settings, host: str) -> None:
    """Refuse an address other machines can reach unless clients must present a token."""
    if not is_loopback(host) and token_of(settings) is None:
        raise ConfigError(
            f"Refusing to serve MCP on {host or 'all interfaces'}, which other machines can "
            "reach, without a token: set AZSDK_RAG_TOKEN (clients then send 'Authorization: "
            "Bearer <token>') or serve on 127.0.0.1.")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or one sentence saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        why = "is in use" if exc.errno == errno.EADDRINUSE else "cannot be bound"
        raise ConfigError(f"The MCP address {host}:{port} {why}; choose another with "
                          "--host/--port.") from None
    sock.setblocking(False)
    return sock


async def serve_http(holder: RagHolder, settings: Settings, host: str, port: int,
                     ready: Callable[[str], None] | None = None,
                     stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); ``ready`` gets the URL once listening."""
    check_mcp_settings(settings, host)
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{actual}{PATH}"
    server = http_server(holder, settings, host, actual)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    helpers: list[asyncio.Future[None]] = []
    if server.started:
        (ready or _announce)(url)
        helpers.append(asyncio.ensure_future(holder.warm()))
    if stop is not None:
        async def stopper() -> None:
            await stop.wait()
            server.should_exit = True

        helpers.append(asyncio.ensure_future(stopper()))
    try:
        await task
    finally:
        for helper in helpers:
            helper.cancel()


def _announce(url: str) -> None:
    print(f"azsdk-rag mcp: streamable HTTP at {url}", file=sys.stderr, flush=True)


def run(settings: Settings, *, http: bool = False, host: str | None = None,
        port: int | None = None) -> None:
    """The CLI's ``mcp`` command."""
    holder = RagHolder(lambda: AzureSdkRag(settings))
    try:
        if http:
            asyncio.run(serve_http(holder, settings, host or settings.host,
                                   settings.mcp_port if port is None else port))
        else:
            asyncio.run(run_stdio(holder))
    finally:
        holder.close()
