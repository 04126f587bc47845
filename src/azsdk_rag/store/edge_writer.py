"""The one writer of an embedded index: builds the next version beside the current one.

The new version is an Edge shard in ``v<N>.tmp``; HNSW is built, the points are counted for the
manifest, and :meth:`~.versions.Home.commit` switches readers to it (see :mod:`.versions`).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from ..types import EmbedderInfo
from .base import INDEXED_FIELDS, LANGUAGE, PACKAGE, SCHEMA, Point, counts_by_language
from .edge_files import MIN_FREE, allocated, disk_full_error, edge_errors
from .edge_requests import edge_config, to_edge
from .legacy import legacy_points, remove_legacy
from .versions import SHARD

if TYPE_CHECKING:
    from .edge import EdgeStore

BATCH = 512


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
                self._write(qe.UpdateOperation.upsert_points([to_edge(p) for p in batch]))
                batch = []
        if batch:
            self._write(qe.UpdateOperation.upsert_points([to_edge(p) for p in batch]))

    def _write(self, operation: qe.UpdateOperation) -> None:
        assert self.shard is not None
        with edge_errors(self.store.location, writing=True):
            self.shard.update(operation)

    def upsert(self, points: Sequence[Point]) -> None:
        self.begin()
        if points:
            self._write(qe.UpdateOperation.upsert_points([to_edge(p) for p in points]))

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
