"""JSON-RPC 2.0 messages: the error codes, encoding a message, and reading one that came in.

Everything here is about one message at a time; :mod:`azsdk_rag.server.jsonrpc` holds the
connection that sends and receives them. docs/protocol.md is the spec.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from azsdk_rag.languages import language_ids
from azsdk_rag.server import connection
from azsdk_rag.server.framing import BUSY, Writer, encode_frame
from azsdk_rag.types import DeltaEvent, RouteEvent, SourcesEvent

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

RequestId = str | int | float | None


@dataclass(frozen=True)
class ServerInfo:
    """What ``initialize`` reports, and the token clients must present (``None``: no auth)."""

    version: str
    languages: tuple[str, ...] | None = None
    """``None``: the languages registered when a client initializes."""
    token: str | None = None
    name: str = "azsdk-rag"

    def initialize_result(self) -> dict[str, Any]:
        """The result of a successful ``initialize``."""
        languages = self.languages if self.languages is not None else language_ids()
        return {
            "protocolVersion": PROTOCOL_VERSION,
            "serverInfo": {"name": self.name, "version": self.version},
            "capabilities": {"streaming": True, "cancel": True, "languages": list(languages)},
        }


class RpcError(Exception):
    """A JSON-RPC error response: the message is shown to the client as-is.

    ``request_id`` is the id to answer with, when the error is raised before a request is known
    (a malformed message gets ``null``).
    """

    def __init__(self, code: int, message: str, data: Any = None,
                 request_id: RequestId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.request_id = request_id

    def reply(self, request_id: RequestId = None) -> bytes:
        """This error as the framed response to ``request_id`` (default: its own)."""
        return error_message(request_id if request_id is not None else self.request_id,
                             self.code, self.message, self.data)


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


def result_message(request_id: RequestId, result: Any) -> bytes:
    return encode_message({"jsonrpc": "2.0", "id": request_id, "result": result})


def notification(method: str, params: dict[str, Any]) -> bytes:
    return encode_message({"jsonrpc": "2.0", "method": method, "params": params})


def answer_notification(
    request_id: RequestId, event: RouteEvent | SourcesEvent | DeltaEvent
) -> bytes:
    """One event of an ``ask``'s stream as its ``answer/*`` notification."""
    params: dict[str, Any] = {"requestId": request_id}
    if isinstance(event, RouteEvent):
        return notification("answer/route", {**params, "route": event.route.to_dict()})
    if isinstance(event, SourcesEvent):
        sources = [source.to_dict() for source in event.sources]
        return notification("answer/sources", {**params, "sources": sources})
    return notification("answer/delta", {**params, "text": event.text})


async def refuse(writer: Writer, message: str = BUSY, code: int = SERVER_BUSY) -> None:
    """Turn away a connection over the limit: one error with a null id, then close."""
    await connection.refuse(writer, error_message(None, code, message))


def valid_id(value: Any) -> bool:
    """Whether ``value`` may be a request id: a string (not too long), a finite number, null."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return len(value) <= _MAX_ID_CHARS
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int)


@dataclass(frozen=True)
class Incoming:
    """A well-formed request (``is_request``: it has an id and wants a reply) or notification."""

    method: str
    params: dict[str, Any] | list[Any]
    id: RequestId = None
    is_request: bool = False


def _invalid(message: str, request_id: RequestId = None) -> RpcError:
    return RpcError(INVALID_REQUEST, message, request_id=request_id)


def read_message(body: bytes) -> Incoming | None:
    """One framed body as a request or notification; ``None`` for a response (we send no
    requests, so there is nothing to match it with). Raises :class:`RpcError` (with the id to
    answer) for a body that is not one JSON-RPC message.

    >>> read_message(b'{"jsonrpc":"2.0","id":1,"method":"status"}').method
    'status'
    """
    try:
        message = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RpcError(PARSE_ERROR, "Parse error: not UTF-8 text.") from None
    except (ValueError, RecursionError):
        raise RpcError(PARSE_ERROR, "Parse error: not valid JSON.") from None
    if isinstance(message, list):
        raise _invalid("Batches are not supported: send one message.")
    if not isinstance(message, dict):
        raise _invalid("A message must be an object.")
    has_id = "id" in message
    request_id = message.get("id")
    if has_id and not valid_id(request_id):
        raise _invalid("The id must be a string or a number.")
    method = message.get("method")
    if method is None and has_id and ("result" in message or "error" in message):
        return None
    reply_id = request_id if has_id else None
    if message.get("jsonrpc") != "2.0":
        raise _invalid("'jsonrpc' must be \"2.0\".", reply_id)
    if not isinstance(method, str) or not method:
        raise _invalid("'method' must be a non-empty string.", reply_id)
    params = message.get("params")
    if params is None:
        params = {}
    if not isinstance(params, (dict, list)):
        raise _invalid("'params' must be an object or an array.", reply_id)
    return Incoming(method, params, reply_id, has_id)
