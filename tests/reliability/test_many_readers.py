"""Many processes read one embedded index while an ingest writes the next version.

Three reader processes query the real Qdrant Edge index in a loop while an ingest of a changed
corpus runs: every query of every reader gets an answer, throughout, and every reader sees the
new content once the ingest switches versions, without reopening anything itself. A second ingest
while one runs is refused in one line. The readers query with a stored point's own vector (no
embedder to load per process): what is under test is the store, not the models.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from azsdk_rag.ingest.pipeline import ingest
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.ingest_fixtures import cli_env
from support.reliability_fixtures import small_rows, snapshot, write_rows

pytestmark = pytest.mark.slow  # other processes

WORKER = Path(__file__).resolve().parents[1] / "support" / "reliability_ingest_worker.py"
READER = """
import json, sys, time
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store

store = Store.open(Settings())
probe = next(iter(store.points(vectors=True))).dense
while True:
    try:
        found = store.query(probe, None, [], 1000)
        line = {"version": store.version, "n": len(found),
                "packages": sorted({p.metadata["package"] for p in found})}
    except Exception as exc:  # reported, and the test fails on it
        line = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(line), flush=True)
    time.sleep(0.02)
"""


def lines_until(proc: subprocess.Popen[str], done: Callable[[dict], bool],
                within: float) -> list[dict]:
    """The reader's lines until one satisfies ``done`` (bounded)."""
    assert proc.stdout is not None
    seen: list[dict] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        readable, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        text = proc.stdout.readline()
        if not text:
            break
        seen.append(json.loads(text))
        if done(seen[-1]):
            return seen
    raise AssertionError(f"the reader did not get there within {within} s: {seen[-3:]}")


def test_three_readers_answer_throughout_an_ingest_and_all_see_the_new_version(
        tmp_path: Path, settings_factory: Callable[..., Settings]) -> None:
    first, second, third = small_rows("azure-mgmt-storage", "azure-resourcemanager-storage",
                                      "Microsoft.Azure.Cosmos")
    changed = {**first, "text": first["text"].replace("Storage", "Storage (2026)")}
    index = tmp_path / "index"
    settings = settings_factory(qdrant_path=str(index))
    ingest(settings, corpus=[write_rows(tmp_path / "v1.jsonl", [first, second])],
           progress=False)
    readers = [subprocess.Popen([sys.executable, "-c", READER], env=cli_env(index), text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE) for _ in range(3)]
    try:
        before = [lines_until(r, lambda line: "version" in line, 300) for r in readers]
        assert all(seen[-1]["version"] == 1 for seen in before)
        old = set(before[0][-1]["packages"])
        assert old == {first["package"], second["package"]}

        report = ingest(settings, corpus=[write_rows(tmp_path / "v2.jsonl",
                                                     [changed, second, third])],
                        progress=False)
        assert report.written > 0 and report.deleted > 0

        after = [lines_until(r, lambda line: line.get("version") == 2, 60) for r in readers]
        for seen in (*before, *after):
            assert not [line for line in seen if "error" in line], seen
            assert all(line["n"] > 0 for line in seen)  # answers throughout
        for early, late in zip(before, after, strict=True):
            versions = [line["version"] for line in (*early, *late)]
            assert versions == sorted(versions)  # never back to the old version
        for seen in after:
            assert set(seen[-1]["packages"]) == old | {third["package"]}
    finally:
        for proc in readers:
            proc.kill()
            proc.wait(timeout=30)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
    with Store.open(settings) as store:  # the readers are gone: the old version is collected
        assert store.version == 2
        store.home.collect()
    versions = sorted(p.name for p in (index / "AzureSDKs").iterdir() if p.name.startswith("v"))
    assert versions == ["v2"]


def test_two_ingests_at_once_one_is_refused_in_one_line_and_the_index_stays_whole(
        tmp_path: Path, settings_factory: Callable[..., Settings]) -> None:
    rows = small_rows("azure-mgmt-storage", "azure-resourcemanager-storage")
    index, clean = tmp_path / "index", tmp_path / "clean"
    v1 = write_rows(tmp_path / "v1.jsonl", rows[:1])
    v2 = write_rows(tmp_path / "v2.jsonl", rows)
    ingest(settings_factory(qdrant_path=str(index)), corpus=[v1], progress=False)
    before = snapshot(settings_factory(qdrant_path=str(index)))
    env = cli_env(index, AZSDK_RAG_BATCH_SIZE="2")
    first = subprocess.Popen([sys.executable, str(WORKER), "--pause-at", "2", "--cli", "ingest",
                              "--corpus", str(v2)], env=env, text=True, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "paused 2"  # mid-ingest, holding the lock
        second = subprocess.run([sys.executable, "-m", "azsdk_rag", "ingest", "--corpus",
                                 str(v2)], env=env, text=True, capture_output=True, timeout=600)
    finally:
        first.kill()
        first.wait(timeout=30)
    assert second.returncode == 1
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Another 'azsdk-rag ingest'" in lines[0], second.stderr
    assert snapshot(settings_factory(qdrant_path=str(index))) == before
    ingest(settings_factory(qdrant_path=str(index)), corpus=[v2], progress=False)
    ingest(settings_factory(qdrant_path=str(clean)), corpus=[v2], progress=False)
    assert snapshot(settings_factory(qdrant_path=str(index))) == \
        snapshot(settings_factory(qdrant_path=str(clean)))
