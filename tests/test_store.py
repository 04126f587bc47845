"""The store: the embedded Qdrant Edge index (versions, pointer, locks), ``:memory:``, a server URL.

Real Qdrant Edge throughout. Points here carry small hand-made vectors: what is under test is the
store, not the embedders (tests/ingest/test_indexer.py covers real embeddings).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from azsdk_rag.errors import EmbedderMismatchError, EmptyIndexError, StoreError, StoreLockedError
from azsdk_rag.settings import Settings
from azsdk_rag.store import DENSE, RECORD_KEY, SPARSE, Point, Store
from azsdk_rag.store.edge import EdgeStore
from azsdk_rag.types import EmbedderInfo
from support.ingest_fixtures import closed_port, store_held_by_another_process

INFO = EmbedderInfo("test/dense-4", 4, "Qdrant/bm25")


def points(*keys: tuple[str, str, int]) -> list[Point]:
    """One point per (language, package, n), with tiny dense and sparse vectors."""
    return [
        Point(f"00000000-0000-0000-0000-{n:012d}",
              {"page_content": f"chunk {n}", "metadata": {"language": lang, "package": pkg}},
              [1.0, 0.0, 0.0, float(n)], ([n], [1.0]))
        for lang, pkg, n in keys
    ]


SOME = [("python", "azure-a", 1), ("python", "azure-a", 2), ("python", "azure-b", 3),
        ("rust", "azure_c", 4)]


def write(store: Store, *keys: tuple[str, str, int], info: EmbedderInfo = INFO) -> None:
    with store.writing(info) as writer:
        writer.upsert(points(*keys))


@pytest.fixture
def memory_store() -> Iterator[Store]:
    with Store.open(Settings(qdrant_path=":memory:")) as store:
        yield store


@pytest.fixture
def index(tmp_path: Path) -> Settings:
    return Settings(qdrant_path=str(tmp_path / "index"))


def test_a_new_index_records_its_embedders(memory_store: Store) -> None:
    assert not memory_store.exists()
    assert memory_store.count() == 0
    write(memory_store, *SOME)

    assert memory_store.exists()
    assert memory_store.record() == INFO
    assert isinstance(memory_store, EdgeStore)
    manifest = memory_store.manifest()
    assert manifest["embeddings"] == INFO.to_dict()
    assert manifest["version"] == 1 and manifest["points"] == 4
    memory_store.check_compatible(INFO)


@pytest.mark.parametrize("other", [EmbedderInfo("test/dense-4", 8, "Qdrant/bm25"),
                                   EmbedderInfo("azure-openai:ada", 4, "Qdrant/bm25"),
                                   EmbedderInfo("test/dense-4", 4, "other/sparse")])
def test_other_embedders_are_refused_with_a_clear_error(memory_store: Store,
                                                        other: EmbedderInfo) -> None:
    write(memory_store, *SOME)
    with pytest.raises(EmbedderMismatchError) as err:
        memory_store.check_compatible(other)
    with pytest.raises(EmbedderMismatchError), memory_store.writing(other):
        pass
    message = str(err.value)
    assert INFO.describe() in message and other.describe() in message
    assert "AZSDK_RAG_COLLECTION" in message and "\n" not in message
    assert memory_store.count() == len(SOME)  # nothing was touched


def test_a_missing_index_is_an_empty_index_error(memory_store: Store) -> None:
    with pytest.raises(EmptyIndexError, match="azsdk-rag ingest"):
        memory_store.check_compatible(INFO)


def test_stats_come_from_the_manifest(memory_store: Store) -> None:
    empty = memory_store.stats()
    assert empty["exists"] is False and empty["points"] == 0 and empty["languages"] == {}

    write(memory_store, *SOME)
    groups = memory_store.ids_by_package()
    assert {k: len(v) for k, v in groups.items()} == {
        ("python", "azure-a"): 2, ("python", "azure-b"): 1, ("rust", "azure_c"): 1}
    stats = memory_store.stats()
    assert stats["location"] == ":memory:" and stats["backend"] == "embedded"
    assert stats["collection"] == "AzureSDKs" and stats["exists"] is True
    assert stats["embeddings"] == INFO.to_dict() and stats["version"] == 1
    assert stats["points"] == 4 == memory_store.count()
    assert stats["languages"] == {"python": {"points": 3, "packages": 2},
                                  "rust": {"points": 1, "packages": 1}}
    assert memory_store.manifest()["packages"] == {
        "python/azure-a": 2, "python/azure-b": 1, "rust/azure_c": 1}


def test_points_are_read_across_scroll_pages(memory_store: Store) -> None:
    write(memory_store, *[("java", f"pkg-{n % 7}", n) for n in range(1, 51)])
    assert len(list(memory_store.scroll_payloads(["metadata.language"], batch=8))) == 50
    assert sum(len(v) for v in memory_store.ids_by_package().values()) == 50
    (one,) = memory_store.retrieve([points(("java", "pkg-1", 1))[0].id], vectors=True)
    assert one.sparse == ([1], [1.0]) and one.dense is not None and len(one.dense) == 4


def test_one_query_fuses_dense_and_sparse_within_the_languages(memory_store: Store) -> None:
    write(memory_store, *SOME)
    # dense favours chunk 4 (rust), sparse names chunk 3 (python): python only
    found = memory_store.query([0.0, 0.0, 0.0, 1.0], ([3], [1.0]), ["python"], 3)
    assert [p.metadata["language"] for p in found] == ["python"] * 3
    assert found[0].payload["page_content"] == "chunk 3"  # first in both rankings
    assert found[0].score > found[1].score
    both = memory_store.query([0.0, 0.0, 0.0, 1.0], None, [], 1)
    assert both[0].payload["page_content"] == "chunk 4"
    assert memory_store.query(None, ([99], [1.0]), ["python"], 3) == []


def test_an_embedded_index_persists_across_processes_opening_it(tmp_path: Path) -> None:
    settings = Settings(qdrant_path=str(tmp_path / "deep" / "index"), collection="Mine")
    with Store.open(settings) as store:
        write(store, *SOME)
    assert (tmp_path / "deep" / "index" / "Mine" / "CURRENT").read_text() == "v1\n"

    with Store.open(settings) as again, Store.open(settings) as and_another:
        assert again.collection == "Mine"
        assert again.record() == INFO == and_another.record()
        assert again.count() == 4 == and_another.count()
        assert again.stats()["location"] == str(tmp_path / "deep" / "index")


# -- versions ----------------------------------------------------------------------------------


def test_each_write_is_a_new_version_and_readers_follow_the_pointer(index: Settings) -> None:
    with Store.open(index) as writer_side, Store.open(index) as reader:
        write(writer_side, *SOME[:2])
        assert reader.count() == 2 and reader.generation == 1
        with writer_side.writing(INFO) as writer:
            writer.upsert(points(*SOME[2:]))
            writer.delete([points(SOME[0])[0].id])
            assert reader.count() == 2  # nothing visible before the switch
        assert reader.count() == 3 and reader.generation == 2
        assert {p.payload["page_content"] for p in reader.points()} == {
            "chunk 2", "chunk 3", "chunk 4"}
        with writer_side.writing(INFO):
            pass  # no change: no version
        assert reader.generation == 2


def test_a_failed_write_leaves_the_previous_version_and_no_leftovers(index: Settings) -> None:
    with Store.open(index) as store:
        write(store, *SOME)
        with pytest.raises(RuntimeError), store.writing(INFO) as writer:
            writer.delete([p.id for p in points(*SOME)])
            raise RuntimeError("killed half-way")
        assert store.count() == 4 and store.generation == 1
    home = Path(index.qdrant_path) / "AzureSDKs"
    assert sorted(p.name for p in home.iterdir()) == ["CURRENT", "locks", "v1"]


def test_what_a_killed_writer_left_is_cleaned_by_the_next(index: Settings) -> None:
    with Store.open(index) as store:
        write(store, *SOME[:1])
        home = Path(index.qdrant_path) / "AzureSDKs"
        (home / "v2.tmp" / "shard").mkdir(parents=True)  # as a SIGKILL leaves it
        (home / "v2.tmp" / "shard" / "junk").write_bytes(b"x" * 100)
        assert store.count() == 1
        write(store, *SOME[1:2])
        assert not (home / "v2.tmp").exists()
        assert store.count() == 2


def test_old_versions_go_once_no_reader_holds_them(index: Settings) -> None:
    home = Path(index.qdrant_path) / "AzureSDKs"
    with Store.open(index) as store:
        write(store, *SOME[:1])
        reader = Store.open(index)
        assert reader.count() == 1  # holds v1
        write(store, *SOME[1:2])
        write(store, *SOME[2:3])
        assert (home / "v1").is_dir() and not (home / "v2").exists()  # v2 had no reader
        assert reader.count() == 3  # moves to v3 and lets v1 go
        assert not (home / "v1").exists() and (home / "v3").is_dir()
        reader.close()


@pytest.mark.slow  # another process
def test_a_second_writer_is_refused_in_one_sentence_while_readers_read(index: Settings) -> None:
    with Store.open(index) as store:
        write(store, *SOME)
    path = Path(index.qdrant_path)
    with store_held_by_another_process(path), Store.open(index) as store:
        assert store.count() == 4  # reading is fine during an ingest
        with pytest.raises(StoreLockedError) as err, store.writing(INFO):
            pass
    message = str(err.value)
    assert str(path) in message and "Another 'azsdk-rag ingest'" in message
    assert "\n" not in message
    with Store.open(index) as store:  # free again once the other process is gone
        write(store, ("go", "azure-d", 5))
        assert store.count() == 5


def test_a_read_only_index_folder_can_be_queried(index: Settings) -> None:
    from support.reliability_fixtures import read_only

    with Store.open(index) as store:
        write(store, *SOME)
    with read_only(Path(index.qdrant_path)), Store.open(index) as store:
        assert store.count() == 4
        found = store.query([1.0, 0.0, 0.0, 0.0], ([1], [1.0]), ["python"], 2)
        assert found[0].payload["page_content"] == "chunk 1"
        with pytest.raises(StoreError) as err, store.writing(INFO) as writer:
            writer.upsert(points(("go", "azure-d", 5)))
        assert "\n" not in str(err.value) and index.qdrant_path in str(err.value)


# -- the previous release's index -----------------------------------------------------------------


def legacy_index(path: Path, record: EmbedderInfo | None = INFO) -> None:
    """What the previous release wrote: qdrant-client local mode at the same path."""
    client = QdrantClient(path=str(path))
    client.create_collection(
        "AzureSDKs",
        vectors_config={DENSE: models.VectorParams(size=4, distance=models.Distance.COSINE)},
        sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        metadata={RECORD_KEY: {**record.to_dict(), "schema": 1}} if record else None)
    client.upsert("AzureSDKs", points=[
        models.PointStruct(id=p.id, vector={DENSE: p.dense, SPARSE: models.SparseVector(
            indices=p.sparse[0], values=p.sparse[1])}, payload=p.payload)
        for p in points(*SOME) if p.sparse and p.dense])
    client.close()


def test_an_index_of_the_previous_release_is_moved_by_the_next_write(index: Settings) -> None:
    path = Path(index.qdrant_path)
    legacy_index(path)
    with Store.open(index) as store:
        with pytest.raises(EmptyIndexError) as err:
            store.check_compatible(INFO)
        assert "older azsdk-rag" in str(err.value) and "azsdk-rag ingest" in str(err.value)
        assert store.stats()["legacy"] is True
        with store.writing(INFO):
            pass  # an ingest with nothing new still moves the index
        assert store.record() == INFO and store.count() == 4
        assert store.manifest()["origin"] == "moved from the previous release's index"
        (moved,) = store.retrieve([points(SOME[0])[0].id], vectors=True)
        assert moved.sparse == ([1], [1.0]) and moved.payload["page_content"] == "chunk 1"
    assert not (path / "collection").exists() and not (path / "meta.json").exists()


def test_the_previous_release_index_keeps_its_embedder_refusal(index: Settings) -> None:
    legacy_index(Path(index.qdrant_path))
    other = EmbedderInfo("test/dense-4", 8, "Qdrant/bm25")
    with Store.open(index) as store, pytest.raises(EmbedderMismatchError), \
            store.writing(other):
        pass
    assert (Path(index.qdrant_path) / "meta.json").exists()  # left as it was


# -- servers and paths -------------------------------------------------------------------------


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
        Store.open(Settings(qdrant_path=str(blocker)))
    with Store.open(Settings(qdrant_path=str(blocker / "index"))) as store, \
            pytest.raises(StoreError, match=f"the index at {blocker}"):
        write(store, *SOME)


def test_a_manifest_is_plain_json_beside_the_shard(index: Settings) -> None:
    with Store.open(index) as store:
        write(store, *SOME)
    version = Path(index.qdrant_path) / "AzureSDKs" / "v1"
    assert sorted(os.listdir(version)) == ["manifest.json", "shard"]
    assert json.loads((version / "manifest.json").read_text())["collection"] == "AzureSDKs"


def test_a_version_maps_its_vectors_cold_searches_int8_copies_on_one_thread(
        index: Settings) -> None:
    """Searches read int8 copies kept in memory, the float vectors stay mapped and unread on
    disk, and one thread searches: a version has one segment with points (edge_requests.py)."""
    with Store.open(index) as store:
        write(store, *SOME)
        assert store.query([1.0, 0.0, 0.0, 1.0], None, ["python"], 2)
    config = json.loads((Path(index.qdrant_path) / "AzureSDKs" / "v1" / "shard" /
                         "edge_config.json").read_text())
    assert config["vectors"][DENSE]["memory"] == "cold"
    assert config["vectors"][DENSE]["quantization_config"] == {
        "scalar": {"type": "int8", "quantile": 0.99, "memory": "cached"}}
    assert config["max_search_threads"] == 1
