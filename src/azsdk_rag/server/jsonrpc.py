"""JSON-RPC 2.0 over LSP base-protocol framing: one :class:`JsonRpcConnection` per client.

Speaks exactly what ``vscode-jsonrpc``'s ``createMessageConnection`` expects: ``initialize``, then
``ask`` (streamed as ``answer/*`` notifications, then the whole answer as the result),
``retrieve`` (what ``ask`` would send to a model: route, sources, context, messages),
``session/reset``, ``status``, ``shutdown``, the ``exit`` and ``$/cancelRequest`` notifications.
Requests run concurrently, so a long ``ask`` never blocks a cancel or a ``status``. The same class
serves a TCP connection and stdio; docs/protocol.md is the spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from azsdk_rag.errors import AzsdkRagError
from azsdk_rag.languages import language_ids, resolve_language
from azsdk_rag.server.admission import Admission, Slot
from azsdk_rag.server.framing import (
    BUSY,
    INTERNAL_ERROR,
    NO_ANSWER,
    FramingError,
    IdleTimeout,
    Limits,
    MessageTooLarge,
    Stopped,
    Writer,
    close_writer,
    encode_frame,
    log_failure,
    next_input,
    one_line,
    read_frame,
)
from azsdk_rag.server.status import StatusCache
from azsdk_rag.types import (
    Answer,
    DeltaEvent,
    DoneEvent,
    Hint,
    RagService,
    Route,
    RouteEvent,
    Source,
    SourcesEvent,
)

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "1"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL = -32603
SERVER_BUSY = -32000
RAG_ERROR = -32001
SERVER_NOT_INITIALIZED = -32002
UNAUTHORIZED = -32003
REQUEST_CANCELLED = -32800

_MAX_ID_CHARS = 200
_MAX_SESSION_CHARS = 200
_MAX_LANGUAGE_CHARS = 64
_MAX_MANIFESTS = 64
_MAX_MANIFEST_CHARS = 260
_MAX_HISTORY = 200
_MAX_HISTORY_CHARS = 100_000  # one earlier answer (markdown with code) may be long
_LONG_METHODS = frozenset({"ask", "retrieve"})  # run in tasks, concurrently and cancellable

RequestId = str | int | float | None
Handler = Callable[[RequestId, dict[str, Any]], Awaitable[Any]]


class RpcError(Exception):
    """A JSON-RPC error response: the message is shown to the client as-is."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class ClientGone(Exception):
    """The client cannot be written to any more (closed, reset, or not reading)."""


