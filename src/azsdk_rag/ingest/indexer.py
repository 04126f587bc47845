"""Write chunks into the collection: deterministic ids, only what changed, old chunks removed last.

Ids come from (language, package, chunk text), so re-ingesting unchanged READMEs embeds and writes
nothing. On the embedded store the changes go into a new version that readers see only once it is
complete (an ingest killed at any moment leaves the previous version serving). On a server, new
points are written before stale ones are deleted: a killed ingest leaves the old index plus some
new points, and running it again ends with exactly the index of a clean run.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.documents import Document

from ..embeddings import Embedders
from ..errors import StoreError
from ..store import Point, Store, Writer, store_errors
from .chunking import embedding_view

log = logging.getLogger(__name__)

ID_NAMESPACE = uuid.UUID("5b0f8a8e-3c4e-4a44-9a3e-7c1d2f6b9e21")

Key = tuple[str, str]  # (language, package)
Progress = Callable[[int, int], None]  # (points written so far, points to write)


def point_id(language: str, package: str, content: str) -> str:
    """Same README chunk, same id: what makes re-ingest idempotent."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{language}\x1f{package}\x1f{content}"))


@dataclass
class IngestReport:
    readmes: int = 0
    chunks: int = 0
    written: int = 0
    deleted: int = 0
    unchanged: int = 0
    updated: int = 0  # unchanged chunks whose metadata was refreshed
    unchanged_readmes: int = 0  # READMEs whose hash matched: not chunked, points kept
    pruned_packages: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def summary(self) -> str:
        return (f"{self.readmes} READMEs ({self.unchanged_readmes} unchanged), "
                f"{self.chunks} chunks: {self.written} written, "
                f"{self.unchanged} unchanged, {self.deleted} deleted"
                f"{f', {self.pruned_packages} packages pruned' if self.pruned_packages else ''}"
                f" in {self.seconds:.1f} s")


