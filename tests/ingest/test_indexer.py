"""Indexing with the real fastembed models into real Qdrant (``:memory:``): deterministic ids, only
what changed is written, replaced and pruned chunks are removed, every point has both vectors.

The READMEs are tiny (one chunk each) so that embedding stays cheap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document

from azsdk_rag.embeddings import Embedders, make_embedders
from azsdk_rag.errors import EmbedderMismatchError
from azsdk_rag.ingest.chunking import MarkdownChunker
from azsdk_rag.ingest.indexer import Indexer, IngestReport, point_id
from azsdk_rag.ingest.pipeline import chunker_for, ingest
from azsdk_rag.ingest.sources import load_corpus, readme_document
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from azsdk_rag.types import EmbedderInfo
from support.ingest_fixtures import SAMPLE, corpus_row, readme, tiny_rows, write_jsonl

CHUNKER = MarkdownChunker()


@pytest.fixture(scope="module")
def embedders(model_dir: Path) -> Embedders:
    return make_embedders(Settings(qdrant_path=":memory:", model_dir=model_dir))


@pytest.fixture
def store() -> Iterator[Store]:
    with Store.open(Settings(qdrant_path=":memory:")) as s:
        yield s


def docs_of(*rows: dict) -> list[Document]:
    return [readme_document(r, r["text"]) for r in rows]


def run(store: Store, embedders: Embedders, docs: list[Document], *, prune: bool = False,
        batch_size: int = 2) -> IngestReport:
    chunks = CHUNKER.split_documents(docs)
    return Indexer(store, embedders, batch_size).index(len(docs), chunks, prune=prune)


def ids_by_package(store: Store) -> dict[tuple[str, str], set[str]]:
    return dict(store.ids_by_package())


def expected_ids(docs: list[Document]) -> set[str]:
    return {point_id(c.metadata["language"], c.metadata["package"], c.page_content)
            for c in CHUNKER.split_documents(docs)}


def test_point_ids_are_deterministic_uuids_of_language_package_and_content() -> None:
    a = point_id("python", "azure-core", "text")
    assert a == point_id("python", "azure-core", "text")
    assert uuid.UUID(a).version == 5
    assert len({a, point_id("java", "azure-core", "text"), point_id("python", "azure-x", "text"),
                point_id("python", "azure-core", "text!")}) == 4


def test_first_ingest_writes_every_chunk_with_dense_and_sparse_vectors(
        store: Store, embedders: Embedders) -> None:
    docs = docs_of(*tiny_rows())
    progress: list[tuple[int, int]] = []
    chunks = CHUNKER.split_documents(docs)
    report = Indexer(store, embedders, 2).index(
        len(docs), chunks, progress=lambda done, total: progress.append((done, total)))

    n = len(chunks)
    assert report.readmes == 3 and report.chunks == n >= 3
    assert report.written == n and report.unchanged == 0 and report.deleted == 0
    assert progress[-1] == (n, n) and len(progress) == (n + 1) // 2  # batches of two
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})
    assert store.generation == 1
    assert store.record() == embedders.info
    records = list(store.points(vectors=True))
    assert {r.id for r in records} == expected_ids(docs)
    for r in records:
        assert r.dense is not None and r.sparse is not None
        assert len(r.dense) == embedders.info.dense_dim == 384
        assert any(abs(x) > 0 for x in r.dense)
        assert len(r.sparse[0]) > 0
        assert r.payload["page_content"].startswith(r.payload["metadata"]["title"])
        assert {"language", "package", "section", "chunk", "url"} <= set(r.payload["metadata"])
    summary = report.summary()
    assert "3 READMEs" in summary and f"{n} written" in summary


def test_reingesting_unchanged_readmes_writes_nothing(store: Store, embedders: Embedders) -> None:
    docs = docs_of(*tiny_rows())
    run(store, embedders, docs)
    before = ids_by_package(store)

    report = run(store, embedders, docs, prune=True)

    assert (report.written, report.deleted, report.unchanged) == (0, 0, store.count())
    assert report.pruned_packages == 0
    assert store.generation == 1  # nothing changed: caches need not reload
    assert ids_by_package(store) == before


def test_a_changed_readme_replaces_its_chunks_and_nothing_else(store: Store,
                                                               embedders: Embedders) -> None:
    rows = tiny_rows()
    run(store, embedders, docs_of(*rows))
    before = ids_by_package(store)
    key = (rows[0]["language"], rows[0]["package"])
    changed = {**rows[0], "text": readme("Tiny changed", rows[0]["package"],
                                         extra="Version 2 adds retries.")}

    report = run(store, embedders, docs_of(changed, *rows[1:]))

    after = ids_by_package(store)
    assert after[key] == expected_ids(docs_of(changed))
    assert not after[key] & before[key]  # old chunks gone
    assert {k: v for k, v in after.items() if k != key} == \
        {k: v for k, v in before.items() if k != key}  # other packages untouched
    assert report.written == len(after[key]) and report.deleted == len(before[key])
    assert report.unchanged == sum(len(v) for k, v in before.items() if k != key)
    assert store.count() == sum(len(v) for v in after.values())


def test_prune_removes_readmes_gone_from_the_source_of_the_same_languages(
        store: Store, embedders: Embedders) -> None:
    rows = tiny_rows()  # python, javascript, rust
    extra = corpus_row("python", "azure-tiny-extra")
    run(store, embedders, docs_of(*rows, extra))
    before = ids_by_package(store)

    # a python-only source without azure-tiny-extra; without --prune nothing goes
    report = run(store, embedders, docs_of(rows[0]))
    assert report.deleted == 0 and ids_by_package(store) == before

    report = run(store, embedders, docs_of(rows[0]), prune=True)
    after = ids_by_package(store)
    assert report.pruned_packages == 1 and report.deleted == len(before[("python",
                                                                           "azure-tiny-extra")])
    assert ("python", "azure-tiny-extra") not in after
    # javascript and rust were not in the source at all: left alone
    assert after == {k: v for k, v in before.items() if k != ("python", "azure-tiny-extra")}


def test_indexing_with_other_embedders_is_refused_before_writing(store: Store,
                                                                 embedders: Embedders) -> None:
    run(store, embedders, docs_of(*tiny_rows()[:1]))
    other = Embedders(embedders.dense, embedders.sparse,
                      EmbedderInfo("sentence-transformers/other", 768, "Qdrant/bm25"))
    with pytest.raises(EmbedderMismatchError, match="768-d"):
        Indexer(store, other, 2).index(3, CHUNKER.split_documents(docs_of(*tiny_rows())))
    assert store.count() == len(expected_ids(docs_of(*tiny_rows()[:1])))


def test_the_pipeline_ingests_a_corpus_and_reports_per_language(tmp_path: Path, model_dir: Path,
                                                               embedders: Embedders) -> None:
    corpus = write_jsonl(tmp_path / "tiny.jsonl.gz", tiny_rows())
    settings = Settings(qdrant_path=str(tmp_path / "index"), model_dir=model_dir, batch_size=2)

    report = ingest(settings, corpus=[corpus], progress=False)

    docs = docs_of(*tiny_rows())
    n = len(expected_ids(docs))
    assert report.written == n
    with Store.open(settings) as store:  # the pipeline closed its own store
        stats = store.stats()
    assert stats["points"] == n
    assert stats["embeddings"] == embedders.info.to_dict()
    assert stats["languages"] == {
        d.metadata["language"]: {"points": len(expected_ids([d])), "packages": 1} for d in docs}
    again = ingest(settings, corpus=[corpus], progress=False)
    assert again.written == 0 and again.unchanged == n


@pytest.mark.slow
def test_the_sample_index_holds_every_chunk_of_the_sample_corpus(sample_index: Store) -> None:
    """Read-only, on the session's sample index: complete, deterministic, both vectors."""
    docs = load_corpus([SAMPLE])
    chunks = chunker_for(sample_index.settings).split_documents(docs)
    expected: dict[str, dict[str, int]] = {}
    for lang in {d.metadata["language"] for d in docs}:
        expected[lang] = {
            "packages": sum(d.metadata["language"] == lang for d in docs),
            "points": len({point_id(lang, c.metadata["package"], c.page_content)
                           for c in chunks if c.metadata["language"] == lang})}
    stats = sample_index.stats()
    assert stats["languages"] == expected
    assert {i for group in sample_index.ids_by_package().values() for i in group} == {
        point_id(c.metadata["language"], c.metadata["package"], c.page_content) for c in chunks}
    for r in sample_index.points(vectors=True, batch=256):
        assert r.dense is not None and r.sparse is not None
        assert len(r.dense) == 384 and len(r.sparse[0]) > 0