@dataclass(frozen=True)
class ServerInfo:
    """What ``initialize`` reports, and the token clients must present (``None``: no auth)."""

    version: str
    languages: tuple[str, ...] | None = None
    """``None``: the languages registered when a client initializes."""
    token: str | None = None
    name: str = "azsdk-rag"


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``null`` (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def encode_message(message: dict[str, Any]) -> bytes:
    """A JSON-RPC message, framed, as strict JSON whatever the RAG put in it: unknown types as
    strings, NaN as ``null``, unencodable text (lone surrogates) as '?'."""
    options: dict[str, Any] = {
        "ensure_ascii": False,
        "separators": (",", ":"),
        "default": str,
        "allow_nan": False,
    }
    try:
        body = json.dumps(message, **options)
    except ValueError:
        body = json.dumps(_finite(message), **options)
    return encode_frame(body.encode("utf-8", "replace"))


def error_message(request_id: RequestId, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return encode_message({"jsonrpc": "2.0", "id": request_id, "error": error})


async def refuse(writer: Writer, message: str = BUSY, code: int = SERVER_BUSY) -> None:
    """Turn away a connection over the limit: one error with a null id, then close."""
    with contextlib.suppress(OSError, RuntimeError):
        writer.write(error_message(None, code, message))
    await close_writer(writer)


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return len(value) <= _MAX_ID_CHARS
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int)


def _same_version(value: Any) -> bool:
    """``"1"``, or the number ``1`` a client may send for it (``true`` is not a number here)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value == int(PROTOCOL_VERSION)
    return value == PROTOCOL_VERSION


def _text_param(params: dict[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    """A string parameter, checked for type, length and encodability."""
    value = params.get(name)
    if value is None:
        if required:
            raise RpcError(INVALID_PARAMS, f"'{name}' is required and must be a string.")
        return None
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, f"'{name}' must be a string.")
    if len(value) > limit:
        raise RpcError(INVALID_PARAMS, f"'{name}' is longer than {limit} characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RpcError(INVALID_PARAMS, f"'{name}' is not valid Unicode text.") from None
    return value


def _hint_param(params: dict[str, Any]) -> Hint | None:
    """The optional ``hint``: ``{languageId?: string, manifests?: string[]}``."""
    value = params.get("hint")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RpcError(INVALID_PARAMS, "'hint' must be an object.")
    language_id = _text_param(value, "languageId", _MAX_LANGUAGE_CHARS, required=False)
    manifests = value.get("manifests")
    if manifests is None:
        manifests = []
    if not isinstance(manifests, list) or not all(isinstance(m, str) for m in manifests):
        raise RpcError(INVALID_PARAMS, "'hint.manifests' must be an array of strings.")
    if len(manifests) > _MAX_MANIFESTS:
        raise RpcError(INVALID_PARAMS, f"'hint.manifests' has more than {_MAX_MANIFESTS} items.")
    for name in manifests:
        _text_param({"hint.manifests": name}, "hint.manifests", _MAX_MANIFEST_CHARS,
                    required=False)
    hint = Hint((language_id or "").strip() or None,
                tuple(name.strip() for name in manifests if name.strip()))
    return hint or None


def _history_param(params: dict[str, Any], limit: int) -> list[tuple[str, str]] | None:
    """The optional ``history``: ``[{role: "user"|"assistant", content: string}, ...]``."""
    value = params.get("history")
    if value is None:
        return None
    if not isinstance(value, list):
        raise RpcError(INVALID_PARAMS, "'history' must be an array of {role, content} objects.")
    if len(value) > _MAX_HISTORY:
        raise RpcError(INVALID_PARAMS, f"'history' has more than {_MAX_HISTORY} messages.")
    turns: list[tuple[str, str]] = []
    for item in value:
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            raise RpcError(
                INVALID_PARAMS,
                "Each 'history' item must be {role: \"user\" or \"assistant\", content: string}.",
            )
        content = _text_param(item, "content", limit, required=True)
        assert content is not None
        turns.append((item["role"], content))
    return turns


def _uncancel() -> None:
    """We caught our own cancellation on purpose: tell the task (Python 3.11+)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


async def _aclose(stream: AsyncIterator[Any]) -> None:
    """Close the RAG's stream (an async generator's ``finally`` runs) without masking our error."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception as exc:
        logger.debug("closing the answer stream failed: %s", type(exc).__name__)


class JsonRpcConnection:
    """One JSON-RPC client: reads framed messages, dispatches them, streams answers back."""

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
        self._rag = rag
        self._stdio = stdio
        self._status_cache = status or StatusCache(rag)
        self._slot = slot
        self._admission = admission
        self.end_reason = "the connection ended"
        """Why :meth:`run` returned, for the log (stdio: the process's last words)."""
        self.clean_exit = False
        """Whether it ended as the client asked: end of input, or ``exit`` after ``shutdown``."""
        self._reader = reader
        self._writer = writer
        self._limits = limits
        self._stop = stop
        self._info = info
        self._peer = peer
        self._id = uuid.uuid4().hex
        self._initialized = False
        self._shut_down = False
        self._closing = False
        self._inflight: dict[RequestId, asyncio.Task[None]] = {}
        self._cancelled: set[RequestId] = set()
        self._sessions: dict[str, str] = {}
        self._used_sessions: set[str] = set()
        self._drain_lock = asyncio.Lock()
        self._requests: dict[str, Handler] = {
            "ask": self._ask,
            "retrieve": self._retrieve,
            "status": self._status,
            "session/reset": self._session_reset,
            "shutdown": self._shutdown,
        }

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until end of stream, ``exit``, a bad frame, idleness or server shutdown."""
        logger.debug("json-rpc connection %s from %s", self._id[:8], self._peer)
        try:
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
                logger.info("closing json-rpc connection from %s: %s", self._peer,
                            self.end_reason)
            except MessageTooLarge as exc:
                self.end_reason = f"a message was too large: {exc}"
                await self._send_quietly(error_message(None, INVALID_REQUEST, str(exc)))
            except FramingError as exc:
                self.end_reason = f"the input is not LSP-framed JSON-RPC: {exc}"
                await self._send_quietly(error_message(None, PARSE_ERROR, f"Parse error: {exc}"))
            except (ClientGone, ConnectionError):
                self.end_reason = "the client cannot be written to any more"
        except Exception as exc:  # a bug here must not take the server down
            self.end_reason = f"internal error ({type(exc).__name__}; see the log)"
            log_failure(logger, "json-rpc connection", exc)
        finally:
            await self._cancel_inflight()
            self._forget_sessions()
            await close_writer(self._writer)
            logger.debug("json-rpc connection %s closed", self._id[:8])

    async def _read_loop(self) -> bool:
        """Read and dispatch messages; True at end of input, False after ``exit`` or a refusal."""
        loop = asyncio.get_running_loop()
        limits = self._limits
        started = loop.time()
        first = True
        while not self._closing:
            timeout: float | None = None
            why = f"it was idle for {limits.idle_timeout:g} s"
            if not self._stdio:
                timeout = limits.idle_timeout
                if not self._initialized:  # unauthenticated clients must not hold a slot long
                    timeout = max(0.0, started + limits.handshake_timeout - loop.time())
                    why = f"it did not initialize within {limits.handshake_timeout:g} s"
                if first:
                    wait = (limits.first_message_timeout if self._slot is None
                            else self._slot.first_message_wait())
                    if wait < timeout:
                        timeout = wait
                        why = f"it sent nothing within {limits.first_message_timeout:g} s"
            read = asyncio.ensure_future(read_frame(self._reader, limits))
            try:
                body = await next_input(read, self._stop, timeout,
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

    def _forget_sessions(self) -> None:
        """Sessions are private to a connection: free their history when it ends."""
        for session in self._used_sessions:
            try:
                self._rag.reset(session)
            except Exception as exc:
                logger.debug("resetting a session failed: %s", type(exc).__name__)
        self._used_sessions.clear()
        self._sessions.clear()

    # -- incoming messages -----------------------------------------------------------------------

    async def _dispatch(self, body: bytes) -> None:
        try:
            message = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            await self._send(error_message(None, PARSE_ERROR, "Parse error: not UTF-8 text."))
            return
        except (ValueError, RecursionError):
            await self._send(error_message(None, PARSE_ERROR, "Parse error: not valid JSON."))
            return
        if isinstance(message, list):
            await self._send(
                error_message(None, INVALID_REQUEST, "Batches are not supported: send one message.")
            )
            return
        if not isinstance(message, dict):
            await self._send(error_message(None, INVALID_REQUEST, "A message must be an object."))
            return

        has_id = "id" in message
        request_id = message.get("id")
        if has_id and not _valid_id(request_id):
            await self._send(
                error_message(None, INVALID_REQUEST, "The id must be a string or a number.")
            )
            return
        method = message.get("method")
        if method is None and has_id and ("result" in message or "error" in message):
            return  # a response: we send no requests, so there is nothing to match it with
        reply_id = request_id if has_id else None
        if message.get("jsonrpc") != "2.0":
            await self._send(error_message(reply_id, INVALID_REQUEST, "'jsonrpc' must be \"2.0\"."))
            return
        if not isinstance(method, str) or not method:
            await self._send(
                error_message(reply_id, INVALID_REQUEST, "'method' must be a non-empty string.")
            )
            return
        params = message.get("params")
        if params is None:
            params = {}
        if not isinstance(params, (dict, list)):
            await self._send(
                error_message(reply_id, INVALID_REQUEST, "'params' must be an object or an array.")
            )
            return
        if has_id:
            await self._on_request(request_id, method, params)
        else:
            self._on_notification(method, params)

    def _on_notification(self, method: str, params: dict[str, Any] | list[Any]) -> None:
        """Notifications get no reply, even when wrong; unknown ones are ignored (LSP rule)."""
        if method == "exit":
            self._closing = True
        elif method == "$/cancelRequest" and self._initialized and isinstance(params, dict):
            target = params.get("id")
            task = self._inflight.get(target) if _valid_id(target) else None
            if task is not None and not task.done():
                self._cancelled.add(target)
                task.cancel()
        else:
            logger.debug("ignored notification %.60r", method)

    async def _on_request(
        self, request_id: RequestId, method: str, params: dict[str, Any] | list[Any]
    ) -> None:
        if request_id in self._inflight:
            await self._send(
                error_message(request_id, INVALID_REQUEST, "A request with this id is running.")
            )
            return
        if method == "initialize":
            await self._send(await self._call(request_id, self._initialize, params))
            return
        if not self._initialized:
            await self._send(
                error_message(
                    request_id,
                    SERVER_NOT_INITIALIZED,
                    "The server is not initialized: send 'initialize' first.",
                )
            )
            return
        if self._shut_down:
            await self._send(
                error_message(request_id, INVALID_REQUEST, "The connection is shutting down.")
            )
            return
        handler = self._requests.get(method)
        if handler is None:
            await self._send(
                error_message(request_id, METHOD_NOT_FOUND, f"Unknown method {method[:80]!r}.")
            )
            return
        if method not in _LONG_METHODS:  # quick and synchronous: answer in order
            await self._send(await self._call(request_id, handler, params))
            return
        if len(self._inflight) >= self._limits.max_requests_per_connection:
            await self._send(
                error_message(
                    request_id,
                    SERVER_BUSY,
                    "Too many requests in flight "
                    f"(max {self._limits.max_requests_per_connection}).",
                )
            )
            return
        task = asyncio.create_task(self._run_request(request_id, handler, params))
        self._inflight[request_id] = task

    async def _run_request(
        self, request_id: RequestId, handler: Handler, params: dict[str, Any] | list[Any]
    ) -> None:
        """A request in its own task: send its response, or -32800 if the client cancelled it."""
        try:
            try:
                reply = await self._call(request_id, handler, params)
            except asyncio.CancelledError:
                if request_id not in self._cancelled:
                    raise  # shutdown or the client left: nobody to answer
                _uncancel()
                reply = error_message(request_id, REQUEST_CANCELLED, "The request was cancelled.")
            await self._send(reply)
        except ClientGone:
            pass
        finally:
            self._inflight.pop(request_id, None)
            self._cancelled.discard(request_id)

    async def _call(
        self, request_id: RequestId, handler: Handler, params: dict[str, Any] | list[Any]
    ) -> bytes:
        """Run a handler and turn its result or error into the framed response."""
        try:
            if not isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, "'params' must be an object.")
            result = await handler(request_id, params)
            return encode_message({"jsonrpc": "2.0", "id": request_id, "result": result})
        except (ClientGone, asyncio.CancelledError):
            raise
        except RpcError as exc:
            return error_message(request_id, exc.code, exc.message, exc.data)
        except AzsdkRagError as exc:
            message = one_line(str(exc)) or "The question could not be answered."
            return error_message(request_id, RAG_ERROR, message, {"type": type(exc).__name__})
        except Exception as exc:
            # Details (which may name endpoints) stay in the log; the client gets one safe line.
            log_failure(logger, "request", exc)
            return error_message(request_id, INTERNAL, INTERNAL_ERROR)

    # -- methods -----------------------------------------------------------------------------------

    async def _initialize(self, _id: RequestId, params: dict[str, Any]) -> dict[str, Any]:
        if self._initialized:
            raise RpcError(INVALID_REQUEST, "'initialize' was already called.")
        version = params.get("protocolVersion")
        if version is not None and not _same_version(version):
            shown = json.dumps(version, default=str)[:40]
            raise RpcError(
                INVALID_PARAMS,
                f"Unsupported protocolVersion {shown}: this server speaks protocol version "
                f'"{PROTOCOL_VERSION}" (send the string "{PROTOCOL_VERSION}", or leave it out).',
            )
        host = self._peer.rsplit(":", 1)[0]
        if self._info.token is not None:
            given = params.get("token")
            ok = isinstance(given, str) and hmac.compare_digest(
                given.encode("utf-8", "surrogatepass"), self._info.token.encode("utf-8")
            )
            if not ok:
                logger.warning("refused json-rpc client %s: bad or missing token", self._peer)
                self._closing = True
                if self._admission is not None:  # slow guessing down, per address
                    await asyncio.sleep(self._admission.failed(host))
                raise RpcError(UNAUTHORIZED, "Unauthorized: the token is missing or wrong.")
            if self._admission is not None:
                self._admission.succeeded(host)
        if self._slot is not None and not self._slot.promote():
            logger.warning("refusing json-rpc client %s: too many connections", self._peer)
            self._closing = True
            raise RpcError(SERVER_BUSY, BUSY)
        self._initialized = True
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "serverInfo": {"name": self._info.name, "version": self._info.version},
            "capabilities": {
                "streaming": True,
                "cancel": True,
                "languages": list(
                    self._info.languages if self._info.languages is not None else language_ids()
                ),
            },
        }

    async def _status(self, _id: RequestId, _params: dict[str, Any]) -> Any:
        return await self._status_cache.get()

    async def _shutdown(self, _id: RequestId, _params: dict[str, Any]) -> None:
        self._shut_down = True
        return None

    async def _session_reset(self, _id: RequestId, params: dict[str, Any]) -> None:
        key = _text_param(params, "sessionId", _MAX_SESSION_CHARS, required=False)
        session = self._sessions.pop(key, None) if key is not None else self._id
        if session is not None:
            self._rag.reset(session)
            if key is not None:
                self._used_sessions.discard(session)
        return None

    def _session(self, key: str | None) -> str:
        """The RAG's session id for a client's: namespaced, so clients never share history."""
        session: str | None
        if key is None:
            session = self._id
        else:
            session = self._sessions.get(key)
            if session is None:
                if len(self._sessions) >= self._limits.max_sessions_per_connection:
                    raise RpcError(
                        INVALID_PARAMS,
                        "Too many sessions on this connection "
                        f"(max {self._limits.max_sessions_per_connection}); reset one first.",
                    )
                session = self._sessions[key] = f"{self._id}:{key}"
        self._used_sessions.add(session)
        return session

    def _question_params(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``ask`` and ``retrieve``: the question, and the RAG's keyword arguments."""
        question = _text_param(params, "question", self._limits.max_question_chars, required=True)
        assert question is not None
        if not question.strip():
            raise RpcError(INVALID_PARAMS, "'question' is empty.")
        language = _text_param(params, "language", _MAX_LANGUAGE_CHARS, required=False)
        if language is not None:
            language = language.strip() or None
        if language is not None:
            try:
                language = resolve_language(language).id
            except ValueError as exc:
                raise RpcError(INVALID_PARAMS, str(exc)) from None
        hint = _hint_param(params)
        history = _history_param(params, _MAX_HISTORY_CHARS)
        key = _text_param(params, "sessionId", _MAX_SESSION_CHARS, required=False)
        session = self._session(key)
        options: dict[str, Any] = {"session_id": session, "language": language, "hint": hint}
        if history is not None:  # only then: a RAG without the keyword keeps working
            options["history"] = history
        return question, options

    async def _retrieve(self, _id: RequestId, params: dict[str, Any]) -> dict[str, Any]:
        question, options = self._question_params(params)
        return (await self._rag.aretrieve_context(question, **options)).to_dict()

    async def _ask(self, request_id: RequestId, params: dict[str, Any]) -> dict[str, Any]:
        question, options = self._question_params(params)
        route: Route | None = None
        sources: list[Source] = []
        parts: list[str] = []
        answer: Answer | None = None
        stream = self._rag.astream(question, **options)
        try:
            async for event in stream:
                if isinstance(event, DeltaEvent):
                    if event.text:
                        parts.append(event.text)
                        await self._notify(
                            "answer/delta", {"requestId": request_id, "text": event.text}
                        )
                elif isinstance(event, RouteEvent):
                    route = event.route
                    await self._notify(
                        "answer/route", {"requestId": request_id, "route": route.to_dict()}
                    )
                elif isinstance(event, SourcesEvent):
                    sources = list(event.sources)
                    await self._notify(
                        "answer/sources",
                        {"requestId": request_id, "sources": [s.to_dict() for s in sources]},
                    )
                elif isinstance(event, DoneEvent):
                    answer = event.answer
        finally:
            await _aclose(stream)

        streamed = "".join(parts)
        if answer is None:
            fallback = Route((), question, "none", "no route was reported")
            answer = Answer(streamed, route or fallback, sources)
        if not answer.text.strip():
            if streamed.strip():
                answer = Answer(streamed, answer.route, answer.sources)
            else:  # never leave the client with nothing to show
                await self._notify("answer/delta", {"requestId": request_id, "text": NO_ANSWER})
                answer = Answer(NO_ANSWER, answer.route, answer.sources)
        return answer.to_dict()

    # -- outgoing messages -----------------------------------------------------------------------

    async def _notify(self, method: str, params: dict[str, Any]) -> None:
        await self._send(encode_message({"jsonrpc": "2.0", "method": method, "params": params}))

    async def _send(self, data: bytes) -> None:
        """Write one framed message; wait (bounded) only when the client is behind."""
        if self._writer.is_closing():
            raise ClientGone
        try:
            self._writer.write(data)
        except OSError:
            raise ClientGone from None
        transport = getattr(self._writer, "transport", None)
        if transport is None or not transport.get_write_buffer_size():
            return  # the kernel took it all (or the writer blocks): nothing to wait for
        async with self._drain_lock:
            try:
                await asyncio.wait_for(self._writer.drain(), self._limits.write_timeout)
            except asyncio.TimeoutError:
                logger.info("dropping a json-rpc client that stopped reading: %s", self._peer)
                if transport is not None:
                    transport.abort()
                raise ClientGone from None
            except (ConnectionError, RuntimeError):
                raise ClientGone from None

    async def _send_quietly(self, data: bytes) -> None:
        with contextlib.suppress(ClientGone, ConnectionError, OSError):
            await self._send(data)
