"""A loopback server that speaks Azure OpenAI's (and OpenAI's) chat and embeddings wire protocol.

Tests drive the *real* ``openai`` / ``langchain_openai`` clients against it instead of stubbing
them, so retries, SSE parsing, base64 embeddings, headers and error mapping run for real. Stdlib
only (plus a pytest fixture). Use it as a context manager or the ``azure_openai_server`` fixture::

    with AzureOpenAIServer() as srv:
        srv.script(Reply.throttle(retry_after=1), Reply.answer("hello"))
        settings = Settings(azure_openai_endpoint=srv.endpoint, azure_openai_api_key="k")

Shapes follow what Azure sends (``prompt_filter_results``, ``content_filter_results``, the
``content_filter`` 400 body with ``innererror``, ``retry-after``/``retry-after-ms`` on 429) and
what the installed openai SDK parses (``openai/_streaming.py``,
``openai/lib/_parsing/_embeddings.py``, ``BaseClient._parse_retry_after_header``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
DEFAULT_DIMENSIONS = 1536

_AZURE_PATH = re.compile(
    r"^/openai/deployments/(?P<deployment>[^/]+)/(?P<op>chat/completions|embeddings)$"
)
_OPENAI_PATH = re.compile(r"^(?:/v1)?/(?P<op>chat/completions|embeddings)$")

_SAFE = {"filtered": False, "severity": "safe"}
_NOT_DETECTED = {"filtered": False, "detected": False}


def _prompt_filter_results() -> list[dict[str, Any]]:
    return [
        {
            "prompt_index": 0,
            "content_filter_results": {
                "hate": _SAFE,
                "jailbreak": _NOT_DETECTED,
                "self_harm": _SAFE,
                "sexual": _SAFE,
                "violence": _SAFE,
            },
        }
    ]


def _completion_filter_results(filtered: str | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {
        "hate": _SAFE,
        "protected_material_code": _NOT_DETECTED,
        "protected_material_text": _NOT_DETECTED,
        "self_harm": _SAFE,
        "sexual": _SAFE,
        "violence": _SAFE,
    }
    if filtered:
        results[filtered] = {"filtered": True, "severity": "high"}
    return results


# -- scripted replies ------------------------------------------------------------------------------


@dataclass
class Reply:
    """One scripted answer: a text, or an HTTP error, with optional delays and a cut stream.

    ``times`` repeats the reply for that many requests; ``None`` repeats it forever (it then stays
    at the head of the queue).
    """

    text: str | None = None
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"
    filtered_category: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    times: int | None = 1

    # -- constructors for the cases tests need -------------------------------------------------

    @classmethod
    def answer(cls, text: str, **kw: Any) -> Reply:
        return cls(text=text, **kw)

    @classmethod
    def throttle(cls, retry_after: float = 1, *, times: int | None = 1, ms: bool = True) -> Reply:
        """Azure's 429: ``retry-after`` in whole seconds, and ``retry-after-ms`` (SDK prefers)."""
        headers = {
            "retry-after": str(max(1, round(retry_after))),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-remaining-tokens": "0",
        }
        if ms:
            headers["retry-after-ms"] = str(int(retry_after * 1000))
        message = (
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
            "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
            f"Please retry after {headers['retry-after']} second."
        )
        return cls(
            status=429, body={"error": {"code": "429", "message": message}}, headers=headers,
            times=times,
        )

    @classmethod
    def unauthorized(cls, *, message: str | None = None, times: int | None = 1) -> Reply:
        message = message or (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
            "provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource."
        )
        return cls(status=401, body={"error": {"code": "401", "message": message}}, times=times)

    @classmethod
    def forbidden(cls, *, times: int | None = 1) -> Reply:
        body = {"error": {"code": "PermissionDenied",
                          "message": "Principal does not have access to API/Operation."}}
        return cls(status=403, body=body, times=times)

    @classmethod
    def server_error(cls, status: int = 500, *, times: int | None = 1) -> Reply:
        body = {"error": {"code": "InternalServerError",
                          "message": "The server had an error while processing your request."}}
        return cls(status=status, body=body, times=times)

    @classmethod
    def content_filter_error(cls, category: str = "hate") -> Reply:
        """The prompt was filtered: Azure answers HTTP 400 with code ``content_filter``."""
        result = _prompt_filter_results()[0]["content_filter_results"]
        result = {**result, category: {"filtered": True, "severity": "high"}}
        body = {
            "error": {
                "message": (
                    "The response was filtered due to the prompt triggering Azure OpenAI's "
                    "content management policy. Please modify your prompt and retry. To learn "
                    "more about our content filtering policies please read our documentation: "
                    "https://go.microsoft.com/fwlink/?linkid=2198766"
                ),
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": result,
                },
            }
        }
        return cls(status=400, body=body)

    @classmethod
    def content_filter_finish(cls, partial: str = "", category: str = "violence") -> Reply:
        """A filtered completion: HTTP 200, ``partial`` text, finish_reason ``content_filter``."""
        return cls(text=partial, finish_reason="content_filter", filtered_category=category)

    @classmethod
    def slow(cls, seconds: float, text: str | None = None) -> Reply:
        return cls(text=text, delay=seconds)

    @classmethod
    def cut(cls, text: str, after_chunks: int = 2) -> Reply:
        """Stream ``after_chunks`` content chunks of ``text``, then drop the connection."""
        return cls(text=text, cut_after=after_chunks)


