"""Search: one query on Qdrant Edge (embedded store) and one ``query_points`` on a server.

Both must rank the sample corpus the same way, with the same language filter; a reader must
notice a new ingest. The server side runs on an in-memory ``QdrantClient``: the same
``query_points`` API (prefetch + RRF) a server answers; tests/test_search_server.py runs it over
HTTP against the fake Qdrant server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document

from azsdk_rag.embeddings import Embedders, make_embedders
from azsdk_rag.ingest.pipeline import ingest
from azsdk_rag.ranking import rank_packages
from azsdk_rag.search import RRF_K, StoreSearch, embed_query, make_backend
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from azsdk_rag.store.edge import language_filter
from support.answering import memory_copy

QUERIES = (
    "upload a blob",
    "read a secret from key vault",
    "send messages to a service bus queue",
    "DefaultAzureCredential managed identity",
)
FILTERS = ((), ("python",), ("java", "javascript"))


@pytest.fixture(scope="module")
def embedders(settings_factory: Callable[..., Settings]) -> Embedders:
    return make_embedders(settings_factory())


@pytest.fixture(scope="module")
def in_memory(sample_index: Store) -> StoreSearch:
    return StoreSearch(sample_index)


@pytest.fixture(scope="module")
def qdrant(sample_index: Store, settings_factory: Callable[..., Settings],
           embedders: Embedders) -> Iterator[StoreSearch]:
    store = memory_copy(sample_index, settings_factory)
    yield StoreSearch(store)
    store.close()


def top_packages(hits: list[tuple[Document, float]], n: int = 3) -> list[tuple[str, str]]:
    return [key for key, _score, _items in rank_packages(hits)][:n]


# -- both backends ---------------------------------------------------------------------------------


@pytest.mark.parametrize("languages", FILTERS, ids=lambda f: "+".join(f) or "all")
@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_backends_agree_on_the_top_packages(in_memory: StoreSearch, qdrant: StoreSearch,
                                            embedders: Embedders, mode: str,
                                            languages: tuple[str, ...]) -> None:
    for text in QUERIES:
        query = embed_query(embedders, text, mode)
        ours = in_memory.search(query, languages, 60, mode)
        theirs = qdrant.search(query, languages, 60, mode)
        assert ours and theirs
        assert set(top_packages(ours)) == set(top_packages(theirs)), text
        assert {d.metadata["language"] for d, _ in theirs} <= set(languages or
                                                                    {"dotnet", "java",
                                                                     "javascript", "python",
                                                                     "rust"})


def test_backends_agree_on_sparse_scores_without_a_filter(
        in_memory: StoreSearch, qdrant: StoreSearch, embedders: Embedders) -> None:
    for text in QUERIES:
        query = embed_query(embedders, text, "sparse")
        ours = in_memory.search(query, (), 20, "sparse")
        theirs = qdrant.search(query, (), 20, "sparse")
        assert [d.metadata["_id"] for d, _ in ours[:5]] == [d.metadata["_id"]
                                                           for d, _ in theirs[:5]], text
        assert [s for _, s in ours[:10]] == pytest.approx([s for _, s in theirs[:10]], rel=1e-4)


@pytest.mark.parametrize("languages", [("python",), ("java", "javascript")],
                         ids=lambda f: "+".join(f))
def test_backends_agree_on_sparse_scores_with_a_language_filter(
        in_memory: StoreSearch, qdrant: StoreSearch, embedders: Embedders,
        languages: tuple[str, ...]) -> None:
    for text in QUERIES:
        query = embed_query(embedders, text, "sparse")
        ours = in_memory.search(query, languages, 20, "sparse")
        theirs = qdrant.search(query, languages, 20, "sparse")
        assert [s for _, s in ours[:10]] == pytest.approx([s for _, s in theirs[:10]], rel=1e-4)
        assert top_packages(ours) == top_packages(theirs), text


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_language_filter_is_applied_by_both(in_memory: StoreSearch, qdrant: StoreSearch,
                                            embedders: Embedders, mode: str) -> None:
    query = embed_query(embedders, "upload a blob to a container", mode)
    for backend in (in_memory, qdrant):
        hits = backend.search(query, ("rust",), 30, mode)
        assert hits
        assert {d.metadata["language"] for d, _ in hits} == {"rust"}
        assert hits[0][0].metadata["package"] == "azure_storage_blob"


def test_results_are_best_first_and_at_most_k(in_memory: StoreSearch,
                                              embedders: Embedders) -> None:
    for mode in ("hybrid", "dense", "sparse"):
        hits = in_memory.search(embed_query(embedders, "list secrets", mode), (), 7, mode)
        scores = [s for _, s in hits]
        assert 0 < len(hits) <= 7
        assert scores == sorted(scores, reverse=True)


def test_unknown_language_finds_nothing(in_memory: StoreSearch, qdrant: StoreSearch,
                                        embedders: Embedders) -> None:
    query = embed_query(embedders, "upload a blob", "hybrid")
    assert in_memory.search(query, ("go",), 5, "hybrid") == []
    assert qdrant.search(query, ("go",), 5, "hybrid") == []


# -- pieces ------------------------------------------------------------------------------------


def test_language_filter_shapes() -> None:
    assert language_filter(()) is None
    one = language_filter(("python",))
    assert one is not None and one.must[0].key == "metadata.language"  # type: ignore[index,union-attr]
    assert one.must[0].match.value == "python"  # type: ignore[index,union-attr]
    two = language_filter(("java", "python"))
    assert two.must[0].match.value == ["java", "python"]  # type: ignore[index,union-attr]


def test_hybrid_is_reciprocal_rank_fusion_of_the_two_rankings(in_memory: StoreSearch,
                                                               embedders: Embedders) -> None:
    for text in QUERIES:
        k = 20
        dense = in_memory.search(embed_query(embedders, text, "dense"), ("python",), k, "dense")
        sparse = in_memory.search(embed_query(embedders, text, "sparse"), ("python",), k,
                                  "sparse")
        # points of equal score may take any of their places in a ranking (ties have no order)
        low: dict[str, float] = {}
        high: dict[str, float] = {}
        for ranking in (dense, sparse):
            for doc, score in ranking:
                places = [r for r, (_, s) in enumerate(ranking) if abs(s - score) < 1e-9]
                pid = doc.metadata["_id"]
                low[pid] = low.get(pid, 0.0) + 1 / (RRF_K + max(places))  # Qdrant: 0-based
                high[pid] = high.get(pid, 0.0) + 1 / (RRF_K + min(places))
        fused = in_memory.search(embed_query(embedders, text, "hybrid"), ("python",), k,
                                 "hybrid")
        assert len(fused) == k
        for doc, score in fused:
            pid = doc.metadata["_id"]
            assert low[pid] * (1 - 1e-3) <= score <= high[pid] * (1 + 1e-3), text
        assert fused[0][1] >= max(low.values()) * (1 - 1e-3)


# -- reload after ingest -------------------------------------------------------------------------


def _readme_file(sample_dir: Path, path: Path, language: str, package: str) -> Path:
    """A one-README corpus file cut from the sample corpus."""
    for line in (sample_dir / f"{language}.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        if row["package"] == package:
            path.write_text(json.dumps(row) + "\n", "utf-8")
            return path
    raise AssertionError(f"{language}/{package} is not in the sample corpus")


def test_a_reader_sees_a_new_ingest_at_its_next_search(
        tmp_path: Path, sample_dir: Path, settings_factory: Callable[..., Settings],
        embedders: Embedders) -> None:
    settings = settings_factory(qdrant_path=str(tmp_path / "index"))
    first = _readme_file(sample_dir, tmp_path / "one.jsonl", "python", "azure-mgmt-storage")
    second = _readme_file(sample_dir, tmp_path / "two.jsonl", "dotnet", "Microsoft.Azure.Cosmos")
    with Store.open(settings) as store, Store.open(settings) as reader:
        ingest(settings, corpus=[first], store=store, progress=False)
        engine = StoreSearch(reader)  # another Store: what another process sees
        query = embed_query(embedders, "Cosmos DB container items", "hybrid")
        before = engine.search(query, (), 10, "hybrid")
        assert {d.metadata["package"] for d, _ in before} == {"azure-mgmt-storage"}
        generation = reader.generation

        ingest(settings, corpus=[second], store=store, progress=False)

        after = engine.search(query, (), 10, "hybrid")
        assert reader.generation > generation
        assert after[0][0].metadata["package"] == "Microsoft.Azure.Cosmos"
        assert engine.search(query, ("dotnet",), 10, "hybrid")


def test_make_backend_searches_the_store(sample_index: Store, embedders: Embedders) -> None:
    backend = make_backend(sample_index, embedders)
    assert isinstance(backend, StoreSearch) and backend.store is sample_index


class _TiedStore:
    """A store whose engine returns equal scores in whatever order it is given."""

    def __init__(self, order: list[str]) -> None:
        from azsdk_rag.settings import Settings as _Settings

        self.settings = _Settings(qdrant_path=":memory:")
        self.order = order
        self.asked: list[int] = []

    def query(self, dense: object, sparse: object, languages: object, k: int) -> list:
        from azsdk_rag.store.base import Point

        self.asked.append(k)
        scores = {"a": 0.5, "b": 0.4, "c": 0.4, "d": 0.4, "e": 0.1}
        return [Point(id=i, payload={"page_content": i, "metadata": {"package": i}},
                      score=scores[i]) for i in self.order][:k]


def test_ties_come_back_in_one_order_whatever_the_engine_returns() -> None:
    from azsdk_rag.search import Query

    query = Query(text="q", dense=[0.0], sparse=([1], [1.0]))
    got = set()
    for order in (["a", "b", "c", "d", "e"], ["a", "d", "c", "b", "e"], ["c", "a", "d", "b", "e"]):
        store = _TiedStore(order)
        hits = StoreSearch(store).search(query, ("python",), 4, "hybrid")  # type: ignore[arg-type]
        got.add(tuple(doc.page_content for doc, _ in hits))
    assert got == {("a", "b", "c", "d")}
