"""The dense prefetch searches the HNSW graph DENSE_EF wide on both stores (the default breadth
lost true neighbours under the language filter), and the sparse one is left as it was."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from azsdk_rag.settings import Settings
from azsdk_rag.store.base import DENSE_EF
from azsdk_rag.store.edge_requests import query_request
from azsdk_rag.store.server import ServerStore

DENSE = [0.1, 0.2, 0.3]
SPARSE = ([1, 7], [0.5, 0.25])


def test_the_edge_query_searches_the_dense_graph_wide() -> None:
    request = query_request(DENSE, SPARSE, ["python"], 60)
    assert request is not None
    dense, sparse = request.prefetches
    assert dense.params is not None and dense.params.hnsw_ef == DENSE_EF
    assert dense.params.quantization is not None
    assert dense.params.quantization.rescore is False  # the originals stay unread on disk
    assert sparse.params is None or sparse.params.hnsw_ef is None
    assert DENSE_EF > 100  # wider than the graph's ef_construct, Qdrant's default breadth


def test_a_dense_only_edge_query_searches_wide_too() -> None:
    request = query_request(DENSE, None, [], 10)
    assert request is not None and request.params is not None
    assert request.params.hnsw_ef == DENSE_EF


class _Client:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def query_points(self, collection: str, **kwargs: Any) -> SimpleNamespace:
        self.calls.append(kwargs)
        return SimpleNamespace(points=[])


def test_the_server_query_asks_for_the_same_breadth() -> None:
    client = _Client()
    store = ServerStore(client, Settings(qdrant_url="http://127.0.0.1:1"))  # type: ignore[arg-type]
    store.query(DENSE, SPARSE, ["java"], 60)
    dense, sparse = client.calls[0]["prefetch"]
    assert dense.params.hnsw_ef == DENSE_EF
    assert sparse.params is None or sparse.params.hnsw_ef is None
