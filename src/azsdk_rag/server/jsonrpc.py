"""JSON-RPC 2.0 over LSP base-protocol framing: one :class:`JsonRpcConnection` per client.

Speaks exactly what ``vscode-jsonrpc``'s ``createMessageConnection`` expects: ``initialize``, then
``ask`` (streamed as ``answer/*`` notifications, then the whole answer as the result),
``retrieve`` (what ``ask`` would send to a model: route, sources, context, messages),
``session/reset``, ``status``, ``shutdown``, the ``exit`` and ``$/cancelRequest`` notifications.
Requests run concurrently, so a long ``ask`` never blocks a cancel or a ``status``. The same class
serves a TCP connection and stdio; docs/protocol.md is the spec. Messages are read and encoded in
:mod:`.rpc_messages`, parameters checked by the models of :mod:`.rpc_params`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from azsdk_rag.errors import AzsdkRagError
from azsdk_rag.server.admission import Admission, Slot
from azsdk_rag.server.connection import (
    ClientGone,
    Connection,
    StreamEvent,
    answer_from,
    failure_message,
)
from azsdk_rag.server.framing import (
    BUSY,
    FramingError,
    IdleTimeout,
    Limits,
    MessageTooLarge,
    Stopped,
    Writer,
    read_frame,
)
from azsdk_rag.server.rpc_messages import (
    INTERNAL,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RAG_ERROR,
    REQUEST_CANCELLED,
    SERVER_BUSY,
    SERVER_NOT_INITIALIZED,
    UNAUTHORIZED,
    Incoming,
    RequestId,
    RpcError,
    ServerInfo,
    answer_notification,
    error_message,
    read_message,
    refuse,
    result_message,
    valid_id,
)
from azsdk_rag.server.rpc_params import (
    InitializeParams,
    QuestionParams,
    SessionParams,
    parse,
)
from azsdk_rag.server.rpc_sessions import Sessions
from azsdk_rag.server.status import StatusCache
from azsdk_rag.types import RagService

__all__ = ["ClientGone", "JsonRpcConnection", "ServerInfo", "refuse"]

logger = logging.getLogger(__name__)


Handler = Callable[["JsonRpcConnection", RequestId, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    """One request method: its handler, its parameters' model, and whether it is long (runs
    in its own task, concurrently with others and cancellable) or answered in order."""

    handler: Handler
    params: type[BaseModel] | None = None
    long: bool = False


class JsonRpcConnection(Connection):
    """One JSON-RPC client: reads framed messages, dispatches them, streams answers back."""

    wire = "json-rpc"

    def __init__(
        self,
        rag: RagService,
        reader: asyncio.StreamReader,
        writer: Writer,
        *,
        limits: Limits,
        stop: asyncio.Future[None],
        info: ServerInfo,
        peer: str = "?",
        stdio: bool = False,
        status: StatusCache | None = None,
        slot: Slot | None = None,
        admission: Admission | None = None,
    ) -> None:
        """``stdio``: the client is the parent process, which owns our lifetime, so no idle,
        first-message or handshake limit applies. At end of input the answers in flight are
        finished either way: a client that shuts its sending side (``printf ... | nc``, stdin
        closed) still reads; one that is really gone fails the next write. ``slot`` is promoted
        to the main pool on a successful ``initialize``; ``admission`` counts wrong tokens."""
        super().__init__(rag, reader, writer, limits=limits, stop=stop, peer=peer, slot=slot)
        self._info, self._stdio, self._admission = info, stdio, admission
        self._status_cache = status or StatusCache(rag)
        self.end_reason = "the connection ended"
        """Why :meth:`run` returned, for the log (stdio: the process's last words)."""
        self.clean_exit = False
        """Whether it ended as the client asked: end of input, or ``exit`` after ``shutdown``."""
        self._id = uuid.uuid4().hex
        self._sessions = Sessions(rag, self._id, limits.max_sessions_per_connection)
        self._initialized = self._shut_down = self._closing = False
        self._inflight: dict[RequestId, asyncio.Task[None]] = {}
        self._cancelled: set[RequestId] = set()

    # -- lifecycle -------------------------------------------------------------------------------

    async def _serve(self) -> None:
        """Serve until end of stream, ``exit``, a bad frame, idleness or server shutdown."""
        logger.debug("json-rpc connection %s from %s", self._id[:8], self._peer)
        try:
            if await self._read_loop():
                self.end_reason = "stdin closed" if self._stdio else "the client closed"
                self.clean_exit = True
                await self._finish_inflight(None if self._stdio else self._limits.eof_grace)
            elif self._shut_down:
                self.end_reason, self.clean_exit = "the client sent 'exit'", True
            else:
                self.end_reason = "the client sent 'exit' without 'shutdown'"
        except Stopped:
            self.end_reason = "the server is stopping"
            # Shutdown: answers in flight may finish (the server bounds how long we wait).
            await self._finish_inflight()
        except IdleTimeout as exc:
            self.end_reason = str(exc) or "the connection was idle"
            logger.info("closing json-rpc connection from %s: %s", self._peer, self.end_reason)
        except MessageTooLarge as exc:
            self.end_reason = f"a message was too large: {exc}"
            await self._sender.send_quietly(error_message(None, INVALID_REQUEST, str(exc)))
        except FramingError as exc:
            self.end_reason = f"the input is not LSP-framed JSON-RPC: {exc}"
            await self._sender.send_quietly(error_message(None, PARSE_ERROR, f"Parse error: {exc}"))
        except (ClientGone, ConnectionError):
            self.end_reason = "the client cannot be written to any more"

    def _failed(self, exc: Exception) -> None:
        self.end_reason = f"internal error ({type(exc).__name__}; see the log)"
        super()._failed(exc)

    async def _ended(self) -> None:
        await self._cancel_inflight()
        self._sessions.forget_all()
        logger.debug("json-rpc connection %s closed", self._id[:8])

    def _read_timeout(self, started: float, first: bool) -> tuple[float | None, str]:
        """How long to wait for the next message, and why the connection closes after that."""
        limits = self._limits
        why = f"it was idle for {limits.idle_timeout:g} s"
        if self._stdio:
            return None, why
        timeout = limits.idle_timeout
        if not self._initialized:  # unauthenticated clients must not hold a slot long
            timeout = max(0.0, started + limits.handshake_timeout - self._loop_time())
            why = f"it did not initialize within {limits.handshake_timeout:g} s"
        if first:
            wait = self._first_message_wait()
            if wait < timeout:
                timeout, why = wait, f"it sent nothing within {limits.first_message_timeout:g} s"
        return timeout, why

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    async def _read_loop(self) -> bool:
        """Read and dispatch messages; True at end of input, False after ``exit`` or a refusal."""
        started = self._loop_time()
        first = True
        while not self._closing:
            timeout, why = self._read_timeout(started, first)
            try:
                body = await self._next(read_frame(self._reader, self._limits), timeout,
                                        busy=lambda: bool(self._inflight))
            except IdleTimeout:
                raise IdleTimeout(why) from None
            if body is None:
                return True
            first = False
            await self._dispatch(body)
        return False

    async def _finish_inflight(self, timeout: float | None = None) -> None:
        pending = set(self._inflight.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def _cancel_inflight(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- incoming messages -----------------------------------------------------------------------

    async def _dispatch(self, body: bytes) -> None:
        try:
            message = read_message(body)
        except RpcError as exc:
            await self._sender.send(exc.reply())
            return
        if message is None:
            return  # a response: we send no requests, so there is nothing to match it with
        if message.is_request:
            await self._on_request(message)
        else:
            self._on_notification(message)

    def _on_notification(self, message: Incoming) -> None:
        """Notifications get no reply, even when wrong; unknown ones are ignored (LSP rule)."""
        params = message.params
        if message.method == "exit":
            self._closing = True
        elif (message.method == "$/cancelRequest" and self._initialized
              and isinstance(params, dict)):
            target = params.get("id")
            task = self._inflight.get(target) if valid_id(target) else None
            if task is not None and not task.done():
                self._cancelled.add(target)
                task.cancel()
        else:
            logger.debug("ignored notification %.60r", message.method)

    def _refusal(self, name: str, method: Method | None) -> RpcError | None:
        """Why a request may not run now (in the order the protocol checks), or ``None``."""
        if name == "initialize":
            return None
        if not self._initialized:
            return RpcError(SERVER_NOT_INITIALIZED,
                            "The server is not initialized: send 'initialize' first.")
        if self._shut_down:
            return RpcError(INVALID_REQUEST, "The connection is shutting down.")
        if method is None:
            return RpcError(METHOD_NOT_FOUND, f"Unknown method {name[:80]!r}.")
        limit = self._limits.max_requests_per_connection
        if method.long and len(self._inflight) >= limit:
            return RpcError(SERVER_BUSY, f"Too many requests in flight (max {limit}).")
        return None

    async def _on_request(self, message: Incoming) -> None:
        request_id = message.id
        if request_id in self._inflight:
            await self._sender.send(
                error_message(request_id, INVALID_REQUEST, "A request with this id is running."))
            return
        method = METHODS.get(message.method)
        refusal = self._refusal(message.method, method)
        if refusal is not None:
            await self._sender.send(refusal.reply(request_id))
            return
        assert method is not None
        if not method.long:  # quick and synchronous: answer in order
            await self._sender.send(await self._call(request_id, method, message.params))
            return
        task = asyncio.create_task(self._run_request(request_id, method, message.params))
        self._inflight[request_id] = task

    async def _run_request(
        self, request_id: RequestId, method: Method, params: dict[str, Any] | list[Any]
    ) -> None:
        """A request in its own task: send its response, or -32800 if the client cancelled it."""
        try:
            try:
                reply = await self._call(request_id, method, params)
            except asyncio.CancelledError:
                if request_id not in self._cancelled:
                    raise  # shutdown or the client left: nobody to answer
                _uncancel()
                reply = error_message(request_id, REQUEST_CANCELLED, "The request was cancelled.")
            await self._sender.send(reply)
        except ClientGone:
            pass
        finally:
            self._inflight.pop(request_id, None)
            self._cancelled.discard(request_id)

    async def _call(
        self, request_id: RequestId, method: Method, params: dict[str, Any] | list[Any]
    ) -> bytes:
        """Run a handler on its checked parameters; its result or error as the framed response."""
        try:
            if not isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, "'params' must be an object.")
            args = (parse(method.params, params,
                          max_question_chars=self._limits.max_question_chars)
                    if method.params is not None else None)
            return result_message(request_id, await method.handler(self, request_id, args))
        except (ClientGone, asyncio.CancelledError):
            raise
        except RpcError as exc:
            return exc.reply(request_id)
        except Exception as exc:
            message = failure_message(exc, "request")
            if isinstance(exc, AzsdkRagError):
                return error_message(request_id, RAG_ERROR, message, {"type": type(exc).__name__})
            return error_message(request_id, INTERNAL, message)

    # -- methods -----------------------------------------------------------------------------------

    async def _initialize(self, _id: RequestId, params: InitializeParams) -> dict[str, Any]:
        if self._initialized:
            raise RpcError(INVALID_REQUEST, "'initialize' was already called.")
        params.check_version()
        if self._info.token is not None:
            await self._authenticate(params.token)
        if self._slot is not None and not self._slot.promote():
            logger.warning("refusing json-rpc client %s: too many connections", self._peer)
            self._closing = True
            raise RpcError(SERVER_BUSY, BUSY)
        self._initialized = True
        return self._info.initialize_result()

    async def _authenticate(self, given: Any) -> None:
        """Check the client's token (in constant time); a wrong one closes the connection and,
        per address, slows the next guess down."""
        assert self._info.token is not None
        host = self._peer.rsplit(":", 1)[0]
        ok = isinstance(given, str) and hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), self._info.token.encode("utf-8")
        )
        if not ok:
            logger.warning("refused json-rpc client %s: bad or missing token", self._peer)
            self._closing = True
            if self._admission is not None:
                await asyncio.sleep(self._admission.failed(host))
            raise RpcError(UNAUTHORIZED, "Unauthorized: the token is missing or wrong.")
        if self._admission is not None:
            self._admission.succeeded(host)

    async def _status(self, _id: RequestId, _params: None) -> Any:
        return await self._status_cache.get()

    async def _shutdown(self, _id: RequestId, _params: None) -> None:
        self._shut_down = True

    async def _session_reset(self, _id: RequestId, params: SessionParams) -> None:
        self._sessions.reset(params.sessionId)

    async def _retrieve(self, _id: RequestId, params: QuestionParams) -> dict[str, Any]:
        options = params.rag_options(self._sessions.resolve(params.sessionId))
        return (await self._rag.aretrieve_context(params.question, **options)).to_dict()

    async def _ask(self, request_id: RequestId, params: QuestionParams) -> dict[str, Any]:
        options = params.rag_options(self._sessions.resolve(params.sessionId))

        async def forward(event: StreamEvent) -> None:
            await self._sender.send(answer_notification(request_id, event))

        stream = self._rag.astream(params.question, **options)
        return (await answer_from(stream, params.question, forward)).to_dict()


METHODS: dict[str, Method] = {
    "initialize": Method(JsonRpcConnection._initialize, InitializeParams),
    "ask": Method(JsonRpcConnection._ask, QuestionParams, long=True),
    "retrieve": Method(JsonRpcConnection._retrieve, QuestionParams, long=True),
    "status": Method(JsonRpcConnection._status),
    "session/reset": Method(JsonRpcConnection._session_reset, SessionParams),
    "shutdown": Method(JsonRpcConnection._shutdown),
}
"""The request methods a client may call (docs/protocol.md); anything else is -32601."""


def _uncancel() -> None:
    """We caught our own cancellation on purpose: tell the task (Python 3.11+)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()