class Indexer:
    """Brings a collection in line with a set of README chunks."""

    def __init__(self, store: Store, embedders: Embedders, batch_size: int = 64):
        self.store = store
        self.embedders = embedders
        self.batch_size = batch_size

    def index(self, readmes: int, chunks: Sequence[Document], *, prune: bool = False,
              progress: Progress | None = None, changed: Collection[Key] | None = None,
              kept: Collection[Key] = (), hashes: Mapping[str, str] | None = None) \
            -> IngestReport:
        """Upsert new chunks, delete replaced ones and (``prune``) packages gone from the source.

        ``changed``: the (language, package) of the READMEs chunked (default: the chunks' own);
        ``kept``: those skipped as unchanged, whose points stay as they are; ``hashes``: the
        README hashes to record. On the embedded store the changes make a new version, switched
        to once complete; with nothing to change, no version is made.
        """
        with store_errors(self.store.settings):
            return self._index(readmes, chunks, prune=prune, progress=progress,
                               changed=changed, kept=set(kept), hashes=hashes)

    def _nothing_to_do(self, chunks: Sequence[Document], kept: set[Key], prune: bool,
                       hashes: Mapping[str, str] | None) -> bool:
        """Every README unchanged, nothing to prune, the hashes recorded: skip the scan."""
        if chunks or hashes is None or not self.store.exists():
            return False
        if any(self.store.readme_hashes().get(k) != v for k, v in hashes.items()):
            return False
        if not prune:
            return True
        counts = self.store.package_counts()
        languages = {lang for lang, _ in kept}
        return counts is not None and all(key in kept for key in counts if key[0] in languages)

    def _index(self, readmes: int, chunks: Sequence[Document], *, prune: bool,
               progress: Progress | None, changed: Collection[Key] | None, kept: set[Key],
               hashes: Mapping[str, str] | None) -> IngestReport:
        start = time.perf_counter()
        wanted: dict[str, Document] = {}
        by_package: dict[Key, set[str]] = defaultdict(set)
        for chunk in chunks:
            key = (chunk.metadata["language"], chunk.metadata["package"])
            pid = point_id(*key, chunk.page_content)
            wanted[pid] = chunk
            by_package[key].add(pid)
        counts = self.store.package_counts() if kept else None
        kept_points = sum((counts or {}).get(key, 0) for key in kept)
        with self.store.writing(self.embedders.info) as writer:  # the one writer, even idle
            if hashes is not None:
                writer.record_readmes(dict(hashes))
                self._check_kept(kept, hashes)
            if self._nothing_to_do(chunks, kept, prune, hashes):
                report = IngestReport(readmes=readmes, chunks=kept_points, unchanged=kept_points,
                                      unchanged_readmes=len(kept))
                report.seconds = time.perf_counter() - start
                return report
            existing, stored = self._stored()
            # shortest first: batches of similar length waste least padding in the embedder
            todo = sorted((pid for pid in wanted if pid not in stored),
                          key=lambda pid: len(wanted[pid].page_content))
            report = IngestReport(readmes=readmes, chunks=len(wanted) + kept_points,
                                  unchanged=len(wanted) - len(todo) + kept_points,
                                  unchanged_readmes=len(kept))
            for i in range(0, len(todo), self.batch_size):
                batch = todo[i:i + self.batch_size]
                self._upsert(writer, batch, [wanted[pid] for pid in batch])
                report.written += len(batch)
                if progress:
                    progress(report.written, len(todo))
            report.updated = self._refresh_payloads(writer, wanted, stored)
            stale = self._stale(existing, by_package, set(changed or ()), kept, prune, report)
            if stale:
                writer.delete(stale)
            report.deleted = len(stale)
        report.seconds = time.perf_counter() - start
        return report

    def _check_kept(self, kept: set[Key], hashes: Mapping[str, str]) -> None:
        """The READMEs skipped as unchanged must still be as recorded once this ingest holds
        the writer lock: another ingest may have finished in between."""
        recorded = self.store.readme_hashes()
        if any(recorded.get(f"{k[0]}/{k[1]}") != hashes.get(f"{k[0]}/{k[1]}") for k in kept):
            raise StoreError(
                f"The index at {self.store.settings.location} changed while this ingest "
                "read it (another ingest finished); run this one again.")

    def _stored(self) -> tuple[dict[Key, set[str]], dict[str, dict[str, Any]]]:
        """One pass over the stored payloads: ids by package, and each id's payload."""
        existing: dict[Key, set[str]] = defaultdict(set)
        stored: dict[str, dict[str, Any]] = {}
        for point in (self.store.points() if self.store.exists() else ()):
            meta = point.metadata
            existing[(meta.get("language", ""), meta.get("package", ""))].add(point.id)
            stored[point.id] = point.payload
        return existing, stored

    @staticmethod
    def _stale(existing: dict[Key, set[str]], by_package: dict[Key, set[str]],
               changed: set[Key], kept: set[Key], prune: bool, report: IngestReport) -> list[str]:
        """Stored ids no chunk of a re-read README has any more; with ``prune``, also every
        package of the languages ingested that the source no longer has."""
        stale_ids: set[str] = set()
        for key in set(by_package) | changed:
            stale_ids |= existing.get(key, set()) - by_package.get(key, set())
        if prune:
            languages = {lang for lang, _ in (*by_package, *kept)}
            gone = [key for key in existing if key[0] in languages
                    and key not in by_package and key not in kept]
            report.pruned_packages = len(gone)
            for key in gone:
                stale_ids |= existing[key]
        return sorted(stale_ids)

    def _refresh_payloads(self, writer: Writer, wanted: dict[str, Document],
                          stored: dict[str, dict[str, Any]]) -> int:
        """Rewrite the payload of unchanged chunks whose metadata changed (a new version, URL or
        position in the README): same text, same id and vectors, so nothing is embedded again;
        without this the index keeps the old metadata until the chunk's text changes."""
        updated = 0
        for pid, doc in wanted.items():
            if pid not in stored:
                continue
            payload = {"page_content": doc.page_content, "metadata": doc.metadata}
            if stored[pid] != payload:
                writer.overwrite_payload(pid, payload)
                updated += 1
        return updated

    def _upsert(self, writer: Writer, ids: list[str], docs: list[Document]) -> None:
        texts = [embedding_view(d.page_content) for d in docs]
        dense = self.embedders.dense.embed_documents(texts)
        sparse = self.embedders.sparse.embed_documents(texts)
        writer.upsert([
            Point(pid, {"page_content": doc.page_content, "metadata": doc.metadata}, d,
                  (list(s.indices), list(s.values)))
            for pid, doc, d, s in zip(ids, docs, dense, sparse, strict=True)
        ])
