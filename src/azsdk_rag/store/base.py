"""What every store speaks: points, the embedder record check, and the writer protocol.

A store is either the embedded Qdrant Edge index (:mod:`.edge`) or a Qdrant server
(:mod:`.server`). Both hold the same points (named ``dense`` and ``sparse`` vectors, payload
``page_content`` + ``metadata``) and answer the same one-call hybrid query, so the layers above
never know which one they talk to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import EmbedderMismatchError, EmptyIndexError
from ..settings import Settings
from ..types import EmbedderInfo

DENSE = "dense"
SPARSE = "sparse"
RECORD_KEY = "azsdk_rag"
SCHEMA = 1
RRF_K = 60  # reciprocal rank fusion's k, the same on both stores
DENSE_EF = 256
"""The HNSW search breadth (``hnsw_ef``) of the dense prefetch, the same on both stores. The
default (the graph's ``ef_construct``, 100) lost true neighbours under the language filter: on
the real-question set, exact search and ef 192-256 put the right README in the top 5 once more
(hit@5 0.973 -> 0.982), as exact search does."""
LANGUAGE = "metadata.language"
PACKAGE = "metadata.package"
INDEXED_FIELDS = (LANGUAGE, PACKAGE)

Sparse = tuple[list[int], list[float]]


@dataclass
class Point:
    """One chunk: id, payload and (when asked for) its vectors; ``score`` in query results."""

    id: str
    payload: dict[str, Any] = field(default_factory=dict)
    dense: list[float] | None = None
    sparse: Sparse | None = None
    score: float = 0.0

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.payload.get("metadata") or {})



def point_of(record: Any, score: float = 0.0) -> Point:
    """A :class:`Point` from a Qdrant record of either engine (Edge or qdrant-client): both
    give ``id``, ``payload`` and a dict of named vectors whose sparse one has indices/values."""
    vectors = record.vector if isinstance(record.vector, dict) else {}
    sparse = vectors.get(SPARSE)
    return Point(str(record.id), dict(record.payload or {}), vectors.get(DENSE),
                 (list(sparse.indices), list(sparse.values)) if sparse is not None else None,
                 score)

class Writer(Protocol):
    """Changes to one collection; on the embedded store they become visible all at once."""

    def upsert(self, points: Sequence[Point]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def overwrite_payload(self, point_id: str, payload: dict[str, Any]) -> None: ...

    def record_readmes(self, hashes: dict[str, str]) -> None:
        """Remember the README hashes this ingest saw (``language/package`` -> sha256)."""


def counts_by_language(groups: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """{(language, package): points} -> {language: {"points": n, "packages": m}}."""
    per_lang: dict[str, dict[str, int]] = {}
    for (lang, _pkg), n in sorted(groups.items()):
        entry = per_lang.setdefault(lang, {"points": 0, "packages": 0})
        entry["points"] += n
        entry["packages"] += 1
    return per_lang


class Store:
    """One collection of README chunks, with its embedder record (see the module doc).

    >>> with Store.open(Settings(qdrant_path="/tmp/index")) as store:  # doctest: +SKIP
    ...     store.stats()["points"]
    """

    settings: Settings
    collection: str

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The server at ``AZSDK_RAG_QDRANT_URL``, else the embedded index folder."""
        if settings.uses_server:
            from .server import ServerStore

            return ServerStore.connect(settings)
        from .edge import EdgeStore

        return EdgeStore(settings)

    # -- to implement ----------------------------------------------------------------------------
    def close(self) -> None: ...

    def exists(self) -> bool:
        raise NotImplementedError

    def record(self) -> EmbedderInfo | None:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    @property
    def generation(self) -> int:
        """Changes whenever what the store holds changes, so in-process caches reload."""
        raise NotImplementedError

    @property
    def version(self) -> int | None:
        """The embedded index's current version number; None on a server (no versions)."""
        return None

    def points(self, keys: Sequence[str] | None = None, *, vectors: bool = False,
               batch: int = 1024) -> Iterator[Point]:
        """Every point, with the given payload keys (all when None) and optionally vectors."""
        raise NotImplementedError

    def retrieve(self, ids: Sequence[str], *, vectors: bool = False) -> list[Point]:
        raise NotImplementedError

    def query(self, dense: list[float] | None, sparse: Sparse | None,
              languages: Sequence[str], k: int) -> list[Point]:
        """One query: dense and sparse prefetches under the language filter, fused by RRF."""
        raise NotImplementedError

    def writing(self, info: EmbedderInfo, origin: str = "ingest", *,
                replace: bool = False) -> Any:
        """A context manager yielding a :class:`Writer`, the one writer of this index at a time.

        ``replace`` starts from an empty collection instead of the current points (import).
        """
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    def readme_hashes(self) -> dict[str, str]:
        """The README hashes the current index was built from; {} where none are kept."""
        return {}

    def package_counts(self) -> dict[tuple[str, str], int] | None:
        """Points per (language, package) without a scan; None where that needs a scan."""
        return None

    # -- shared ----------------------------------------------------------------------------------
    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def ids_by_package(self) -> dict[tuple[str, str], set[str]]:
        """Point ids grouped by (language, package): what re-ingest compares against."""
        groups: dict[tuple[str, str], set[str]] = defaultdict(set)
        if not self.exists():
            return groups
        for point in self.points([LANGUAGE, PACKAGE]):
            meta = point.metadata
            groups[(meta.get("language", ""), meta.get("package", ""))].add(point.id)
        return groups

    def scroll_payloads(self, keys: list[str], batch: int = 1024) -> Iterable[Point]:
        """Every point's id and the given payload keys, without vectors."""
        return self.points(keys, batch=batch)

    def import_points(self, info: EmbedderInfo, points: Iterable[Point],
                      origin: str = "import") -> int:
        """Make the index hold these points (with vectors) as they are: nothing is embedded.

        On the embedded store they replace the current version; on a server they are upserted.
        """
        n = 0
        with self.writing(info, origin=origin, replace=True) as writer:
            batch: list[Point] = []
            for point in points:
                batch.append(point)
                if len(batch) >= 512:
                    writer.upsert(batch)
                    n += len(batch)
                    batch = []
            if batch:
                writer.upsert(batch)
                n += len(batch)
        return n
