"""The embedded index's folder: immutable versions, a pointer to the current one, and locks.

::

    <AZSDK_RAG_QDRANT_PATH>/<collection>/
        CURRENT            "v7": replaced by rename, so a reader sees the old or the new name
        v7/shard/          a Qdrant Edge shard (no WAL: any number of processes can load it)
        v7/manifest.json   embedder record, counts per language and package, origin
        v8.tmp/            an ingest building the next version (removed if it dies)
        locks/writer.lock  held by the one ingest (flock: released when its process dies)
        locks/v7.lock      shared by every reader of v7; old versions go once nobody holds it

Why: Edge's write-ahead log is an exclusive lock, so a shard that is written while others read is
impossible; instead an ingest writes a new version beside the current one and switches the
pointer once it is complete. Readers never see a half-written index, and never block the writer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import StoreLockedError

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
SHARD = "shard"
_VERSION = re.compile(r"^v(\d+)$")
_LEFTOVER = re.compile(r"^v\d+\.tmp$")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Lease:
    """A reader's shared lock on one version (None-safe: a read-only folder takes no lock)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)  # closing drops the flock
            self.fd = None


class Home:
    """One collection's folder of versions (see the module doc)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading ---------------------------------------------------------------------------------
    def current(self) -> int | None:
        """The current version's number, or None when nothing was ever committed."""
        try:
            text = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        match = _VERSION.match(text)
        return int(match.group(1)) if match else None

    def version_dir(self, number: int) -> Path:
        return self.root / f"v{number}"

    def shard_dir(self, number: int) -> Path:
        return self.version_dir(number) / SHARD

    def manifest(self, number: int) -> dict[str, Any]:
        return json.loads((self.version_dir(number) / MANIFEST).read_text(encoding="utf-8"))

    def versions(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.root.iterdir()
                      if (m := _VERSION.match(p.name)) and p.is_dir())

    # -- locks -----------------------------------------------------------------------------------
    def _lock_file(self, name: str) -> int | None:
        """An open lock file under locks/, or None where the folder cannot be written."""
        try:
            (self.root / "locks").mkdir(parents=True, exist_ok=True)
            return os.open(self.root / "locks" / name, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                return None
            raise

    def lease(self, number: int) -> Lease:
        """Take a shared lock on version ``number``; the caller checks it still exists after."""
        fd = self._lock_file(f"v{number}.lock")
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_SH)
        return Lease(fd)

    @contextlib.contextmanager
    def writer_lock(self, location: str) -> Iterator[None]:
        """The one writer: a second ingest fails at once with one sentence instead of waiting."""
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "locks" / "writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreLockedError(
                    f"Another 'azsdk-rag ingest' is writing the index at {location}; wait for it "
                    "to finish, then run this one again."
                ) from None
            yield
        finally:
            os.close(fd)

    # -- writing (under the writer lock) -----------------------------------------------------------
    def clean_leftovers(self) -> int:
        """Remove what a killed ingest left (``v<N>.tmp``); returns how many."""
        gone = 0
        if self.root.is_dir():
            for path in self.root.iterdir():
                if _LEFTOVER.match(path.name):
                    shutil.rmtree(path, ignore_errors=True)
                    gone += 1
        return gone

    def next_number(self) -> int:
        return max([0, *self.versions(), self.current() or 0]) + 1

    def commit(self, number: int, staging: Path, manifest: dict[str, Any]) -> None:
        """Make the complete version at ``staging`` the current one, atomically."""
        write_atomically(staging / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(staging, self.version_dir(number))
        _fsync_dir(self.root)
        write_atomically(self.root / CURRENT, f"v{number}\n")

    def rewrite_manifest(self, number: int, manifest: dict[str, Any]) -> None:
        """Replace a committed version's manifest (its README hashes), atomically."""
        write_atomically(self.version_dir(number) / MANIFEST,
                         json.dumps(manifest, indent=1, sort_keys=True))

    def collect(self) -> list[int]:
        """Remove versions older than the current one that no reader holds; returns them."""
        current = self.current()
        removed: list[int] = []
        if current is None:
            return removed
        for number in self.versions():
            if number >= current:
                continue
            fd = self._lock_file(f"v{number}.lock")
            if fd is None:
                return removed
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a reader still has it open (or is opening it)
                shutil.rmtree(self.version_dir(number), ignore_errors=True)
                with contextlib.suppress(OSError):
                    os.unlink(self.root / "locks" / f"v{number}.lock")
                removed.append(number)
            finally:
                os.close(fd)
        return removed
