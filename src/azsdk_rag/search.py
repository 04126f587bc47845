"""Search: "the best chunks for this query among these languages", as one Qdrant query.

Dense (MiniLM) and sparse (BM25, IDF over the languages searched) prefetches under the
``metadata.language`` filter, fused by reciprocal rank inside Qdrant: Qdrant Edge in process on
the embedded store, ``query_points`` on a server. Both stores run the same query shape, so
results agree across them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from langchain_core.documents import Document

from .embeddings import Embedders
from .store import RRF_K, Point, Store, store_errors

__all__ = ["RRF_K", "Hits", "Query", "SearchBackend", "StoreSearch", "embed_query",
           "make_backend"]


@dataclass(frozen=True)
class Query:
    """A query embedded once, searched by any backend."""

    text: str
    dense: list[float] | None
    sparse: tuple[list[int], list[float]] | None


Hits = list[tuple[Document, float]]


class SearchBackend(Protocol):
    def search(self, query: Query, languages: Sequence[str], k: int, mode: str) -> Hits:
        """The best ``k`` chunks of the given languages (all when empty), best first."""
        ...


def embed_query(embedders: Embedders, text: str, mode: str) -> Query:
    dense = embedders.dense.embed_query(text) if mode in ("dense", "hybrid") else None
    sparse = None
    if mode in ("sparse", "hybrid"):
        vec = embedders.sparse.embed_query(text)
        sparse = (list(vec.indices), list(vec.values))
    return Query(text, dense, sparse)


def to_document(point: Point) -> Document:
    meta = point.metadata
    meta["_id"] = point.id
    return Document(page_content=str(point.payload.get("page_content", "")), metadata=meta)


class StoreSearch:
    """Searches a :class:`~azsdk_rag.store.Store` with one query per call."""

    def __init__(self, store: Store):
        self.store = store

    def search(self, query: Query, languages: Sequence[str], k: int, mode: str) -> Hits:
        dense = query.dense if mode in ("dense", "hybrid") else None
        sparse = query.sparse if mode in ("sparse", "hybrid") else None
        with store_errors(self.store.settings):
            found = self.store.query(dense, sparse, languages, k)
        # RRF gives equal scores to points with swapped ranks, and engines return ties in no
        # fixed order: break them by id, so one question always gets the same excerpts.
        found = sorted(found, key=lambda p: (-p.score, p.id))
        return [(to_document(p), p.score) for p in found]


def make_backend(store: Store, embedders: Embedders | None = None) -> SearchBackend:
    """The search of this store (the same on Qdrant Edge and on a server)."""
    return StoreSearch(store)
