"""Search backends: a Qdrant server (retriever with a language filter) or an in-process engine.

Both answer the same question, "the best chunks for this query among these languages", with dense,
sparse (BM25) and hybrid scoring fused the same way, so results agree across backends.

Qdrant's embedded (local) mode evaluates filters and sparse vectors point by point in Python: with
the whole corpus a filtered hybrid query takes hundreds of milliseconds. For the embedded store we
therefore load the collection's vectors once into numpy (a dense matrix and a sparse inverted index
per language) and search there: the same points, the same scores, a few milliseconds per query. On
a server, the filter and both searches run in Qdrant itself.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from langchain_core.documents import Document
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import models

from .embeddings import Embedders
from .store import DENSE, SPARSE, Store, store_errors

RRF_K = 60


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


def fuse(rankings: Sequence[Hits], k: int, weights: Sequence[float] | None = None) -> Hits:
    """Reciprocal rank fusion: robust to the dense and BM25 scores' different scales."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    docs: dict[str, Document] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (doc, _score) in enumerate(ranking):
            key = doc.metadata.get("_id") or doc.page_content
            scores[key] = scores.get(key, 0.0) + weight / (RRF_K + rank + 1)
            docs.setdefault(key, doc)
    best = sorted(scores, key=scores.__getitem__, reverse=True)[:k]
    return [(docs[key], scores[key]) for key in best]


def language_filter(languages: Sequence[str]) -> models.Filter | None:
    if not languages:
        return None
    match = (models.MatchValue(value=languages[0]) if len(languages) == 1
             else models.MatchAny(any=list(languages)))
    return models.Filter(must=[models.FieldCondition(key="metadata.language", match=match)])


class QdrantSearch:
    """Search through ``QdrantVectorStore`` with a ``metadata.language`` filter (a server's way)."""

    def __init__(self, store: Store, embedders: Embedders):
        self.embedders = embedders
        self.settings = store.settings
        self.vectorstore = QdrantVectorStore(
            store.client, store.collection, embedding=embedders.dense,
            sparse_embedding=embedders.sparse, vector_name=DENSE, sparse_vector_name=SPARSE,
            retrieval_mode=RetrievalMode.HYBRID, validate_collection_config=False,
        )

    def _one(self, query: Query, flt: models.Filter | None, k: int, dense: bool) -> Hits:
        client, name = self.vectorstore.client, self.vectorstore.collection_name
        if dense:
            vector: list[float] | models.SparseVector | None = query.dense
            using = DENSE
        else:
            indices, values = query.sparse or ([], [])
            vector = models.SparseVector(indices=indices, values=values)
            using = SPARSE
        # BM25 IDF over the languages searched, as InMemorySearch computes it (Qdrant's
        # default is collection-wide)
        params = (models.SearchParams(idf=models.IdfCorpusParams(corpus=flt))
                  if flt is not None and not dense else None)
        points = client.query_points(name, query=vector, using=using, query_filter=flt, limit=k,
                                     search_params=params, with_payload=True).points
        return [(self._document(p), p.score) for p in points]

    def _document(self, point: models.ScoredPoint) -> Document:
        doc = QdrantVectorStore._document_from_point(
            point, self.vectorstore.collection_name, "page_content", "metadata")
        doc.metadata["_id"] = str(point.id)
        return doc

    def search(self, query: Query, languages: Sequence[str], k: int, mode: str) -> Hits:
        with store_errors(self.settings):
            return self._search(query, languages, k, mode)

    def _search(self, query: Query, languages: Sequence[str], k: int, mode: str) -> Hits:
        flt = language_filter(languages)
        if mode == "dense":
            return self._one(query, flt, k, dense=True)
        if mode == "sparse":
            return self._one(query, flt, k, dense=False)
        return fuse([self._one(query, flt, k, True), self._one(query, flt, k, False)], k)


class _Shard:
    """One language's points: a normalised dense matrix and a BM25 inverted index."""

    def __init__(self, docs: list[Document], dense: list[list[float]],
                 sparse: list[tuple[list[int], list[float]]]):
        self.docs = docs
        matrix = np.asarray(dense, dtype=np.float32).reshape(len(docs), -1)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.matrix = matrix / np.where(norms == 0, 1, norms)
        postings: dict[int, tuple[list[int], list[float]]] = {}
        for row, (indices, values) in enumerate(sparse):
            for term, value in zip(indices, values, strict=True):
                entry = postings.setdefault(term, ([], []))
                entry[0].append(row)
                entry[1].append(value)
        self.postings = {t: (np.asarray(r, dtype=np.int32), np.asarray(v, dtype=np.float32))
                         for t, (r, v) in postings.items()}


