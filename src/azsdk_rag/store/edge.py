"""The embedded store: Qdrant Edge (``qdrant_edge``), Qdrant's own engine, in process.

Each version of the index is an Edge shard created without a write-ahead log, so any number of
processes load and query it at once (:mod:`.versions` says how versions are switched). A reader
checks the pointer at each call (one small file read) and opens the new version when an ingest
has switched it: a running server answers from the new index at its next question.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ..errors import AzsdkRagError, EmbedderMismatchError, EmptyIndexError, StoreError
from ..settings import MEMORY, Settings
from ..types import EmbedderInfo
from .base import (
    DENSE,
    INDEXED_FIELDS,
    LANGUAGE,
    PACKAGE,
    RRF_K,
    SCHEMA,
    SPARSE,
    Point,
    Sparse,
    Store,
    counts_by_language,
    point_of,
)
from .legacy import legacy_folder, legacy_points, legacy_record, remove_legacy
from .versions import SHARD, Home, Lease

BATCH = 512
MIN_FREE = 1 << 20  # bytes a new version needs at least, beyond the size of the current one


def allocated(folder: Path) -> int:
    """Bytes on disk under ``folder`` (Edge's mmap files are sparse: their size says little)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total


def disk_full_error(location: str) -> StoreError:
    return StoreError(
        f"The disk holding the index at {location} is full; free some space and run the ingest "
        "again (the previous version of the index still serves)."
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return text.split(": ")[-1].strip().rstrip(".") or type(exc).__name__


def disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return (getattr(exc, "errno", None) == errno.ENOSPC or "os error 28" in text
            or "No space left" in text or "disk is full" in text)


def _read_only(exc: BaseException) -> bool:
    text = str(exc)
    return (getattr(exc, "errno", None) in (errno.EROFS, errno.EACCES)
            or "os error 30" in text or "os error 13" in text or "Read-only" in text)


@contextlib.contextmanager
def edge_errors(location: str, writing: bool = False) -> Iterator[None]:
    """Edge raises plain ``Exception``s with Rust's message; turn them (and OSError) into one
    sentence. Other exceptions are bugs and stay as they are."""
    try:
        yield
    except AzsdkRagError:
        raise
    except Exception as exc:
        if type(exc) is not Exception and not isinstance(exc, OSError):
            raise
        if disk_full(exc):
            raise disk_full_error(location) from None
        what = "write" if writing else "use"
        raise StoreError(f"Cannot {what} the index at {location}: {_reason(exc)}.") from None


def edge_config(info: EmbedderInfo) -> qe.EdgeConfig:
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=info.dense_dim, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        wal_enabled=False,  # with a WAL, a shard is one process's exclusive lock
    )


def _to_edge(point: Point) -> qe.Point:
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


def copy_sparse(src: Path, dst: Path) -> None:
    """Copy a folder keeping files' holes (Edge's mmap files are mostly holes)."""
    for root, _dirs, files in os.walk(src):
        target = dst / Path(root).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            _copy_file_sparse(Path(root) / name, target / name)


def _copy_file_sparse(src: Path, dst: Path) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fin.fileno(), offset, os.SEEK_DATA)
            except OSError:  # no data after offset (ENXIO), or no SEEK_DATA here
                break
            end = os.lseek(fin.fileno(), start, os.SEEK_HOLE)
            fin.seek(start)
            fout.seek(start)
            left = end - start
            while left:
                chunk = fin.read(min(left, 1 << 20))
                if not chunk:
                    break
                fout.write(chunk)
                left -= len(chunk)
            offset = end
        fout.truncate(size)


def _load_in_place(folder: Path, attempts: int = 3) -> qe.EdgeShard | None:
    """Load a shard where it is; None where the folder refuses writes (Edge 0.9 writes a few
    pages and its config on load). Another reader rewriting the config at that moment can fail
    a load: it is tried again."""
    for attempt in range(attempts):
        try:
            return qe.EdgeShard.load(str(folder))
        except Exception as exc:
            if _read_only(exc):
                return None
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None


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
                    shard = _load_in_place(folder)
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
        flt = language_filter(languages)
        searches: list[tuple[Any, qe.SearchParams | None]] = []
        if dense is not None:
            searches.append((qe.Query.Nearest(list(dense), using=DENSE), None))
        if sparse is not None:
            # BM25's IDF over the languages searched, not the whole collection
            params = qe.SearchParams(idf=qe.IdfParams(corpus=flt)) if flt is not None else None
            searches.append((qe.Query.Nearest(qe.SparseVector(list(sparse[0]),
                                                              list(sparse[1])), using=SPARSE),
                             params))
        if not searches:
            return []
        if len(searches) == 1:
            (query, params), = searches
            request = qe.QueryRequest(limit=k, query=query, filter=flt, params=params,
                                      with_payload=True)
        else:
            request = qe.QueryRequest(
                limit=k, query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # stub: Rrf in Fusion
                with_payload=True,
                prefetches=[qe.Prefetch(limit=k, query=q, filter=flt, params=p)
                            for q, p in searches])
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