@dataclass(frozen=True)
class RecordedRequest:
    """What a client sent: method, path without query, query (first values), headers, JSON body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any

    @property
    def is_chat(self) -> bool:
        return self.path.endswith("/chat/completions")

    @property
    def is_embeddings(self) -> bool:
        return self.path.endswith("/embeddings")

    @property
    def deployment(self) -> str | None:
        match = _AZURE_PATH.match(self.path)
        return match["deployment"] if match else None


# -- pure helpers (also used by tests to compute expected values) --------------------------------


def message_text(content: Any) -> str:
    """Text of a chat message's ``content`` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def default_answer(body: dict[str, Any]) -> str:
    """The answer when nothing is scripted: checkable, derived from the last user turn."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    last = message_text(users[-1].get("content")) if users else ""
    return f"You asked: {last}"


def split_chunks(text: str) -> list[str]:
    """How the server splits an answer into SSE deltas: one word (with its trailing space) each."""
    return re.findall(r"\S+\s*|\s+", text) or ([text] if text else [])


def embedding_vector(item: str | list[int], dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """A deterministic unit-ish vector for one input (text or token ids), exact in float32."""
    text = item if isinstance(item, str) else "tokens:" + ",".join(map(str, item))
    key = text.encode()
    raw = bytearray()
    for counter in itertools.count():
        if len(raw) >= 4 * dimensions:
            break
        raw += hashlib.sha256(key + counter.to_bytes(4, "little")).digest()
    ints = struct.unpack(f"<{dimensions}I", bytes(raw[: 4 * dimensions]))
    values = [(i / 0xFFFFFFFF) * 2.0 - 1.0 for i in ints]
    # Round-trip through float32 so the float and base64 formats carry identical values.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *values)))


def encode_base64(vector: list[float]) -> str:
    """What the SDK decodes with ``np.frombuffer(b64decode(s), dtype="float32")``."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _count_tokens(body: dict[str, Any]) -> int:
    return sum(len(message_text(m.get("content")).split()) + 4 for m in body.get("messages", []))


# -- the server ----------------------------------------------------------------------------------


