"""Indexes written by the previous release: qdrant-client's local mode at the same path.

Only read, once, by the ingest that moves their points (vectors included) into Qdrant Edge.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from ..types import EmbedderInfo
from .base import RECORD_KEY, Point, point_of


def legacy_folder(base: Path, collection: str) -> Path | None:
    """The local-mode collection folder at ``base``, or None when there is none."""
    folder = base / "collection" / collection
    return folder if (base / "meta.json").is_file() and folder.is_dir() else None


def legacy_record(base: Path, collection: str) -> EmbedderInfo | None:
    """The embedders recorded in a local-mode collection (None: not made by azsdk-rag)."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(base))
    try:
        meta = client.get_collection(collection).config.metadata or {}
    finally:
        client.close()
    rec = meta.get(RECORD_KEY)
    if not isinstance(rec, dict):
        return None
    return EmbedderInfo(rec["dense_model"], int(rec["dense_dim"]), rec["sparse_model"])


def legacy_points(base: Path, collection: str) -> Iterator[Point]:
    """Every point of a local-mode collection, with its vectors."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(base))
    offset = None
    try:
        while True:
            batch, offset = client.scroll(collection, limit=1024, offset=offset,
                                          with_payload=True, with_vectors=True)
            for p in batch:
                yield point_of(p)
            if offset is None:
                return
    finally:
        client.close()


def remove_legacy(base: Path, collection: str) -> None:
    """Drop the local-mode copy once its points live in a committed Edge version."""
    shutil.rmtree(base / "collection" / collection, ignore_errors=True)
    rest = base / "collection"
    if rest.is_dir() and not any(rest.iterdir()):
        rest.rmdir()
        for name in ("meta.json", ".lock"):
            (base / name).unlink(missing_ok=True)
