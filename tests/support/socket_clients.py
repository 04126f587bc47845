"""Clients for the socket adapter tests and benchmarks: an in-process server on ephemeral ports,
a JSON-RPC client, and a client that behaves like the old VS Code extension."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from azsdk_rag.server import Limits, Server
from azsdk_rag.settings import Settings
from azsdk_rag.types import RagService

SERVE_FAKE = Path(__file__).resolve().parent / "serve_fake.py"
TIMEOUT = 5.0

# Fast defaults for tests; the legacy compatibility tests use the real quiet window.
FAST = Limits(legacy_quiet=0.02, legacy_partial_wait=0.3, shutdown_grace=0.5)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "rpc_port": 0, "token": None}
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(rag: RagService, limits: Limits = FAST, **settings: Any) -> AsyncIterator[Server]:
    server = Server(rag, make_settings(**settings), limits=limits)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


# -- JSON-RPC client -------------------------------------------------------------------------------


def frame(message: Any) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


def _not_json(name: str) -> Any:
    raise ValueError(f"the server sent {name}, which is not JSON")


class RpcClient:
    """A minimal JSON-RPC client over asyncio streams, reading frames like vscode-jsonrpc."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.next_id = 0

    @classmethod
    async def connect(cls, server: Server) -> RpcClient:
        host, port = server.addresses["rpc"]
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, message: Any) -> None:
        await self.send_raw(frame(message))

    async def request(self, method: str, params: Any = None) -> int:
        request_id = self.next_id
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return request_id

    async def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)

    async def read(self, timeout: float = TIMEOUT) -> dict[str, Any] | None:
        """The next message, or ``None`` when the server closed the connection."""
        return await asyncio.wait_for(self._read(), timeout)

    async def _read(self) -> dict[str, Any] | None:
        length = None
        while True:
            line = await self.reader.readline()
            if not line:
                return None
            assert line.endswith(b"\r\n"), line
            if line == b"\r\n":
                break
            name, _, value = line.decode("ascii").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        assert length is not None
        return json.loads(await self.reader.readexactly(length), parse_constant=_not_json)

    async def call(self, method: str, params: Any = None) -> tuple[dict[str, Any], list[dict]]:
        """Send a request; return its response and the notifications that came before it."""
        request_id = await self.request(method, params)
        return await self.response(request_id)

    async def response(self, request_id: Any) -> tuple[dict[str, Any], list[dict]]:
        notes: list[dict] = []
        while True:
            message = await self.read()
            assert message is not None, "the server closed the connection"
            if "id" in message and message["id"] == request_id and "method" not in message:
                return message, notes
            notes.append(message)

    async def initialize(self, **params: Any) -> dict[str, Any]:
        reply, _ = await self.call("initialize", params)
        assert "result" in reply, reply
        return reply["result"]

    async def closed(self, timeout: float = TIMEOUT) -> bool:
        """Whether the server closes the connection (any messages before that are skipped)."""
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return True

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


@asynccontextmanager
async def rpc_client(server: Server, initialize: bool = True) -> AsyncIterator[RpcClient]:
    client = await RpcClient.connect(server)
    try:
        if initialize:
            await client.initialize()
        yield client
    finally:
        await client.close()


async def wait_until(condition: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def first_delta(client: RpcClient, request_id: int) -> None:
    """Read notifications until the first delta of ``request_id``."""
    while True:
        message = await client.read()
        assert message is not None
        if message.get("method") == "answer/delta":
            assert message["params"]["requestId"] == request_id
            return


# -- the old extension's client ----------------------------------------------------------------


class OldExtensionClient:
    """Behaves like the first VS Code extension: one ``sendall`` per question, and each received
    chunk is taken as the whole answer. Blocking socket: call its methods via ``asyncio.to_thread``.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=TIMEOUT)

    def ask(self, question: str | bytes) -> bytes:
        data = question.encode() if isinstance(question, str) else question
        self.sock.sendall(data)
        return self.sock.recv(1 << 20)

    def recv(self) -> bytes:
        return self.sock.recv(1 << 20)

    def close(self) -> None:
        self.sock.close()


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)
