"""MCP over streamable HTTP at ``/mcp`` (uvicorn), with the same token rule as ``serve``.

Loopback by default (``127.0.0.1:65434``). Any other address needs ``AZSDK_RAG_TOKEN``; when a
token is set, every request must carry ``Authorization: Bearer <token>``, compared in constant
time, or it gets 401 and one sentence. On loopback the SDK's DNS-rebinding protection is on too
(the ``Host`` and ``Origin`` headers must name a loopback address).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import uvicorn

from azsdk_rag.server.mcp import RagHolder, build_server
from azsdk_rag.settings import Settings

logger = logging.getLogger(__name__)

PATH = "/mcp"
DEFAULT_PORT = 65434
UNAUTHORIZED = "Unauthorized: send the server's token as 'Authorization: Bearer <token>'."

Scope = dict[str, Any]
App = Callable[..., Any]


class TokenGate:
    """ASGI middleware: HTTP requests without the right bearer token get 401 and one sentence."""

    def __init__(self, app: App, token: str) -> None:
        self.app = app
        self._token = token.encode("utf-8")

    def _allowed(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers") or ():
            if name.lower() == b"authorization":
                given = value
        scheme, _, credential = given.partition(b" ")
        # compare_digest on every request, also for a missing header: no early exit to time
        ok = hmac.compare_digest(credential.strip(), self._token)
        return ok and scheme.lower() == b"bearer"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and not self._allowed(scope):
            client = scope.get("client") or ("?", 0)
            logger.warning("refused mcp http client %s: bad or missing token", client[0])
            body = json.dumps({"error": UNAUTHORIZED}).encode()
            headers = [(b"content-type", b"application/json"),
                       (b"content-length", str(len(body)).encode()),
                       (b"www-authenticate", b'Bearer realm="azsdk-rag"')]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def token_of(settings: Settings) -> str | None:
    secret = settings.token.get_secret_value() if settings.token is not None else ""
    return secret or None


def http_app(holder: RagHolder, settings: Settings, host: str, port: int) -> App:
    """The ASGI app: the SDK's streamable-HTTP app at /mcp, behind the token gate if one is set."""
    server = build_server(holder, host=host, port=port, streamable_http_path=PATH)
    app: App = server.streamable_http_app()
    token = token_of(settings)
    return TokenGate(app, token) if token else app


def http_server(holder: RagHolder, settings: Settings, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for :func:`http_app` (``await server.serve()``; port 0: any free port)."""
    config = uvicorn.Config(http_app(holder, settings, host, port), host=host, port=port,
                            log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on (the real one when it was asked for port 0)."""
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the server is not listening")
