"""The Qdrant store: embedded folder, ``:memory:``, server URL; the collection's embedder record.

Real Qdrant local mode throughout. Points here carry small hand-made vectors: what is under test is
the store, not the embedders (tests/ingest/test_indexer.py covers real embeddings).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import models

from azsdk_rag.errors import EmbedderMismatchError, EmptyIndexError, StoreError, StoreLockedError
from azsdk_rag.settings import Settings
from azsdk_rag.store import DENSE, RECORD_KEY, SPARSE, Store
from azsdk_rag.types import EmbedderInfo
from support.ingest_fixtures import closed_port, store_held_by_another_process

INFO = EmbedderInfo("test/dense-4", 4, "Qdrant/bm25")


def points(*keys: tuple[str, str, int]) -> list[models.PointStruct]:
    """One point per (language, package, n), with tiny dense and sparse vectors."""
    return [
        models.PointStruct(
            id=n, vector={DENSE: [1.0, 0.0, 0.0, float(n)],
                          SPARSE: models.SparseVector(indices=[n], values=[1.0])},
            payload={"page_content": f"chunk {n}",
                     "metadata": {"language": lang, "package": pkg}},
        )
        for lang, pkg, n in keys
    ]


SOME = [("python", "azure-a", 1), ("python", "azure-a", 2), ("python", "azure-b", 3),
        ("rust", "azure_c", 4)]


@pytest.fixture
def memory_store() -> Store:
    with Store.open(Settings(qdrant_path=":memory:")) as store:
        yield store


def test_a_new_collection_records_its_embedders(memory_store: Store) -> None:
    assert not memory_store.exists()
    assert memory_store.count() == 0
    memory_store.ensure_collection(INFO)

    assert memory_store.exists()
    assert memory_store.record() == INFO
    meta = memory_store.client.get_collection(memory_store.collection).config.metadata
    assert meta[RECORD_KEY]["dense_model"] == "test/dense-4"
    assert meta[RECORD_KEY]["dense_dim"] == 4
    vectors = memory_store.client.get_collection(memory_store.collection).config.params
    assert vectors.vectors[DENSE].size == 4
    assert SPARSE in vectors.sparse_vectors

    memory_store.ensure_collection(INFO)  # again: same embedders, fine
    memory_store.check_compatible(INFO)


@pytest.mark.parametrize("other", [EmbedderInfo("test/dense-4", 8, "Qdrant/bm25"),
                                   EmbedderInfo("azure-openai:ada", 4, "Qdrant/bm25"),
                                   EmbedderInfo("test/dense-4", 4, "other/sparse")])
def test_other_embedders_are_refused_with_a_clear_error(memory_store: Store,
                                                        other: EmbedderInfo) -> None:
    memory_store.ensure_collection(INFO)
    memory_store.client.upsert(memory_store.collection, points=points(*SOME))

    for call in (memory_store.ensure_collection, memory_store.check_compatible):
        with pytest.raises(EmbedderMismatchError) as err:
            call(other)
        message = str(err.value)
        assert INFO.describe() in message and other.describe() in message
        assert "AZSDK_RAG_COLLECTION" in message and "\n" not in message
    assert memory_store.count() == len(SOME)  # nothing was touched


def test_a_collection_not_made_by_azsdk_rag_is_refused(memory_store: Store) -> None:
    memory_store.client.create_collection(
        memory_store.collection,
        vectors_config={DENSE: models.VectorParams(size=4, distance=models.Distance.COSINE)},
    )
    assert memory_store.record() is None
    with pytest.raises(EmbedderMismatchError, match="not built by azsdk-rag"):
        memory_store.ensure_collection(INFO)


def test_a_missing_collection_is_an_empty_index_error(memory_store: Store) -> None:
    with pytest.raises(EmptyIndexError, match="azsdk-rag ingest"):
        memory_store.check_compatible(INFO)


def test_stats_and_ids_group_by_language_and_package(memory_store: Store) -> None:
    empty = memory_store.stats()
    assert empty["exists"] is False and empty["points"] == 0 and empty["languages"] == {}

    memory_store.ensure_collection(INFO)
    memory_store.client.upsert(memory_store.collection, points=points(*SOME))

    groups = memory_store.ids_by_package()
    assert {k: len(v) for k, v in groups.items()} == {
        ("python", "azure-a"): 2, ("python", "azure-b"): 1, ("rust", "azure_c"): 1}
    stats = memory_store.stats()
    assert stats["location"] == ":memory:" and stats["backend"] == "embedded"
    assert stats["collection"] == "AzureSDKs" and stats["exists"] is True
    assert stats["embeddings"] == INFO.to_dict()
    assert stats["points"] == 4 == memory_store.count()
    assert stats["languages"] == {"python": {"points": 3, "packages": 2},
                                  "rust": {"points": 1, "packages": 1}}


def test_ids_are_read_across_scroll_pages(memory_store: Store) -> None:
    memory_store.ensure_collection(INFO)
    many = [("java", f"pkg-{n % 7}", n) for n in range(1, 51)]
    memory_store.client.upsert(memory_store.collection, points=points(*many))
    assert len(list(memory_store.scroll_payloads(["metadata.language"], batch=8))) == 50
    assert sum(len(v) for v in memory_store.ids_by_package().values()) == 50


def test_an_embedded_store_persists_its_points_and_record(tmp_path: Path) -> None:
    settings = Settings(qdrant_path=str(tmp_path / "deep" / "index"), collection="Mine")
    with Store.open(settings) as store:
        store.ensure_collection(INFO)
        store.client.upsert(store.collection, points=points(*SOME))
    assert (tmp_path / "deep" / "index").is_dir()

    with Store.open(settings) as again:
        assert again.collection == "Mine"
        assert again.record() == INFO
        assert again.count() == 4
        assert again.stats()["location"] == str(tmp_path / "deep" / "index")


@pytest.mark.slow  # another process
def test_a_store_held_by_another_process_is_a_locked_error(tmp_path: Path) -> None:
    path = tmp_path / "index"
    settings = Settings(qdrant_path=str(path))
    with Store.open(settings) as store:
        store.ensure_collection(INFO)

    with store_held_by_another_process(path), pytest.raises(StoreLockedError) as err:
        Store.open(settings)
    message = str(err.value)
    assert str(path) in message and "AZSDK_RAG_QDRANT_PATH" in message and "stop it" in message
    assert "\n" not in message

    with Store.open(settings) as store:  # free again once the other process is gone
        assert store.record() == INFO


def test_an_unreachable_server_is_a_store_error_without_the_key() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    settings = Settings(qdrant_url=url, qdrant_api_key="sekrit-key-123")
    with pytest.raises(StoreError) as err:
        Store.open(settings)
    message = str(err.value)
    assert url in message and "AZSDK_RAG_QDRANT_URL" in message
    assert "sekrit" not in message and "\n" not in message
    assert settings.location == url


def test_a_path_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="Cannot open the index at"):
        Store.open(Settings(qdrant_path=str(blocker / "index")))
