"""Search backends: the in-process engine (embedded store) and Qdrant's own search (server path).

Both must rank the sample corpus the same way, with the same language filter; the in-process
engine must notice a new ingest. QdrantSearch runs on an in-memory ``QdrantClient``: the same
``query_points`` API a server answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document

from azsdk_rag.embeddings import Embedders, make_embedders
from azsdk_rag.ingest.pipeline import ingest
from azsdk_rag.retrieval import rank_packages
from azsdk_rag.search import (
    InMemorySearch,
    QdrantSearch,
    embed_query,
    fuse,
    language_filter,
    make_backend,
)
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
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
def in_memory(sample_index: Store) -> InMemorySearch:
    return InMemorySearch(sample_index)


@pytest.fixture(scope="module")
def qdrant(sample_index: Store, settings_factory: Callable[..., Settings],
           embedders: Embedders) -> Iterator[QdrantSearch]:
    store = memory_copy(sample_index, settings_factory)
    yield QdrantSearch(store, embedders)
    store.close()


def top_packages(hits: list[tuple[Document, float]], n: int = 3) -> list[tuple[str, str]]:
    return [key for key, _score, _items in rank_packages(hits)][:n]


# -- both backends ---------------------------------------------------------------------------------


@pytest.mark.parametrize("languages", FILTERS, ids=lambda f: "+".join(f) or "all")
@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_backends_agree_on_the_top_packages(in_memory: InMemorySearch, qdrant: QdrantSearch,
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
        in_memory: InMemorySearch, qdrant: QdrantSearch, embedders: Embedders) -> None:
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
        in_memory: InMemorySearch, qdrant: QdrantSearch, embedders: Embedders,
        languages: tuple[str, ...]) -> None:
    for text in QUERIES:
        query = embed_query(embedders, text, "sparse")
        ours = in_memory.search(query, languages, 20, "sparse")
        theirs = qdrant.search(query, languages, 20, "sparse")
        assert [s for _, s in ours[:10]] == pytest.approx([s for _, s in theirs[:10]], rel=1e-4)
        assert top_packages(ours) == top_packages(theirs), text


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_language_filter_is_applied_by_both(in_memory: InMemorySearch, qdrant: QdrantSearch,
                                            embedders: Embedders, mode: str) -> None:
    query = embed_query(embedders, "upload a blob to a container", mode)
    for backend in (in_memory, qdrant):
        hits = backend.search(query, ("rust",), 30, mode)
        assert hits
        assert {d.metadata["language"] for d, _ in hits} == {"rust"}
        assert hits[0][0].metadata["package"] == "azure_storage_blob"


def test_results_are_best_first_and_at_most_k(in_memory: InMemorySearch,
                                              embedders: Embedders) -> None:
    for mode in ("hybrid", "dense", "sparse"):
        hits = in_memory.search(embed_query(embedders, "list secrets", mode), (), 7, mode)
        scores = [s for _, s in hits]
        assert 0 < len(hits) <= 7
        assert scores == sorted(scores, reverse=True)


def test_unknown_language_finds_nothing(in_memory: InMemorySearch, qdrant: QdrantSearch,
                                        embedders: Embedders) -> None:
    query = embed_query(embedders, "upload a blob", "hybrid")
    assert in_memory.search(query, ("go",), 5, "hybrid") == []
    assert qdrant.search(query, ("go",), 5, "hybrid") == []


def test_make_backend_picks_by_store_kind(sample_index: Store, embedders: Embedders,
                                          settings_factory: Callable[..., Settings]) -> None:
    assert isinstance(make_backend(sample_index, embedders), InMemorySearch)
    server = Store(sample_index.client, settings_factory(qdrant_url="http://127.0.0.1:1"))
    assert isinstance(make_backend(server, embedders), QdrantSearch)


# -- pieces ------------------------------------------------------------------------------------


def test_language_filter_shapes() -> None:
    assert language_filter(()) is None
    one = language_filter(("python",))
    assert one is not None and one.must[0].key == "metadata.language"  # type: ignore[index,union-attr]
    assert one.must[0].match.value == "python"  # type: ignore[index,union-attr]
    two = language_filter(("java", "python"))
    assert two.must[0].match.any == ["java", "python"]  # type: ignore[index,union-attr]


def _doc(key: str) -> Document:
    return Document(page_content=key, metadata={"_id": key})


def test_fuse_rewards_agreement_and_keeps_k() -> None:
    dense = [(_doc("a"), 0.9), (_doc("b"), 0.8), (_doc("c"), 0.7)]
    sparse = [(_doc("b"), 12.0), (_doc("d"), 11.0), (_doc("e"), 3.0)]
    fused = fuse([dense, sparse], k=3)
    # b is in both rankings; then the two first places, then the second places
    assert [d.metadata["_id"] for d, _ in fused] == ["b", "a", "d"]
    assert len(fuse([dense, sparse], k=2)) == 2
    # weights tilt the fusion between two rankings' first places
    left, right = [(_doc("x"), 1.0)], [(_doc("y"), 1.0)]
    assert fuse([left, right], k=1, weights=[2.0, 1.0])[0][0].metadata["_id"] == "x"
    assert fuse([left, right], k=1, weights=[1.0, 2.0])[0][0].metadata["_id"] == "y"


# -- reload after ingest -------------------------------------------------------------------------


def _readme_file(sample_dir: Path, path: Path, language: str, package: str) -> Path:
    """A one-README corpus file cut from the sample corpus."""
    for line in (sample_dir / f"{language}.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        if row["package"] == package:
            path.write_text(json.dumps(row) + "\n", "utf-8")
            return path
    raise AssertionError(f"{language}/{package} is not in the sample corpus")


def test_in_memory_engine_reloads_after_a_new_ingest(
        tmp_path: Path, sample_dir: Path, settings_factory: Callable[..., Settings],
        embedders: Embedders) -> None:
    settings = settings_factory()
    first = _readme_file(sample_dir, tmp_path / "one.jsonl", "python", "azure-mgmt-storage")
    second = _readme_file(sample_dir, tmp_path / "two.jsonl", "dotnet", "Microsoft.Azure.Cosmos")
    with Store.open(settings) as store:
        ingest(settings, corpus=[first], store=store, progress=False)
        engine = InMemorySearch(store)
        query = embed_query(embedders, "Cosmos DB container items", "hybrid")
        before = engine.search(query, (), 10, "hybrid")
        assert {d.metadata["package"] for d, _ in before} == {"azure-mgmt-storage"}
        generation = store.generation

        ingest(settings, corpus=[second], store=store, progress=False)

        assert store.generation > generation
        after = engine.search(query, (), 10, "hybrid")
        assert after[0][0].metadata["package"] == "Microsoft.Azure.Cosmos"
        assert engine.search(query, ("dotnet",), 10, "hybrid")
