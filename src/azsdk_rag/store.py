"""The Qdrant connection and the collection: embedded folder, ``:memory:``, or a server.

The collection records which embedders built it (Qdrant collection metadata); opening it with other
embedders is refused with a clear error instead of returning silent garbage.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import sqlite3
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from .errors import EmbedderMismatchError, EmptyIndexError, StoreError, StoreLockedError
from .settings import MEMORY, Settings
from .types import EmbedderInfo

log = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "sparse"
RECORD_KEY = "azsdk_rag"
SCHEMA = 1


def open_client(settings: Settings) -> QdrantClient:
    """Connect to the server or open the embedded folder, turning failures into one sentence."""
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        try:
            with warnings.catch_warnings():  # a Python warning prints two lines of source
                warnings.filterwarnings("ignore", "Api key is used with an insecure connection")
                client = QdrantClient(url=settings.qdrant_url, api_key=key,
                                      timeout=max(1, math.ceil(settings.request_timeout)),
                                      check_compatibility=False)
            if key and settings.qdrant_url.startswith("http://"):
                log.info("the Qdrant API key goes to %s over plain http", settings.qdrant_url)
            client.get_collections()
        except Exception as exc:
            if _status(exc) in (401, 403):
                raise StoreError(_server_failure(settings, exc)) from None
            raise StoreError(
                f"Cannot reach the Qdrant server at {settings.qdrant_url} "
                f"({type(exc).__name__}); is it running, and is AZSDK_RAG_QDRANT_URL right?"
            ) from None
        return client
    if settings.qdrant_path == MEMORY:
        return QdrantClient(location=MEMORY)
    path = Path(settings.qdrant_path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        return QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreLockedError(
                f"The index at {path} is in use by another azsdk-rag process (a running "
                "'serve', 'chat' or 'ingest'); stop it, or point AZSDK_RAG_QDRANT_PATH elsewhere."
            ) from None
        raise StoreError(f"Cannot open the index at {path}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"Cannot open the index at {path}: {exc.strerror or exc}.") from None


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _server_failure(settings: Settings, exc: BaseException) -> str:
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


def _disk_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in str(exc)


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
        raise StoreError(_server_failure(settings, exc)) from None
    except (OSError, sqlite3.Error) as exc:
        if _disk_full(exc):
            raise StoreError(
                f"The disk holding the index at {settings.location} is full; free some space "
                "and run the ingest again (it resumes where it stopped)."
            ) from None
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise StoreError(f"Cannot use the index at {settings.location}: {reason}.") from None


class Store:
    """One collection of README chunks, with its embedder record."""

    def __init__(self, client: QdrantClient, settings: Settings):
        self.client = client
        self.settings = settings
        self.collection = settings.collection
        self.generation = 0  # bumped on every write, so in-process search caches reload

    @classmethod
    def open(cls, settings: Settings) -> Store:
        return cls(open_client(settings), settings)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the collection and its record ---------------------------------------------------------
    def exists(self) -> bool:
        return self.client.collection_exists(self.collection)

    def record(self) -> EmbedderInfo | None:
        """The embedders recorded in the collection, or None for a collection not made by us."""
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
        on_server = self.settings.uses_server
        self.client.create_collection(
            self.collection,
            vectors_config={DENSE: models.VectorParams(size=info.dense_dim,
                                                       distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            shard_number=self.settings.shards if on_server else None,
            replication_factor=self.settings.replicas if on_server else None,
            metadata={RECORD_KEY: {**info.to_dict(), "schema": SCHEMA}},
        )
        if on_server:
            for field in ("metadata.language", "metadata.package"):
                self.client.create_payload_index(
                    self.collection, field, models.PayloadSchemaType.KEYWORD
                )

    def check_compatible(self, info: EmbedderInfo) -> None:
        """Refuse a collection built by other embedders (its vectors would be meaningless)."""
        if not self.exists():
            raise EmptyIndexError(
                f"There is no index '{self.collection}' at {self.settings.location} yet; "
                "build it with 'azsdk-rag ingest'."
            )
        have = self.record()
        if have is None:
            raise EmbedderMismatchError(
                f"The collection '{self.collection}' at {self.settings.location} was not built "
                "by azsdk-rag; choose another AZSDK_RAG_COLLECTION."
            )
        if have != info:
            raise EmbedderMismatchError(
                f"The index '{self.collection}' was built with {have.describe()}, but these "
                f"settings embed with {info.describe()}; re-ingest into another collection "
                "(AZSDK_RAG_COLLECTION) or switch AZSDK_RAG_EMBEDDINGS back."
            )

    def count(self) -> int:
        if not self.exists():
            return 0
        return self.client.count(self.collection, exact=True).count

    # -- what is stored ------------------------------------------------------------------------
    def scroll_payloads(self, keys: list[str], batch: int = 1024) -> Iterator[models.Record]:
        """Every point's id and the given payload keys, without vectors."""
        offset: Any = None
        while True:
            points, offset = self.client.scroll(
                self.collection, limit=batch, offset=offset,
                with_payload=models.PayloadSelectorInclude(include=keys), with_vectors=False,
            )
            yield from points
            if offset is None:
                return

    def ids_by_package(self) -> dict[tuple[str, str], set[str]]:
        """Point ids grouped by (language, package): what re-ingest compares against."""
        groups: dict[tuple[str, str], set[str]] = defaultdict(set)
        if not self.exists():
            return groups
        for point in self.scroll_payloads(["metadata.language", "metadata.package"]):
            meta = (point.payload or {}).get("metadata", {})
            groups[(meta.get("language", ""), meta.get("package", ""))].add(str(point.id))
        return groups

    def stats(self) -> dict[str, Any]:
        """Location, collection, embedders, and points and packages per language."""
        data: dict[str, Any] = {
            "location": self.settings.location,
            "backend": "server" if self.settings.uses_server else "embedded",
            "collection": self.collection,
            "exists": self.exists(),
        }
        if not data["exists"]:
            return data | {"points": 0, "languages": {}}
        rec = self.record()
        data["embeddings"] = rec.to_dict() if rec else None
        per_lang: dict[str, dict[str, int]] = {}
        for (lang, _pkg), ids in sorted(self.ids_by_package().items()):
            entry = per_lang.setdefault(lang, {"points": 0, "packages": 0})
            entry["points"] += len(ids)
            entry["packages"] += 1
        data["points"] = sum(e["points"] for e in per_lang.values())
        data["languages"] = per_lang
        return data