class EdgeWriter:
    """Builds the next version beside the current one; nothing is visible until ``finish``.

    The new version starts as a copy of the current one's points (vectors included, so nothing
    is embedded again), then takes the ingest's changes. With no change at all, no version is
    made.
    """

    def __init__(self, store: EdgeStore, info: EmbedderInfo, origin: str, *, replace: bool,
                 legacy: Path | None) -> None:
        self.store, self.info, self.origin = store, info, origin
        self.replace, self.legacy = replace, legacy
        self.number = 0
        self.staging: Path | None = None
        self.shard: qe.EdgeShard | None = None
        self.committed: int | None = None
        self.readmes: dict[str, str] | None = None

    def record_readmes(self, hashes: dict[str, str]) -> None:
        self.readmes = dict(hashes)

    def _readmes(self, groups: Counter[tuple[str, str]] | None) -> dict[str, str]:
        """The hashes the new manifest keeps: this ingest's, plus the earlier ones of READMEs
        whose points are still there (a pruned package's hash goes with its points)."""
        if self.readmes is None:
            return {}  # written without hashes (import, a direct Indexer): nothing is skipped
        previous = {} if self.replace else self.store.readme_hashes()
        if groups is not None:
            previous = {k: v for k, v in previous.items()
                        if (k.partition("/")[0], k.partition("/")[2]) in groups}
        return previous | self.readmes

    def begin(self) -> None:
        if self.shard is not None:
            return
        home, location = self.store.home, self.store.location
        with edge_errors(location, writing=True):
            # Edge writes through mmap: a disk that fills up mid-write kills the process
            # (SIGBUS) instead of failing a call, so check the room first
            current = home.current()
            need = MIN_FREE + (allocated(home.version_dir(current)) * 3 // 2 if current else 0)
            if shutil.disk_usage(home.root).free < need:
                raise disk_full_error(location)
            self.number = home.next_number()
            self.staging = home.root / f"v{self.number}.tmp"
            self.shard = qe.EdgeShard.create(str(self.staging / SHARD), edge_config(self.info))
            for name in INDEXED_FIELDS:
                self.shard.update(qe.UpdateOperation.create_field_index(
                    name, qe.PayloadSchemaType.Keyword))
        if self.replace:
            return
        if self.legacy is not None:
            source = legacy_points(self.store.base, self.store.collection)
        else:
            source = self.store.points(vectors=True, batch=BATCH)
        batch: list[Point] = []
        for point in source:
            batch.append(point)
            if len(batch) >= BATCH:
                self._write(qe.UpdateOperation.upsert_points([_to_edge(p) for p in batch]))
                batch = []
        if batch:
            self._write(qe.UpdateOperation.upsert_points([_to_edge(p) for p in batch]))

    def _write(self, operation: qe.UpdateOperation) -> None:
        assert self.shard is not None
        with edge_errors(self.store.location, writing=True):
            self.shard.update(operation)

    def upsert(self, points: Sequence[Point]) -> None:
        self.begin()
        if points:
            self._write(qe.UpdateOperation.upsert_points([_to_edge(p) for p in points]))

    def delete(self, ids: Sequence[str]) -> None:
        self.begin()
        if ids:
            self._write(qe.UpdateOperation.delete_points(list(ids)))

    def overwrite_payload(self, point_id: str, payload: dict[str, Any]) -> None:
        self.begin()
        self._write(qe.UpdateOperation.overwrite_payload([point_id], payload))

    def _counts(self) -> Counter[tuple[str, str]]:
        assert self.shard is not None
        groups: Counter[tuple[str, str]] = Counter()
        offset: Any = None
        while True:
            records, offset = self.shard.scroll(qe.ScrollRequest(
                offset=offset, limit=2048, with_payload=[LANGUAGE, PACKAGE], with_vector=False))
            for r in records:
                meta = (r.payload or {}).get("metadata") or {}
                groups[(str(meta.get("language", "")), str(meta.get("package", "")))] += 1
            if offset is None:
                return groups

    def finish(self) -> None:
        """HNSW, then the manifest, then the switch; old versions go once nobody reads them."""
        home, location = self.store.home, self.store.location
        if self.shard is None or self.staging is None:
            # nothing changed: the current version stays, with this ingest's hashes recorded
            number = self.store.version
            if self.readmes is not None and number is not None:
                manifest = self.store.manifest()
                readmes = self._readmes(None)
                if manifest.get("readmes") != readmes:
                    with edge_errors(location, writing=True):
                        home.rewrite_manifest(number, manifest | {"readmes": readmes})
                    self.store._manifest = manifest | {"readmes": readmes}
            return
        with edge_errors(location, writing=True):
            self.shard.optimize()
            groups = self._counts()
            self.shard.flush()
            self.shard.close()
            self.shard = None
            manifest = {
                "schema": SCHEMA, "version": self.number, "collection": self.store.collection,
                "embeddings": self.info.to_dict(), "origin": self.origin,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "points": sum(groups.values()),
                "languages": counts_by_language(dict(groups)),
                "packages": {f"{lang}/{pkg}": n for (lang, pkg), n in sorted(groups.items())},
                "readmes": self._readmes(groups),
            }
            home.commit(self.number, self.staging, manifest)
            self.committed = self.number
        if self.legacy is not None:
            remove_legacy(self.store.base, self.store.collection)
        with contextlib.suppress(OSError):
            home.collect()

    def abort(self) -> None:
        if self.shard is not None:
            with contextlib.suppress(Exception):
                self.shard.close()
            self.shard = None
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