class AzureOpenAIServer:
    """Serve chat completions and embeddings on ``127.0.0.1:<ephemeral>`` from a background thread.

    ``api_key``: if set, requests must carry it in ``api-key`` (or any ``Authorization: Bearer``
    token when ``accept_bearer``) or get Azure's 401. ``deployments``: if set, other deployment
    names get Azure's 404 ``DeploymentNotFound``. ``responder`` replaces :func:`default_answer`.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        accept_bearer: bool = True,
        deployments: set[str] | None = None,
        dimensions: int = DEFAULT_DIMENSIONS,
        model: str = DEFAULT_MODEL,
        responder: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        self.api_key = api_key
        self.accept_bearer = accept_bearer
        self.deployments = deployments
        self.dimensions = dimensions
        self.model = model
        self.responder = responder or default_answer
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []  # handler crashes (not dropped connections)
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> AzureOpenAIServer:
        handler = type("_Handler", (_Handler,), {"owner": self})
        httpd = _Server(("127.0.0.1", 0), handler)
        httpd.owner = self
        httpd.daemon_threads = True
        httpd.block_on_close = False  # a handler sleeping for a slow reply must not hold up stop()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="azure-openai-server",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AzureOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        """The ``AZURE_OPENAI_ENDPOINT`` to configure (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The base URL for an OpenAI-compatible client (``/v1``)."""
        return f"{self.endpoint}/v1"

    # -- scripting and inspection --------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies; each request takes the head of the queue, then the default echo."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_chat]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_embeddings]

    def vector(self, item: str | list[int], dimensions: int | None = None) -> list[float]:
        return embedding_vector(item, dimensions or self.dimensions)

    # -- internals used by the handler ---------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self) -> Reply | None:
        with self._lock:
            if not self._queue:
                return None
            head = self._queue[0]
            if head.times is None:
                return head
            head.times -= 1
            if head.times <= 0:
                self._queue.pop(0)
            return head

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _next_id(self) -> str:
        return f"chatcmpl-test{next(self._ids):06d}"


class _Server(ThreadingHTTPServer):
    owner: AzureOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, closed pools) are normal here; keep other errors."""
        import sys

        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, (ConnectionError, TimeoutError)):
            self.owner.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    owner: AzureOpenAIServer
    protocol_version = "HTTP/1.1"  # keep-alive and chunked transfer, like the real service

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # -- plumbing --------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", self.owner._next_id())
        self.send_header("apim-request-id", self.owner._next_id())
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _error(self, status: int, code: str, message: str) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}})

    def do_GET(self) -> None:
        self._error(404, "404", "Resource not found")

    def do_POST(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._handle_post()

    def _handle_post(self) -> None:
        owner = self.owner
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner._record(RecordedRequest("POST", url.path, query, headers, body))

        azure = _AZURE_PATH.match(url.path)
        plain = _OPENAI_PATH.match(url.path)
        if not (azure or plain) or not isinstance(body, dict):
            self._error(404, "404", "Resource not found")
            return
        if azure and "api-version" not in query:
            self._error(404, "404", "Resource not found")
            return
        reply = owner._next_reply() or Reply()  # a scripted error wins over the checks below
        owner._sleep(reply.delay)
        if reply.status != 200:
            self._send_json(reply.status, reply.body or {}, reply.headers)
            return
        if owner.api_key is not None and not self._authorized(headers):
            self._error(401, "401", "Access denied due to invalid subscription key or wrong API "
                        "endpoint. Make sure to provide a valid key for an active subscription and "
                        "use a correct regional API endpoint for your resource.")
            return
        if azure and owner.deployments is not None and azure["deployment"] not in owner.deployments:
            self._error(404, "DeploymentNotFound", "The API deployment for this resource does not "
                        "exist. If you created the deployment within the last 5 minutes, please "
                        "wait a moment and try again.")
            return
        op = (azure or plain)["op"]  # type: ignore[index]
        if op == "embeddings":
            self._embeddings(body, reply)
        elif body.get("stream"):
            self._chat_stream(body, reply, is_azure=bool(azure))
        else:
            self._chat_json(body, reply, is_azure=bool(azure))

    def _authorized(self, headers: dict[str, str]) -> bool:
        if headers.get("api-key") == self.owner.api_key:
            return True
        auth = headers.get("authorization", "")
        if auth == f"Bearer {self.owner.api_key}":
            return True
        return self.owner.accept_bearer and auth.startswith("Bearer ") and len(auth) > 7

    # -- chat --------------------------------------------------------------------------------------

    def _answer(self, body: dict[str, Any], reply: Reply) -> str:
        return reply.text if reply.text is not None else self.owner.responder(body)

    def _usage(self, body: dict[str, Any], completion: int) -> dict[str, Any]:
        prompt = _count_tokens(body)
        return {
            "completion_tokens": completion,
            "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                          "reasoning_tokens": 0, "rejected_prediction_tokens": 0},
            "prompt_tokens": prompt,
            "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
            "total_tokens": prompt + completion,
        }

    def _model(self, body: dict[str, Any], is_azure: bool) -> str:
        return self.owner.model if is_azure else str(body.get("model") or self.owner.model)

    def _chat_json(self, body: dict[str, Any], reply: Reply, *, is_azure: bool) -> None:
        text = self._answer(body, reply)
        filtered = reply.finish_reason == "content_filter"
        choice: dict[str, Any] = {
            "finish_reason": reply.finish_reason,
            "index": 0,
            "logprobs": None,
            "message": {"annotations": [], "content": text or None, "refusal": None,
                        "role": "assistant"},
        }
        payload: dict[str, Any] = {
            "choices": [choice],
            "created": int(time.time()),
            "id": self.owner._next_id(),
            "model": self._model(body, is_azure),
            "object": "chat.completion",
            "system_fingerprint": "fp_test",
            "usage": self._usage(body, len(split_chunks(text))),
        }
        if is_azure:
            category = reply.filtered_category if filtered else None
            choice["content_filter_results"] = _completion_filter_results(category)
            payload["prompt_filter_results"] = _prompt_filter_results()
        self._send_json(200, payload, reply.headers)

    def _chat_stream(self, body: dict[str, Any], reply: Reply, *, is_azure: bool) -> None:
        text = self._answer(body, reply)
        pieces = split_chunks(text)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        cid, created, model = self.owner._next_id(), int(time.time()), self._model(body, is_azure)

        def chunk(delta: dict[str, Any] | None, finish: str | None = None,
                  filters: dict[str, Any] | None = None) -> dict[str, Any]:
            choice: dict[str, Any] = {"delta": delta, "finish_reason": finish, "index": 0,
                                      "logprobs": None}
            if is_azure:
                choice["content_filter_results"] = filters if filters is not None else {}
            data: dict[str, Any] = {"choices": [choice], "created": created, "id": cid,
                                    "model": model, "object": "chat.completion.chunk",
                                    "system_fingerprint": "fp_test"}
            if include_usage:
                data["usage"] = None
            return data

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", cid)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()

        if is_azure:  # Azure opens with the prompt's filter verdict and an otherwise empty chunk
            self._event({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                         "prompt_filter_results": _prompt_filter_results()})
        self._event(chunk({"content": "", "refusal": None, "role": "assistant"}))
        for n, piece in enumerate(pieces):
            if reply.cut_after is not None and n >= reply.cut_after:
                self._drop()
                return
            self.owner._sleep(reply.chunk_delay)
            self._event(chunk({"content": piece}, filters=_completion_filter_results()))
        if reply.cut_after is not None:
            self._drop()
            return
        filters = {}
        if reply.finish_reason == "content_filter":
            filters = _completion_filter_results(reply.filtered_category)
        self._event(chunk({}, reply.finish_reason, filters))
        if include_usage:
            self._event({"choices": [], "created": created, "id": cid, "model": model,
                         "object": "chat.completion.chunk", "system_fingerprint": "fp_test",
                         "usage": self._usage(body, len(pieces))})
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # the terminating zero-length chunk

    def _event(self, data: dict[str, Any]) -> None:
        self._write_chunk(f"data: {json.dumps(data)}\n\n".encode())

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Close mid-body (no terminating chunk), as when a connection breaks mid-answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- embeddings ----------------------------------------------------------------------------

    def _embeddings(self, body: dict[str, Any], reply: Reply) -> None:
        items = _embedding_inputs(body.get("input"))
        if items is None:
            self._error(400, "invalid_request_error", "'input' is not valid")
            return
        dims = int(body.get("dimensions") or self.owner.dimensions)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, item in enumerate(items):
            vector = embedding_vector(item, dims)
            data.append({"object": "embedding", "index": index,
                         "embedding": encode_base64(vector) if as_base64 else vector})
        tokens = sum(len(i) if isinstance(i, list) else len(i.split()) for i in items)
        payload = {"object": "list", "data": data, "model": "text-embedding-ada-002",
                   "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        self._send_json(200, payload, reply.headers)


def _embedding_inputs(value: Any) -> list[str | list[int]] | None:
    """Normalise ``input``: a string, a list of strings, a token list, or a list of token lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value]
    if isinstance(value, list) and all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(t, int) for t in v))
        for v in value
    ):
        return list(value)
    return None


@pytest.fixture
def azure_openai_server() -> Iterator[AzureOpenAIServer]:
    """A fresh loopback Azure OpenAI server per test (import it into a test module or conftest)."""
    with AzureOpenAIServer() as srv:
        yield srv
