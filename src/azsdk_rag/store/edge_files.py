"""Qdrant Edge's folders on disk: failures as one sentence, room on the disk, sparse copies.

Edge raises plain ``Exception``s carrying Rust's message, writes through mmap (a full disk is a
SIGBUS, not an error, so room is checked first) and writes a few pages when it loads a shard
(a read-only or full folder is read from a private copy, holes kept).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import qdrant_edge as qe

from ..errors import AzsdkRagError, StoreError

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


def read_only(exc: BaseException) -> bool:
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


def load_in_place(folder: Path, attempts: int = 3) -> qe.EdgeShard | None:
    """Load a shard where it is; None where the folder refuses writes (Edge 0.9 writes a few
    pages and its config on load). Another reader rewriting the config at that moment can fail
    a load: it is tried again."""
    for attempt in range(attempts):
        try:
            return qe.EdgeShard.load(str(folder))
        except Exception as exc:
            if read_only(exc):
                return None
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None
