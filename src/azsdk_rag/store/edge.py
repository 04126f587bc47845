"""The embedded store: Qdrant Edge (``qdrant_edge``), Qdrant's own engine, in process.

Each version of the index is an Edge shard created without a write-ahead log, so any number of
processes load and query it at once (:mod:`.versions` says how versions are switched). A reader
checks the pointer at each call (one small file read) and opens the new version when an ingest
has switched it: a running server answers from the new index at its next question.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ..errors import EmbedderMismatchError, EmptyIndexError, StoreError
from ..settings import MEMORY, Settings
from ..types import EmbedderInfo
from .base import Point, Sparse, Store, point_of
from .edge_files import MIN_FREE, copy_sparse, edge_errors, load_in_place
from .edge_requests import language_filter, query_request
from .edge_writer import EdgeWriter
from .legacy import legacy_folder, legacy_record
from .versions import SHARD, Home, Lease

__all__ = ["EdgeStore", "EdgeWriter", "copy_sparse", "edge_errors", "language_filter"]


class EdgeStore(Store):
    """The versioned Edge index at ``AZSDK_RAG_QDRANT_PATH`` (``:memory:``: a temporary folder)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.collection = settings.collection
        self._memory: str | None = None
        if settings.qdrant_path == MEMORY:
            self._memory = tempfile.mkdtemp(prefix="azsdk-rag-memory-")
            self.base = Path(self._memory)
        else:
            self.base = Path(settings.qdrant_path)
            if self.base.exists() and not self.base.is_dir():
                raise StoreError(f"Cannot open the index at {self.base}: it is not a folder.")
        self.home = Home(self.base / self.collection)
        self._lock = threading.RLock()
        self._number: int | None = None
        self._shard: qe.EdgeShard | None = None
        self._manifest: dict[str, Any] = {}
        self._lease = Lease(None)
        self._private: str | None = None  # a copy of a version that could not be loaded in place

    @property
    def location(self) -> str:
        return self.settings.location

    # -- opening the current version -------------------------------------------------------------
    def _sync(self) -> qe.EdgeShard | None:
        """The shard of the current version, opened again when an ingest switched it."""
        with self._lock:
            for _attempt in range(5):
                try:
                    number = self.home.current()
                except OSError as exc:
                    raise StoreError(f"Cannot open the index at {self.location}: "
                                     f"{exc.strerror or exc}.") from None
                if number == self._number:
                    return self._shard
                if number is None:
                    self._release()
                    return None
                if self._open(number):
                    return self._shard
                time.sleep(0.01)  # collected between reading CURRENT and the lease: read again
            raise StoreError(f"Cannot open the index at {self.location}: its current version "
                             "keeps changing; try again.")

    def _open(self, number: int) -> bool:
        try:
            lease = self.home.lease(number)
        except OSError as exc:
            raise StoreError(f"Cannot open the index at {self.location}: "
                             f"{exc.strerror or exc}.") from None
        folder = self.home.shard_dir(number)
        if not folder.is_dir():
            lease.release()
            return False
        private: str | None = None
        try:
            with edge_errors(self.location):
                manifest = self.home.manifest(number)
                # Edge 0.9 writes a few pages of its files when it loads a shard: on a full disk
                # that is a SIGBUS, so read a private copy there (and where writes are refused)
                shard = None
                if shutil.disk_usage(folder).free >= MIN_FREE:
                    shard = load_in_place(folder)
                if shard is None:
                    private = tempfile.mkdtemp(prefix="azsdk-rag-readonly-")
                    copy_sparse(folder, Path(private) / SHARD)
                    shard = qe.EdgeShard.load(str(Path(private) / SHARD))
        except BaseException:
            lease.release()
            if private:
                shutil.rmtree(private, ignore_errors=True)
            raise
        self._release()
        self._number, self._shard, self._manifest = number, shard, manifest
        self._lease, self._private = lease, private
        with contextlib.suppress(OSError):
            self.home.collect()  # versions nobody reads any more (a no-op when read-only)
        return True

    def _release(self) -> None:
        if self._shard is not None:
            with contextlib.suppress(Exception):
                self._shard.close()
        self._lease.release()
        if self._private:
            shutil.rmtree(self._private, ignore_errors=True)
        self._number, self._shard, self._manifest = None, None, {}
        self._lease, self._private = Lease(None), None

    def close(self) -> None:
        with self._lock:
            self._release()
        if self._memory:
            shutil.rmtree(self._memory, ignore_errors=True)
            self._memory = None

    # -- what is stored ----------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        self._sync()
        return self._number or 0

    @property
    def version(self) -> int | None:
        """The number of the version being read (None before the first ingest)."""
        self._sync()
        return self._number

    def manifest(self) -> dict[str, Any]:
        """The current version's manifest: record, counts per language and package, origin."""
        self._sync()
        return dict(self._manifest)

    def readme_hashes(self) -> dict[str, str]:
        self._sync()
        readmes = self._manifest.get("readmes")
        return dict(readmes) if isinstance(readmes, dict) else {}

    def package_counts(self) -> dict[tuple[str, str], int] | None:
        self._sync()
        packages = self._manifest.get("packages")
        if not isinstance(packages, dict):
            return None
        return {(k.partition("/")[0], k.partition("/")[2]): int(n) for k, n in packages.items()}

    def legacy(self) -> Path | None:
        """A previous release's local-mode collection at this path, not yet moved."""
        if self._memory or self.home.current() is not None:
            return None
        return legacy_folder(self.base, self.collection)

    def exists(self) -> bool:
        return self._sync() is not None

    def record(self) -> EmbedderInfo | None:
        self._sync()
        rec = self._manifest.get("embeddings")
        if not isinstance(rec, dict):
            return None
        return EmbedderInfo(rec["dense_model"], int(rec["dense_dim"]), rec["sparse_model"])

    def check_compatible(self, info: EmbedderInfo) -> None:
        if not self.exists() and self.legacy() is not None:
            raise EmptyIndexError(
                f"The index at {self.location} was written by an older azsdk-rag; run "
                "'azsdk-rag ingest' once to move it to the new format (nothing is embedded "
                "again)."
            )
        super().check_compatible(info)

    def count(self) -> int:
        self._sync()
        return int(self._manifest.get("points", 0))

    def points(self, keys: Sequence[str] | None = None, *, vectors: bool = False,
               batch: int = 1024) -> Iterator[Point]:
        shard = self._sync()
        if shard is None:
            return
        offset: Any = None
        while True:
            with self._lock, edge_errors(self.location):
                if self._shard is not shard:
                    raise StoreError(f"The index at {self.location} was replaced while being "
                                     "read; try again.")
                records, offset = shard.scroll(qe.ScrollRequest(
                    offset=offset, limit=batch,
                    with_payload=list(keys) if keys is not None else True,
                    with_vector=vectors))
            for record in records:
                yield point_of(record)
            if offset is None:
                return

    def retrieve(self, ids: Sequence[str], *, vectors: bool = False) -> list[Point]:
        with self._lock, edge_errors(self.location):
            shard = self._sync()
            if shard is None or not ids:
                return []
            return [point_of(r) for r in shard.retrieve(list(ids), with_payload=True,
                                                          with_vector=vectors)]

    def query(self, dense: list[float] | None, sparse: Sparse | None,
              languages: Sequence[str], k: int) -> list[Point]:
        request = query_request(dense, sparse, languages, k)
        if request is None:
            return []
        with self._lock, edge_errors(self.location):
            shard = self._sync()
            if shard is None:
                return []
            found = shard.query(request)
        return [point_of(p, p.score) for p in found]

    def stats(self) -> dict[str, Any]:
        """Location, embedders, version and points per language: read from the manifest."""
        data: dict[str, Any] = {"location": self.location, "backend": "embedded",
                                "collection": self.collection, "exists": self.exists()}
        if not data["exists"]:
            legacy = self.legacy() is not None
            return data | {"points": 0, "languages": {}, **({"legacy": True} if legacy else {})}
        manifest = self.manifest()
        return data | {
            "version": manifest.get("version"),
            "origin": manifest.get("origin"),
            "created": manifest.get("created"),
            "embeddings": manifest.get("embeddings"),
            "points": int(manifest.get("points", 0)),
            "languages": manifest.get("languages", {}),
        }

    # -- writing ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, info: EmbedderInfo, origin: str = "ingest", *,
                replace: bool = False) -> Iterator[EdgeWriter]:
        with edge_errors(self.location, writing=True), self.home.writer_lock(self.location):
            with edge_errors(self.location, writing=True):
                self.home.clean_leftovers()
            legacy = None if replace else self.legacy()
            if legacy is not None:  # the previous release's index: its points, not re-embedded
                self._check_writable(info, legacy)
                moved = EdgeWriter(self, info, "moved from the previous release's index",
                                   replace=False, legacy=legacy)
                try:
                    moved.begin()
                    moved.finish()
                except BaseException:
                    moved.abort()
                    raise
                self._sync()
            if not replace:
                self._check_writable(info, None)
            writer = EdgeWriter(self, info, origin, replace=replace, legacy=None)
            try:
                if replace:
                    writer.begin()
                yield writer
                writer.finish()
            except BaseException:
                writer.abort()
                raise
        self._sync()

    def _check_writable(self, info: EmbedderInfo, legacy: Path | None) -> None:
        if legacy is not None:
            with edge_errors(self.location):
                have = legacy_record(self.base, self.collection)
        elif self.exists():
            have = self.record()
        else:
            return
        if have is None:
            raise EmbedderMismatchError(
                f"The collection '{self.collection}' at {self.location} was not built "
                "by azsdk-rag; choose another AZSDK_RAG_COLLECTION.")
        if have != info:
            raise EmbedderMismatchError(
                f"The index '{self.collection}' was built with {have.describe()}, but these "
                f"settings embed with {info.describe()}; re-ingest into another collection "
                "(AZSDK_RAG_COLLECTION) or switch AZSDK_RAG_EMBEDDINGS back.")
