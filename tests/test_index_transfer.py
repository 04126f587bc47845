"""``azsdk-rag index export / import / pull``: an index moves with its vectors and its embedder
record, is checked on import, and ``status`` says which version it is and where it came from.

Real Qdrant Edge on both sides; ``pull`` reads the fake Qdrant server (Qdrant's REST API over an
in-memory Qdrant) holding a copy of a small index.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from azsdk_rag.cli import cli
from azsdk_rag.errors import StoreError
from azsdk_rag.evidence import PackageEvidence, evidence_path
from azsdk_rag.settings import Settings
from azsdk_rag.store import Point, ServerStore, Store
from azsdk_rag.store.transfer import export_index, import_index, pull_index
from azsdk_rag.types import EmbedderInfo
from support.reliability_qdrant import FakeQdrantServer

INFO = EmbedderInfo("test/dense-4", 4, "Qdrant/bm25")


def points(n: int) -> list[Point]:
    return [Point(f"00000000-0000-0000-0000-{i:012d}",
                  {"page_content": f"chunk {i}",
                   "metadata": {"language": ("python", "java")[i % 2], "package": f"pkg-{i % 3}"}},
                  [1.0, float(i), 0.0, 0.5], ([i, 100 + i], [1.0, 0.25]))
            for i in range(1, n + 1)]


def snapshot(settings: Settings) -> dict[str, tuple[object, ...]]:
    with Store.open(settings) as store:
        return {p.id: (json.dumps(p.payload, sort_keys=True), tuple(round(x, 5) for x in p.dense
                                                                   or ()), str(p.sparse))
                for p in store.points(vectors=True)}


def cli_run(args: list[str], path: Path, **env: str) -> Result:
    return CliRunner().invoke(cli, args, env={"AZSDK_RAG_QDRANT_PATH": str(path), **env})


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    settings = Settings(qdrant_path=str(tmp_path / "source"))
    with Store.open(settings) as store:
        store.import_points(INFO, points(30), origin="ingest")
    return settings


def test_export_then_import_is_the_same_index_with_its_record(source: Settings,
                                                               tmp_path: Path) -> None:
    archive = tmp_path / "azsdk.index.gz"
    result = cli_run(["index", "export", str(archive)], Path(source.qdrant_path))
    assert result.exit_code == 0, result.output
    assert "exported 30 points (v1)" in result.stdout
    target = tmp_path / "laptop"
    result = cli_run(["index", "import", str(archive)], target)
    assert result.exit_code == 0, result.output
    assert "imported 30 points" in result.stdout and "v1" in result.stdout
    laptop = Settings(qdrant_path=str(target))
    assert snapshot(laptop) == snapshot(source)
    with Store.open(laptop) as store:
        assert store.record() == INFO
        stats = store.stats()
    assert stats["origin"] == "imported from azsdk.index.gz"
    assert stats["languages"] == {"java": {"points": 15, "packages": 3},
                                  "python": {"points": 15, "packages": 3}}
    status = cli_run(["status"], target)
    assert "version:    v1 (imported from azsdk.index.gz" in status.stdout
    # importing again makes the next version, and the old one goes (nobody reads it)
    import_index(laptop, archive)
    with Store.open(laptop) as store:
        assert store.version == 2 and store.count() == 30
    assert sorted(p.name for p in (target / "AzureSDKs").glob("v*")) == ["v2"]


def corrupt(archive: Path, tmp_path: Path, how: str) -> Path:
    lines = gzip.decompress(archive.read_bytes()).decode().splitlines()
    if how == "truncated":
        lines = lines[:-3]
    elif how == "wrong dimension":
        row = json.loads(lines[5])
        row["dense"] = row["dense"][:3]
        lines[5] = json.dumps(row)
    elif how == "no header":
        lines = lines[1:]
    elif how == "not json":
        lines[7] = "{not json"
    bad = tmp_path / f"{how.replace(' ', '-')}.gz"
    bad.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return bad


@pytest.mark.parametrize("how", ["truncated", "wrong dimension", "no header", "not json",
                                 "not gzip"])
def test_a_bad_export_is_refused_in_one_line_and_the_index_is_untouched(
        source: Settings, tmp_path: Path, how: str) -> None:
    archive = tmp_path / "good.gz"
    export_index(source, archive)
    if how == "not gzip":
        bad = tmp_path / "plain.txt"
        bad.write_text("hello\n")
    else:
        bad = corrupt(archive, tmp_path, how)
    target = Settings(qdrant_path=str(tmp_path / "laptop"))
    import_index(target, archive)
    before = snapshot(target)
    result = cli_run(["index", "import", str(bad)], Path(target.qdrant_path))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0], lines
    assert "Traceback" not in result.output
    assert snapshot(target) == before
    assert not list((Path(target.qdrant_path) / "AzureSDKs").glob("v*.tmp"))


def test_export_of_a_missing_index_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="azsdk-rag ingest"):
        export_index(Settings(qdrant_path=str(tmp_path / "none")), tmp_path / "x.gz")
    assert not (tmp_path / "x.gz").exists()


def test_pull_copies_the_server_collection_with_its_vectors(source: Settings,
                                                             tmp_path: Path) -> None:
    with FakeQdrantServer() as fake:
        with Store.open(source) as store:
            ServerStore(fake.backend, source).import_points(INFO, store.points(vectors=True))
        target = tmp_path / "laptop"
        result = cli_run(["--qdrant-url", fake.url, "index", "pull"], target)
        assert result.exit_code == 0, result.output
        assert f"pulled 30 points from {fake.url}" in result.stdout
        assert "upsert" not in fake.calls  # read only
    laptop = Settings(qdrant_path=str(target))
    assert snapshot(laptop) == snapshot(source)
    with Store.open(laptop) as store:
        assert store.record() == INFO
        assert store.stats()["origin"] == f"pulled from {fake.url}"


def test_pull_without_a_server_url_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="AZSDK_RAG_QDRANT_URL"):
        pull_index(Settings(qdrant_path=str(tmp_path / "laptop")))


def test_pull_of_an_empty_server_is_one_sentence(tmp_path: Path) -> None:
    with FakeQdrantServer() as fake:
        result = cli_run(["--qdrant-url", fake.url, "index", "pull"], tmp_path / "laptop")
    assert result.exit_code == 1 and "azsdk-rag ingest" in result.stderr
    assert not (tmp_path / "laptop" / "AzureSDKs" / "CURRENT").exists()


def table_at(settings: Settings) -> PackageEvidence | None:
    path = evidence_path(settings.qdrant_path, settings.collection)
    assert path is not None
    return PackageEvidence.load(path)


def test_import_replaces_the_identifier_table_with_the_exported_one(source: Settings,
                                                                    tmp_path: Path) -> None:
    exported = PackageEvidence({("python", "pkg-1"): ["BlobServiceClient"],
                                ("java", "pkg-2"): ["listBlobs"]})
    exported.hashes = {"python/pkg-1": "abc"}
    exported.save(evidence_path(source.qdrant_path, source.collection))  # type: ignore[arg-type]
    archive = tmp_path / "azsdk.index.gz"
    export_index(source, archive)
    laptop = Settings(qdrant_path=str(tmp_path / "laptop"))
    stale = PackageEvidence({("python", "old-package"): ["OldClient"]})
    stale.save(evidence_path(laptop.qdrant_path, laptop.collection))  # type: ignore[arg-type]
    import_index(laptop, archive)
    table = table_at(laptop)
    assert table is not None
    assert table.package_keys == {("python", "pkg-1"), ("java", "pkg-2")}
    assert table.languages_of("listBlobs") == {"java": 1} and not table.packages_of("OldClient")
    assert table.hashes == {}  # the next ingest reads every README again


def test_import_of_an_export_without_a_table_builds_it_from_the_chunks(
        source: Settings, tmp_path: Path) -> None:
    archive = tmp_path / "azsdk.index.gz"
    export_index(source, archive)  # the source has no table file
    laptop = Settings(qdrant_path=str(tmp_path / "laptop"))
    PackageEvidence({("python", "old-package"): ["OldClient"]}).save(
        evidence_path(laptop.qdrant_path, laptop.collection))  # type: ignore[arg-type]
    import_index(laptop, archive)
    table = table_at(laptop)
    assert table is not None and not table.packages_of("OldClient")
    assert table.package_keys == {("python", "pkg-0"), ("python", "pkg-1"), ("python", "pkg-2"),
                                  ("java", "pkg-0"), ("java", "pkg-1"), ("java", "pkg-2")}


def test_pull_writes_the_identifier_table_from_the_server_chunks(tmp_path: Path) -> None:
    coded = [Point(p.id, {**p.payload, "page_content": f"Call `client.getWidget{i}()`."},
                   p.dense, p.sparse) for i, p in enumerate(points(4))]
    laptop = Settings(qdrant_path=str(tmp_path / "laptop"))
    PackageEvidence({("python", "old-package"): ["OldClient"]}).save(
        evidence_path(laptop.qdrant_path, laptop.collection))  # type: ignore[arg-type]
    with FakeQdrantServer() as fake:
        ServerStore(fake.backend, laptop).import_points(INFO, coded)
        pull_index(laptop.model_copy(update={"qdrant_url": fake.url}))
    table = table_at(laptop)
    assert table is not None and not table.packages_of("OldClient")
    assert table.packages_of("getWidget1") == {("python", "pkg-2")}
