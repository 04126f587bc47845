"""A loopback HTTP server that speaks the part of Qdrant's REST API azsdk-rag uses.

There is no Qdrant server binary on the test machines, so the fault tests run the real
``qdrant_client`` REST client against this stand-in: every request is parsed into the client's own
pydantic request models and answered by an in-memory Qdrant (``QdrantClient(":memory:")``), so the
answers are real Qdrant results in the REST envelope (``{"result", "status", "time"}``). It covers
the service root, collections (list, exists, get, create, payload index) and points (upsert,
retrieve, set and overwrite payload, scroll, count, delete, query): everything the store, the
indexer and the server search send. Anything else is a 404, so a new call shows up as a test
failure instead of silence.
Put :class:`~support.reliability_proxy.FaultProxy` in front of it to break connections.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel
from qdrant_client import QdrantClient, models

VERSION = "1.20.0"

Route = tuple[str, re.Pattern[str], str]
_ROUTES: list[Route] = [
    ("GET", re.compile(r"^/$"), "root"),
    ("GET", re.compile(r"^/collections$"), "collections"),
    ("GET", re.compile(r"^/collections/(?P<name>[^/]+)/exists$"), "exists"),
    ("GET", re.compile(r"^/collections/(?P<name>[^/]+)$"), "get_collection"),
    ("PUT", re.compile(r"^/collections/(?P<name>[^/]+)$"), "create_collection"),
    ("PUT", re.compile(r"^/collections/(?P<name>[^/]+)/index$"), "create_index"),
    ("PUT", re.compile(r"^/collections/(?P<name>[^/]+)/points$"), "upsert"),
    ("POST", re.compile(r"^/collections/(?P<name>[^/]+)/points$"), "retrieve"),
    ("PUT", re.compile(r"^/collections/(?P<name>[^/]+)/points/payload$"), "overwrite_payload"),
    ("POST", re.compile(r"^/collections/(?P<name>[^/]+)/points/payload$"), "set_payload"),
    ("POST", re.compile(r"^/collections/(?P<name>[^/]+)/points/scroll$"), "scroll"),
    ("POST", re.compile(r"^/collections/(?P<name>[^/]+)/points/count$"), "count"),
    ("POST", re.compile(r"^/collections/(?P<name>[^/]+)/points/delete$"), "delete"),
    ("POST", re.compile(r"^/collections/(?P<name>[^/]+)/points/query$"), "query"),
]


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


class FakeQdrantServer:
    """``with FakeQdrantServer() as q: Settings(qdrant_url=q.url)``; ``q.calls`` lists operations.

    ``api_key``: if set, requests must carry it in the ``api-key`` header (else 401, as Qdrant).
    ``hook(operation)`` runs before each operation (tests use it to inject faults at a point).
    """

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.backend = QdrantClient(location=":memory:")
        self.calls: list[str] = []
        self.bodies: list[tuple[str, Any]] = []  # (operation, request body) of every request
        self.headers: list[dict[str, str]] = []
        self.hook: Callable[[str], None] | None = None
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeQdrantServer:
        handler = type("_Handler", (_Handler,), {"owner": self})
        httpd = _Server(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="fake-qdrant",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.backend.close()

    def __enter__(self) -> FakeQdrantServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what the index holds (for assertions) --------------------------------------------------
    def snapshot(self, collection: str = "AzureSDKs") -> dict[str, str]:
        """Point id -> page content, straight from the backing store."""
        if not self.backend.collection_exists(collection):
            return {}
        out: dict[str, str] = {}
        offset: Any = None
        while True:
            points, offset = self.backend.scroll(collection, limit=512, offset=offset,
                                                 with_payload=True)
            out.update({str(p.id): (p.payload or {}).get("page_content", "") for p in points})
            if offset is None:
                return out

    # -- operations ------------------------------------------------------------------------------
    def handle(self, op: str, name: str, query: dict[str, str], body: Any) -> Any:
        with self._lock:  # the in-memory backend is not meant for concurrent writers
            self.calls.append(op)
            self.bodies.append((op, body))
            if self.hook is not None:
                self.hook(op)
            return getattr(self, f"_op_{op}")(name, query, body)

    def _op_root(self, _name: str, _q: dict[str, str], _b: Any) -> Any:
        return {"title": "qdrant - vector search engine", "version": VERSION}

    def _op_collections(self, _name: str, _q: dict[str, str], _b: Any) -> Any:
        return self.backend.get_collections()

    def _op_exists(self, name: str, _q: dict[str, str], _b: Any) -> Any:
        return {"exists": self.backend.collection_exists(name)}

    def _op_get_collection(self, name: str, _q: dict[str, str], _b: Any) -> Any:
        return self.backend.get_collection(name)

    def _op_create_collection(self, name: str, _q: dict[str, str], body: Any) -> Any:
        spec = models.CreateCollection.model_validate(body or {})
        return self.backend.create_collection(
            name, vectors_config=spec.vectors, sparse_vectors_config=spec.sparse_vectors,
            metadata=spec.metadata)

    def _op_create_index(self, _name: str, _q: dict[str, str], _b: Any) -> Any:
        return models.UpdateResult(operation_id=0, status=models.UpdateStatus.COMPLETED)

    def _op_upsert(self, name: str, _q: dict[str, str], body: Any) -> Any:
        batch = models.PointsList.model_validate(body)
        points = [models.PointStruct(id=p.id, vector=p.vector, payload=p.payload)
                  for p in batch.points]
        return self.backend.upsert(name, points=points, wait=True)

    def _op_retrieve(self, name: str, _q: dict[str, str], body: Any) -> Any:
        req = models.PointRequest.model_validate(body or {})
        return self.backend.retrieve(
            name, req.ids, with_payload=req.with_payload if req.with_payload is not None else True,
            with_vectors=req.with_vector if req.with_vector is not None else False)

    def _op_overwrite_payload(self, name: str, _q: dict[str, str], body: Any) -> Any:
        req = models.SetPayload.model_validate(body or {})
        return self.backend.overwrite_payload(name, payload=req.payload, points=req.points or [],
                                              wait=True)

    def _op_set_payload(self, name: str, _q: dict[str, str], body: Any) -> Any:
        req = models.SetPayload.model_validate(body or {})
        return self.backend.set_payload(name, payload=req.payload, points=req.points or [],
                                        key=req.key, wait=True)

    def _op_scroll(self, name: str, _q: dict[str, str], body: Any) -> Any:
        req = models.ScrollRequest.model_validate(body or {})
        points, offset = self.backend.scroll(
            name, scroll_filter=req.filter, limit=req.limit or 10, offset=req.offset,
            with_payload=req.with_payload if req.with_payload is not None else True,
            with_vectors=req.with_vector if req.with_vector is not None else False)
        return {"points": _dump(points), "next_page_offset": offset}

    def _op_count(self, name: str, _q: dict[str, str], body: Any) -> Any:
        req = models.CountRequest.model_validate(body or {})
        return self.backend.count(name, count_filter=req.filter, exact=req.exact is not False)

    def _op_delete(self, name: str, _q: dict[str, str], body: Any) -> Any:
        if "points" in (body or {}):
            selector: Any = models.PointIdsList.model_validate(body)
        else:
            selector = models.FilterSelector.model_validate(body)
        return self.backend.delete(name, points_selector=selector, wait=True)

    def _op_query(self, name: str, _q: dict[str, str], body: Any) -> Any:
        req = models.QueryRequest.model_validate(body or {})
        return self.backend.query_points(
            name, query=req.query, using=req.using, query_filter=req.filter,
            prefetch=req.prefetch, search_params=req.params,
            limit=req.limit or 10, with_payload=req.with_payload
            if req.with_payload is not None else False,
            with_vectors=req.with_vector if req.with_vector is not None else False)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections reset by the fault proxy are the point of the tests: stay quiet."""
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeQdrantServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _dispatch(self) -> None:
        started = time.perf_counter()
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.owner.headers.append(headers)
        if self.owner.api_key is not None and headers.get("api-key") != self.owner.api_key:
            self._reply(401, {"status": {"error": "Unauthorized: invalid api-key"}, "time": 0})
            return
        found = [(op, m) for method, pattern, op in _ROUTES
                 if method == self.command and (m := pattern.match(url.path))]
        if not found:
            self._reply(404, {"status": {"error": f"Not found: {url.path}"}, "time": 0})
            return
        op, match = found[0]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.loads(raw) if raw else None
        try:
            result = self.owner.handle(op, match.groupdict().get("name", ""), query, body)
        except (ValueError, KeyError) as exc:  # Qdrant's own "Bad request" / "Not found"
            status = 404 if "not found" in str(exc).lower() else 400
            self._reply(status, {"status": {"error": str(exc)}, "time": 0})
            return
        elapsed = time.perf_counter() - started
        if op == "root":
            self._reply(200, result)
        else:
            self._reply(200, {"result": _dump(result), "status": "ok", "time": elapsed})

    def do_GET(self) -> None:
        with contextlib.suppress(ConnectionError):
            self._dispatch()

    do_PUT = do_GET
    do_POST = do_GET


@contextlib.contextmanager
def fake_qdrant(**kwargs: Any) -> Iterator[FakeQdrantServer]:
    with FakeQdrantServer(**kwargs) as server:
        yield server
