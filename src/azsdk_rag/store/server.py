"""A Qdrant server (``AZSDK_RAG_QDRANT_URL``) through qdrant-client: connection, errors, queries.

A server is for an index that is too big or too shared for one machine's folder (see
docs/scaling.md). Writes go to the collection in place, batch by batch; ids are deterministic, so
an ingest that stops half-way and runs again ends with exactly the index of a clean run.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from ..errors import StoreError
from ..settings import Settings
from ..types import EmbedderInfo
from .base import (
    DENSE,
    DENSE_EF,
    INDEXED_FIELDS,
    LANGUAGE,
    RECORD_KEY,
    RRF_K,
    SCHEMA,
    SPARSE,
    Point,
    Sparse,
    Store,
    counts_by_language,
    point_of,
)

log = logging.getLogger(__name__)


def open_client(settings: Settings) -> QdrantClient:
    """Connect to the server, turning failures into one sentence."""
    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    try:
        with warnings.catch_warnings():  # a Python warning prints two lines of source
            warnings.filterwarnings("ignore", "Api key is used with an insecure connection")
            client = QdrantClient(url=settings.qdrant_url, api_key=key,
                                  timeout=max(1, math.ceil(settings.request_timeout)),
                                  check_compatibility=False)
        if key and str(settings.qdrant_url).startswith("http://"):
            log.info("the Qdrant API key goes to %s over plain http", settings.qdrant_url)
        client.get_collections()
    except Exception as exc:
        if _status(exc) in (401, 403):
            raise StoreError(server_failure(settings, exc)) from None
        raise StoreError(
            f"Cannot reach the Qdrant server at {settings.qdrant_url} "
            f"({type(exc).__name__}); is it running, and is AZSDK_RAG_QDRANT_URL right?"
        ) from None
    return client


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def server_failure(settings: Settings, exc: BaseException) -> str:
    where = f"The Qdrant server at {settings.qdrant_url}"
    status = _status(exc)
    if status in (401, 403):
        return f"{where} rejected the API key ({status}): check AZSDK_RAG_QDRANT_API_KEY."
    if status is not None:
        return f"{where} answered with an error ({status}); check its log and try again."
    source = getattr(exc, "source", None) or exc.__context__ or exc
    if "Timeout" in type(source).__name__:
        return (f"{where} did not answer within {settings.request_timeout:g} s; try again, or "
                "raise AZSDK_RAG_REQUEST_TIMEOUT.")
    return f"{where} dropped the connection ({type(source).__name__}); is it still running?"


@contextlib.contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """Re-raise a failure of the Qdrant server or of the index folder as one StoreError sentence.

    Without it a dropped connection escaped as qdrant_client's ResponseHandlingException (the
    CLI's "unexpected error"), or, during a query, was reported as a failure of the model.
    """
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    try:
        yield
    except StoreError:
        raise
    except (ResponseHandlingException, UnexpectedResponse) as exc:
        raise StoreError(server_failure(settings, exc)) from None
    except OSError as exc:
        if getattr(exc, "errno", None) == errno.ENOSPC:
            raise StoreError(
                f"The disk holding the index at {settings.location} is full; free some space "
                "and run the ingest again (the previous version of the index still serves)."
            ) from None
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise StoreError(f"Cannot use the index at {settings.location}: {reason}.") from None


def to_struct(point: Point) -> models.PointStruct:
    vector: dict[str, Any] = {}
    if point.dense is not None:
        vector[DENSE] = list(point.dense)
    if point.sparse is not None:
        vector[SPARSE] = models.SparseVector(indices=list(point.sparse[0]),
                                             values=list(point.sparse[1]))
    return models.PointStruct(id=point.id, vector=vector, payload=point.payload)


def language_filter(languages: Sequence[str]) -> models.Filter | None:
    if not languages:
        return None
    match = (models.MatchValue(value=languages[0]) if len(languages) == 1
             else models.MatchAny(any=list(languages)))
    return models.Filter(must=[models.FieldCondition(key=LANGUAGE, match=match)])


class ServerStore(Store):
    """One collection on a Qdrant server (or any ``QdrantClient``, as the tests' fake server)."""

    def __init__(self, client: QdrantClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.collection = settings.collection
        self._generation = 0  # bumped on every write of this process

    @classmethod
    def connect(cls, settings: Settings) -> ServerStore:
        return cls(open_client(settings), settings)

    def close(self) -> None:
        self.client.close()

    @property
    def generation(self) -> int:
        return self._generation

    @generation.setter
    def generation(self, value: int) -> None:
        self._generation = value

    def exists(self) -> bool:
        with store_errors(self.settings):
            return self.client.collection_exists(self.collection)

    def record(self) -> EmbedderInfo | None:
        with store_errors(self.settings):
            meta = self.client.get_collection(self.collection).config.metadata or {}
        rec = meta.get(RECORD_KEY)
        if not isinstance(rec, dict):
            return None
        return EmbedderInfo(rec["dense_model"], int(rec["dense_dim"]), rec["sparse_model"])

    def ensure_collection(self, info: EmbedderInfo) -> None:
        """Create the collection for these embedders, or check an existing one was built by them."""
        if self.exists():
            self.check_compatible(info)
            return
        with store_errors(self.settings):
            self.client.create_collection(
                self.collection,
                vectors_config={DENSE: models.VectorParams(size=info.dense_dim,
                                                           distance=models.Distance.COSINE)},
                sparse_vectors_config={
                    SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                shard_number=self.settings.shards, replication_factor=self.settings.replicas,
                metadata={RECORD_KEY: {**info.to_dict(), "schema": SCHEMA}},
            )
            for name in INDEXED_FIELDS:
                self.client.create_payload_index(self.collection, name,
                                                 models.PayloadSchemaType.KEYWORD)

    def count(self) -> int:
        if not self.exists():
            return 0
        with store_errors(self.settings):
            return self.client.count(self.collection, exact=True).count

    def points(self, keys: Sequence[str] | None = None, *, vectors: bool = False,
               batch: int = 1024) -> Iterator[Point]:
        if not self.exists():
            return
        selector: Any = (models.PayloadSelectorInclude(include=list(keys)) if keys is not None
                         else True)
        offset: Any = None
        while True:
            with store_errors(self.settings):
                records, offset = self.client.scroll(self.collection, limit=batch, offset=offset,
                                                     with_payload=selector, with_vectors=vectors)
            for record in records:
                yield point_of(record)
            if offset is None:
                return

    def retrieve(self, ids: Sequence[str], *, vectors: bool = False) -> list[Point]:
        if not ids:
            return []
        with store_errors(self.settings):
            return [point_of(r) for r in self.client.retrieve(
                self.collection, list(ids), with_payload=True, with_vectors=vectors)]

    def query(self, dense: list[float] | None, sparse: Sparse | None,
              languages: Sequence[str], k: int) -> list[Point]:
        """One ``query_points``: dense and sparse prefetches, RRF fusion on the server."""
        flt = language_filter(languages)
        searches: list[tuple[Any, str, models.SearchParams | None]] = []
        if dense is not None:
            searches.append((list(dense), DENSE, models.SearchParams(hnsw_ef=DENSE_EF)))
        if sparse is not None:
            # BM25's IDF over the languages searched (Qdrant's default is collection-wide)
            params = (models.SearchParams(idf=models.IdfCorpusParams(corpus=flt))
                      if flt is not None else None)
            searches.append((models.SparseVector(indices=list(sparse[0]),
                                                 values=list(sparse[1])), SPARSE, params))
        if not searches:
            return []
        with store_errors(self.settings):
            if len(searches) == 1:
                (vector, using, params), = searches
                found = self.client.query_points(
                    self.collection, query=vector, using=using, query_filter=flt, limit=k,
                    search_params=params, with_payload=True).points
            else:
                found = self.client.query_points(
                    self.collection,
                    prefetch=[models.Prefetch(query=v, using=u, filter=flt, limit=k, params=p)
                              for v, u, p in searches],
                    query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)), limit=k,
                    with_payload=True).points
        return [point_of(p, p.score) for p in found]

    def stats(self) -> dict[str, Any]:
        """Location, collection, embedders, and points and packages per language."""
        data: dict[str, Any] = {"location": self.settings.location, "backend": "server",
                                "collection": self.collection, "exists": self.exists()}
        if not data["exists"]:
            return data | {"points": 0, "languages": {}}
        rec = self.record()
        data["embeddings"] = rec.to_dict() if rec else None
        groups = {key: len(ids) for key, ids in self.ids_by_package().items()}
        per_lang = counts_by_language(groups)
        return data | {"points": sum(e["points"] for e in per_lang.values()),
                       "languages": per_lang}

    @contextlib.contextmanager
    def writing(self, info: EmbedderInfo, origin: str = "ingest", *,
                replace: bool = False) -> Iterator[ServerWriter]:
        self.ensure_collection(info)
        yield ServerWriter(self)


class ServerWriter:
    """Writes straight into the server's collection."""

    def __init__(self, store: ServerStore) -> None:
        self.store = store

    def upsert(self, points: Sequence[Point]) -> None:
        if points:
            with store_errors(self.store.settings):
                self.store.client.upsert(self.store.collection,
                                         points=[to_struct(p) for p in points], wait=True)
            self.store.generation += 1

    def delete(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), 1024):
            with store_errors(self.store.settings):
                self.store.client.delete(self.store.collection, points_selector=
                                         models.PointIdsList(points=list(ids[i:i + 1024])))
            self.store.generation += 1

    def record_readmes(self, hashes: dict[str, str]) -> None:
        """A server keeps no manifest: every ingest chunks every README."""

    def overwrite_payload(self, point_id: str, payload: dict[str, Any]) -> None:
        with store_errors(self.store.settings):
            self.store.client.overwrite_payload(self.store.collection, payload=payload,
                                                points=[point_id])
        self.store.generation += 1