class InMemorySearch:
    """The embedded store's points in numpy, searched exactly (no approximation).

    BM25 IDF is computed over the languages searched, as Qdrant does over the filtered points.
    """

    def __init__(self, store: Store):
        self.store = store
        self._shards: dict[str, _Shard] | None = None
        self._generation = -1
        self._lock = threading.Lock()

    def _load(self) -> dict[str, _Shard]:
        with self._lock, store_errors(self.store.settings):
            if self._shards is None or self._generation != self.store.generation:
                generation = self.store.generation
                self._shards = self._read()
                self._generation = generation
            return self._shards

    def _read(self) -> dict[str, _Shard]:
        grouped: dict[str, tuple[list, list, list]] = {}
        offset = None
        client, name = self.store.client, self.store.collection
        while True:
            points, offset = client.scroll(name, limit=2048, offset=offset, with_payload=True,
                                           with_vectors=True)
            for p in points:
                payload = p.payload or {}
                meta = dict(payload.get("metadata") or {})
                meta["_id"] = str(p.id)
                vectors = p.vector if isinstance(p.vector, dict) else {}
                sparse = vectors.get(SPARSE)
                docs, dense, sp = grouped.setdefault(meta.get("language", ""), ([], [], []))
                docs.append(Document(page_content=payload.get("page_content", ""), metadata=meta))
                dense.append(vectors.get(DENSE) or [])
                sp.append((list(sparse.indices), list(sparse.values))
                          if isinstance(sparse, models.SparseVector) else ([], []))
            if offset is None:
                break
        return {lang: _Shard(*parts) for lang, parts in grouped.items()}

    def search(self, query: Query, languages: Sequence[str], k: int, mode: str) -> Hits:
        shards = self._load()
        chosen = [shards[lang] for lang in (languages or sorted(shards)) if lang in shards]
        if not chosen:
            return []
        rankings: list[Hits] = []
        if mode in ("dense", "hybrid") and query.dense is not None:
            rankings.append(self._dense(chosen, np.asarray(query.dense, dtype=np.float32), k))
        if mode in ("sparse", "hybrid") and query.sparse is not None:
            rankings.append(self._sparse(chosen, query.sparse, k))
        if len(rankings) == 1:
            return rankings[0]
        return fuse(rankings, k)

    @staticmethod
    def _top(docs_scores: list[tuple[Document, float]], k: int) -> Hits:
        docs_scores.sort(key=lambda pair: pair[1], reverse=True)
        return docs_scores[:k]

    def _dense(self, shards: list[_Shard], vector: np.ndarray, k: int) -> Hits:
        norm = np.linalg.norm(vector) or 1.0
        hits: Hits = []
        for shard in shards:
            scores = shard.matrix @ (vector / norm)
            top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
            hits.extend((shard.docs[i], float(scores[i])) for i in top)
        return self._top(hits, k)

    def _sparse(self, shards: list[_Shard], sparse: tuple[list[int], list[float]],
                k: int) -> Hits:
        total = sum(len(s.docs) for s in shards)
        indices, values = sparse
        hits: Hits = []
        weights = []
        for term, value in zip(indices, values, strict=True):
            n = sum(len(s.postings[term][0]) for s in shards if term in s.postings)
            idf = math.log((total - n + 0.5) / (n + 0.5) + 1.0)  # Qdrant's IDF modifier
            weights.append((term, value * idf))
        for shard in shards:
            scores = np.zeros(len(shard.docs), dtype=np.float32)
            for term, weight in weights:
                if term in shard.postings:
                    rows, vals = shard.postings[term]
                    scores[rows] += vals * weight
            nonzero = np.flatnonzero(scores)
            if not len(nonzero):
                continue
            top = nonzero[np.argsort(-scores[nonzero])[:k]]
            hits.extend((shard.docs[i], float(scores[i])) for i in top)
        return self._top(hits, k)


def make_backend(store: Store, embedders: Embedders) -> SearchBackend:
    """The in-process engine for the embedded store, Qdrant's own search on a server."""
    return QdrantSearch(store, embedders) if store.settings.uses_server else InMemorySearch(store)
