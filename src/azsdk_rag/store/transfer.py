"""Index once, read anywhere: export, import, and pull from a server, with vectors (no embedding).

An export is one gzip file of JSON lines: a header (format, schema, the embedder record, counts,
where the index came from, the identifier table of :mod:`azsdk_rag.evidence` when the index has
one), then one point per line (id, payload, dense and sparse vectors). It does not depend on
Qdrant Edge's on-disk format, and an import checks every line before the new version is switched
to: a bad or truncated file leaves the index as it was.

Import and pull also replace the identifier table beside the embedded index (the export's, else
one built from the chunks), so the router never reads the table of the index that was there
before.

>>> export_index(Settings(), Path("azsdk.index.gz"))  # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import EmptyIndexError, StoreError
from ..evidence import PackageEvidence, evidence_path, from_chunks
from ..settings import Settings
from ..types import EmbedderInfo
from .base import LANGUAGE, PACKAGE, Point, Store

FORMAT = "azsdk-rag-index"
SCHEMA = 1


def _header(store: Store, record: EmbedderInfo) -> dict[str, Any]:
    stats = store.stats()
    header = {"format": FORMAT, "schema": SCHEMA, "collection": store.collection,
              "embeddings": record.to_dict(), "points": stats.get("points", 0),
              "languages": stats.get("languages", {}), "version": stats.get("version"),
              "origin": stats.get("origin") or f"{stats.get('backend')} {stats.get('location')}"}
    table = _table_of(store.settings)
    if table:
        header["evidence"] = table.to_json()
    return header


def _table_of(settings: Settings) -> PackageEvidence | None:
    """The identifier table beside an embedded index (None on a server or without one)."""
    path = None if settings.uses_server else evidence_path(settings.qdrant_path,
                                                           settings.collection)
    return PackageEvidence.load(path) if path is not None else None


def _save_table(store: Store, exported: Any = None) -> None:
    """Replace the table beside the embedded index ``store``: the exported one when it is
    valid, else one built from the chunks now in the index. Its README hashes are left out, so
    the next ingest reads every README for identifiers again."""
    path = evidence_path(store.settings.qdrant_path, store.collection)
    if path is None:
        return
    table: PackageEvidence | None = None
    if exported is not None:
        try:
            table = PackageEvidence.from_json(exported)
        except (ValueError, KeyError, TypeError):
            table = None
    if table is None:
        table = from_chunks(((p.payload.get("metadata") or {}).get("language", ""),
                             (p.payload.get("metadata") or {}).get("package", ""),
                             str(p.payload.get("page_content", "")))
                            for p in store.points(["page_content", LANGUAGE, PACKAGE]))
    table.hashes = {}
    try:
        table.save(path)
    except OSError as exc:
        raise StoreError(f"Cannot write {path}: {exc.strerror or exc}.") from None


def _record_of(store: Store) -> EmbedderInfo:
    """The embedder record of an index that exists and was made by azsdk-rag."""
    where = store.settings.location
    if not store.exists():
        raise EmptyIndexError(f"There is no index '{store.collection}' at {where} yet; build it "
                              "with 'azsdk-rag ingest'.")
    record = store.record()
    if record is None:
        raise StoreError(f"The collection '{store.collection}' at {where} was not built by "
                         "azsdk-rag; there is nothing to copy.")
    return record


def export_index(settings: Settings, target: Path) -> dict[str, Any]:
    """Write the current version (embedded store) or the collection (server) to ``target``."""
    with Store.open(settings) as store:
        record = _record_of(store)
        header = _header(store, record)
        partial = target.with_name(f".{target.name}.partial")
        n = 0
        try:
            with gzip.open(partial, "wt", encoding="utf-8", compresslevel=6) as out:
                out.write(json.dumps(header) + "\n")
                for p in store.points(vectors=True, batch=512):
                    out.write(json.dumps({"id": p.id, "payload": p.payload, "dense": p.dense,
                                          "sparse": list(p.sparse) if p.sparse else None},
                                         separators=(",", ":")) + "\n")
                    n += 1
            if n != header["points"]:
                raise StoreError(f"The index at {settings.location} changed during the export; "
                                 "run it again.")
            partial.replace(target)
        except OSError as exc:
            raise StoreError(f"Cannot write {target}: {exc.strerror or exc}.") from None
        finally:
            partial.unlink(missing_ok=True)
    return header | {"points": n}


def _bad(source: Path, line: int, why: str) -> StoreError:
    return StoreError(f"{source} is not a valid azsdk-rag index export (line {line}: {why}); "
                      "nothing was imported.")


def _point_of_line(source: Path, number: int, text: str, info: EmbedderInfo) -> Point:
    """One line of an export as a point, checked: id, payload and vectors that fit ``info``."""
    try:
        row = json.loads(text)
        pid = str(uuid.UUID(str(row["id"])))
        payload = row["payload"]
        meta = payload["metadata"]
        dense = [float(x) for x in row["dense"]]
        indices, values = row["sparse"]
        sparse = ([int(i) for i in indices], [float(v) for v in values])
        assert isinstance(payload["page_content"], str)
        assert meta["language"] and meta["package"]
    except (ValueError, KeyError, TypeError, AssertionError):
        raise _bad(source, number, "not a point with id, payload and vectors") from None
    if len(dense) != info.dense_dim or len(sparse[0]) != len(sparse[1]):
        raise _bad(source, number, f"vectors do not fit {info.describe()}")
    return Point(pid, payload, dense, sparse)


def read_export(source: Path) -> tuple[dict[str, Any], Iterator[Point]]:
    """The header and the points of an export, each line checked as it is read."""
    try:
        fh = gzip.open(source, "rt", encoding="utf-8")  # noqa: SIM115 (closed by points())
        first = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise StoreError(f"Cannot read {source} as an azsdk-rag index export "
                         f"({getattr(exc, 'strerror', None) or exc}).") from None
    try:
        header = json.loads(first)
        rec = header["embeddings"]
        info = EmbedderInfo(str(rec["dense_model"]), int(rec["dense_dim"]),
                            str(rec["sparse_model"]))
        ok = header.get("format") == FORMAT and header.get("schema") == SCHEMA
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok or info.dense_dim <= 0:
        fh.close()
        raise _bad(source, 1, "no azsdk-rag header with the embedder record")
    header["embeddings"] = info.to_dict()

    def points() -> Iterator[Point]:
        n = 0
        try:
            for number, text in enumerate(fh, start=2):
                point = _point_of_line(source, number, text, info)
                n += 1
                yield point
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise StoreError(f"Cannot read {source} to the end ({exc}); nothing was "
                             "imported.") from None
        finally:
            fh.close()
        if n != header.get("points"):
            raise _bad(source, n + 2, f"{n} points, the header says {header.get('points')}")

    return header, points()


def embedded(settings: Settings) -> Settings:
    """The same settings, on the embedded store (whatever AZSDK_RAG_QDRANT_URL says)."""
    return settings.model_copy(update={"qdrant_url": None, "qdrant_api_key": None})


def import_index(settings: Settings, source: Path) -> dict[str, Any]:
    """Make the embedded index's next version the exported one (checked first)."""
    header, points = read_export(source)
    info = EmbedderInfo(**header["embeddings"])
    with Store.open(embedded(settings)) as store:
        n = store.import_points(info, points, origin=f"imported from {source.name}")
        _save_table(store, header.get("evidence"))
        return {"points": n, "version": store.stats().get("version"),
                "location": store.settings.location}


def pull_index(settings: Settings) -> dict[str, Any]:
    """Copy the collection at ``AZSDK_RAG_QDRANT_URL`` into the embedded store, vectors included."""
    if not settings.qdrant_url:
        raise StoreError("Set AZSDK_RAG_QDRANT_URL (or --qdrant-url) to the server to pull from.")
    with Store.open(settings) as server:
        record = _record_of(server)
        with Store.open(embedded(settings)) as local:
            n = local.import_points(record, server.points(vectors=True, batch=512),
                                    origin=f"pulled from {settings.qdrant_url}")
            _save_table(local)
            return {"points": n, "version": local.stats().get("version"),
                    "location": local.settings.location}
