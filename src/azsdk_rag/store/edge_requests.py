"""Our points, index layout and hybrid query as Qdrant Edge's objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import qdrant_edge as qe

from ..types import EmbedderInfo
from .base import DENSE, DENSE_EF, LANGUAGE, RRF_K, SPARSE, Point, Sparse

# A version is one HNSW-built segment plus Edge's empty appendable one, and Edge searches (and
# loads) one segment per thread. The empty segment is no work, so a second thread only adds a
# hand-off to every query: with one, a query right after a query embedding (as every question
# runs) took 0.26 ms less at 1x (paired, 400 queries: p50 2.42 -> 2.19 ms). Edge's default
# pool had 8 threads on a 2-core machine, each a thread (and maybe a malloc arena) in every
# reading process.
SEARCH_THREADS = 1

# The dense search reads int8 copies of the vectors, kept in memory, and does not rescore with
# the originals, which stay on disk (Memory.Cold) untouched by searches. At 16x the corpus, with
# the index's files in the page cache, a reader's RSS after 100 questions went 760 -> 596 MiB
# (the originals' 218 MiB mapped against 55 MiB of int8 copies) and route + retrieve 2.3x ->
# 2.1x the embedding; rescoring 2x oversampled candidates mapped the originals again (814 MiB).
# Quality, brief / real set, MRR: 0.963 / 0.931 with float vectors, 0.960 / 0.932 with int8.
QUANTIZED = qe.QuantizationSearchParams(rescore=False)


def edge_config(info: EmbedderInfo) -> qe.EdgeConfig:
    """The layout of a new version (kept in the shard: readers load it as written).

    The dense vectors are ``Memory.Cold``: mapped, not read in at load; searches read their
    int8 copies (:data:`QUANTIZED`, ``Memory.Cached``: a quarter of the size, read in at load).
    """
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(
            size=info.dense_dim, distance=qe.Distance.Cosine, memory=qe.Memory.Cold,
            quantization_config=qe.ScalarQuantizationConfig(
                type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Cached))},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        max_search_threads=SEARCH_THREADS,
        wal_enabled=False,  # with a WAL, a shard is one process's exclusive lock
    )


def to_edge(point: Point) -> qe.Point:
    vector: dict[str, Any] = {}
    if point.dense is not None:
        vector[DENSE] = list(point.dense)
    if point.sparse is not None:
        vector[SPARSE] = qe.SparseVector(list(point.sparse[0]), list(point.sparse[1]))
    return qe.Point(point.id, vector, point.payload)


def language_filter(languages: Sequence[str]) -> qe.Filter | None:
    if not languages:
        return None
    match = (qe.MatchValue(languages[0]) if len(languages) == 1
             else qe.MatchAny(list(languages)))
    return qe.Filter(must=[qe.FieldCondition(key=LANGUAGE, match=match)])


def query_request(dense: list[float] | None, sparse: Sparse | None, languages: Sequence[str],
                  k: int) -> qe.QueryRequest | None:
    """One query: dense and sparse prefetches under the language filter, fused by RRF (a single
    search when only one vector is given); None with neither."""
    flt = language_filter(languages)
    searches: list[tuple[Any, qe.SearchParams | None]] = []
    if dense is not None:
        searches.append((qe.Query.Nearest(list(dense), using=DENSE),
                         qe.SearchParams(hnsw_ef=DENSE_EF, quantization=QUANTIZED)))
    if sparse is not None:
        # BM25's IDF over the languages searched, not the whole collection
        params = qe.SearchParams(idf=qe.IdfParams(corpus=flt)) if flt is not None else None
        searches.append((qe.Query.Nearest(qe.SparseVector(list(sparse[0]), list(sparse[1])),
                                          using=SPARSE), params))
    if not searches:
        return None
    if len(searches) == 1:
        (query, params), = searches
        return qe.QueryRequest(limit=k, query=query, filter=flt, params=params,
                               with_payload=True)
    return qe.QueryRequest(
        limit=k, query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # stub: Rrf in Fusion
        with_payload=True,
        prefetches=[qe.Prefetch(limit=k, query=q, filter=flt, params=p) for q, p in searches])
