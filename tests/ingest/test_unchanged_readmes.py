"""Re-ingest skips the READMEs whose hash (text, metadata, chunker settings, embedders) is the one
the index recorded: they are not chunked or read for identifiers again, and the index and its
identifier table still equal a clean run's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from azsdk_rag.evidence import PackageEvidence, evidence_path
from azsdk_rag.ingest.chunking import MarkdownChunker
from azsdk_rag.ingest.pipeline import ingest
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.ingest_fixtures import corpus_row, readme, tiny_rows, write_jsonl


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The packages the chunker splits, in order."""
    seen: list[str] = []
    split = MarkdownChunker.split

    def counting(self: MarkdownChunker, doc):  # type: ignore[no-untyped-def]
        seen.append(doc.metadata["package"])
        return split(self, doc)

    monkeypatch.setattr(MarkdownChunker, "split", counting)
    yield seen


def state(settings: Settings) -> tuple[dict, dict, list]:
    """Everything a reader sees: points (payloads), counts, and the identifier table."""
    with Store.open(settings) as store:
        points = {p.id: p.payload for p in store.points()}
        languages = store.stats()["languages"]
    path = evidence_path(settings.qdrant_path, settings.collection)
    assert path is not None
    table = PackageEvidence.load(path)
    assert table is not None
    return points, languages, table.to_json()["packages"]


def settings_at(path: Path, model_dir: Path, **extra: object) -> Settings:
    return Settings(qdrant_path=str(path), model_dir=model_dir, batch_size=4, **extra)


def test_an_unchanged_reingest_chunks_nothing_and_a_changed_readme_is_chunked_again(
        tmp_path: Path, model_dir: Path, chunked: list[str]) -> None:
    rows = tiny_rows()
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    settings = settings_at(tmp_path / "index", model_dir)
    first = ingest(settings, corpus=[corpus], progress=False)
    assert sorted(chunked) == sorted(r["package"] for r in rows)
    assert first.unchanged_readmes == 0
    before = state(settings)

    chunked.clear()
    again = ingest(settings, corpus=[corpus], progress=False)
    assert chunked == []
    assert again.unchanged_readmes == 3 and again.written == 0 and again.deleted == 0
    assert again.chunks == first.chunks == again.unchanged
    assert state(settings) == before

    send = "## Send\n\n```js\nawait client.sendTinyMessage();\n```\n"
    rows[1] = corpus_row("javascript", rows[1]["package"], version="1.0.0",
                         text=readme("Tiny queue", rows[1]["package"], extra=send))
    write_jsonl(corpus, rows)
    chunked.clear()
    changed = ingest(settings, corpus=[corpus], progress=False)
    assert chunked == [rows[1]["package"]]
    assert changed.unchanged_readmes == 2 and changed.written >= 1 and changed.deleted >= 1

    clean = settings_at(tmp_path / "clean", model_dir)
    ingest(clean, corpus=[corpus], progress=False)
    assert state(settings) == state(clean)
    assert "sendTinyMessage" in str(state(settings)[2])


def test_other_chunk_settings_chunk_every_readme_again(tmp_path: Path, model_dir: Path,
                                                       chunked: list[str]) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", tiny_rows())
    ingest(settings_at(tmp_path / "index", model_dir), corpus=[corpus], progress=False)
    chunked.clear()
    report = ingest(settings_at(tmp_path / "index", model_dir, chunk_tokens=200),
                    corpus=[corpus], progress=False)
    assert len(chunked) == 3 and report.unchanged_readmes == 0


def test_prune_of_unchanged_readmes_drops_only_the_package_gone(
        tmp_path: Path, model_dir: Path, chunked: list[str]) -> None:
    rows = [*tiny_rows(), corpus_row("python", "azure-tiny-gone", version="1.0.0")]
    settings = settings_at(tmp_path / "index", model_dir)
    ingest(settings, corpus=[write_jsonl(tmp_path / "all.jsonl", rows)], progress=False)
    kept = write_jsonl(tmp_path / "kept.jsonl", rows[:3])
    chunked.clear()
    report = ingest(settings, corpus=[kept], prune=True, progress=False)
    assert chunked == [] and report.pruned_packages == 1

    clean = settings_at(tmp_path / "clean", model_dir)
    ingest(clean, corpus=[kept], progress=False)
    assert state(settings) == state(clean)
    chunked.clear()
    assert ingest(settings, corpus=[kept], prune=True, progress=False).pruned_packages == 0
    assert chunked == []
