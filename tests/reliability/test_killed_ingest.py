"""An ingest killed with SIGKILL at random points, again and again, leaves the previous version
serving, untouched; run once more, it ends with exactly the index of a clean run: the same ids,
the same chunks, the same metadata, the same count.

Four small READMEs (23 chunks) in batches of 4, over an index that holds an older version of one of
them, so the killed runs also have stale points to replace. The kill points are random (the seed is
in every failure message; set AZSDK_RAG_TEST_SEED to replay one) but exact: each worker stops
itself after a random number of new points (support/reliability_ingest_worker.py: between two
batches, half-way through one, after the last one before the stale points go, or inside the switch
to the new version) and is killed there, so every kill lands inside an ingest however fast or
loaded the machine is. The workers start (imports, models) while the test builds the indexes.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from azsdk_rag.ingest.pipeline import ingest
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.ingest_fixtures import cli_env
from support.reliability_fixtures import small_rows, snapshot, write_rows

# read at import: the autouse fixture clears AZSDK_RAG_* before each test
REPLAY_SEED = os.environ.get("AZSDK_RAG_TEST_SEED")

WORKER = Path(__file__).resolve().parents[1] / "support" / "reliability_ingest_worker.py"
READY_WITHIN = 300.0  # seconds for a worker to import and load its models on a busy machine
STEP_WITHIN = 120.0  # seconds for a worker to reach its pause point


def texts(snap: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {pid: text for pid, (text, _meta) in snap.items()}


def spawn(corpus: Path, index: Path) -> subprocess.Popen[str]:
    env = cli_env(index, AZSDK_RAG_BATCH_SIZE="4")
    return subprocess.Popen([sys.executable, str(WORKER), str(corpus)], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)


def read_line(proc: subprocess.Popen[str], within: float, why: str) -> str:
    """The worker's next line, waited for (bounded); "" when it died."""
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], within)
    assert readable, f"{why}: no line from the worker within {within} s"
    return proc.stdout.readline().strip()  # a worker that died prints nothing: ""


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    for stream in (proc.stdin, proc.stdout):
        if stream:
            stream.close()


@pytest.mark.slow
def test_an_ingest_killed_at_random_points_then_rerun_equals_a_clean_run(
        tmp_path: Path, settings_factory: Callable[..., Settings]) -> None:
    seed = int(REPLAY_SEED or random.randrange(1 << 32))
    rng = random.Random(seed)
    kills = rng.randint(3, 5)
    why = f"seed {seed} ({kills} kills)"

    rows = small_rows()
    older = {**rows[0], "text": rows[0]["text"].replace("Storage", "Storage (2019)")}
    v1 = write_rows(tmp_path / "v1.jsonl", [older])
    v2 = write_rows(tmp_path / "v2.jsonl", rows)
    index, clean = tmp_path / "index", tmp_path / "clean"

    def settings(path: Path) -> Settings:
        return settings_factory(qdrant_path=str(path), batch_size=4)

    workers = [spawn(v2, index) for _ in range(kills)]  # they import while we build the rest
    history: list[str] = []
    try:
        ingest(settings(index), corpus=[v1], progress=False)
        start = snapshot(settings(index))
        reference = ingest(settings(clean), corpus=[v2], progress=False)
        expected = snapshot(settings(clean))
        assert reference.written == len(expected) > 16, why  # several batches to cut between

        new = set(expected) - set(start)
        for n, proc in enumerate(workers):
            assert read_line(proc, READY_WITHIN, why) == "ready", f"{why}: {proc.poll()=}"
            at = "commit" if n == kills - 1 else str(rng.randint(1, len(new)))
            assert proc.stdin is not None
            proc.stdin.write(f"go {at}\n")
            proc.stdin.flush()
            paused = read_line(proc, STEP_WITHIN, why)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            history.append(f"kill {n + 1}: at {at} of {len(new)} new points, {paused}")
            assert paused == f"paused {at}", f"{why}: {history}"
            # it died there: the previous version serves, exactly as it was
            assert snapshot(settings(index)) == start, f"{why}: {history}"
    finally:
        for proc in workers:
            stop(proc)

    report = ingest(settings(index), corpus=[v2], progress=False)  # the re-run
    assert snapshot(settings(index)) == expected, f"{why}: {history}"
    with Store.open(settings(index)) as store:
        assert store.count() == reference.chunks, f"{why}: {history}"
    assert report.unchanged + report.written == reference.chunks
    leftovers = sorted(p.name for p in (index / "AzureSDKs").iterdir() if p.name != "locks")
    assert leftovers == ["CURRENT", f"v{store.version}"], f"{why}: {history}"


def test_a_rerun_refreshes_the_metadata_of_chunks_whose_text_is_unchanged(
        tmp_path: Path, settings_factory: Callable[..., Settings]) -> None:
    (row,) = small_rows("azure-mgmt-storage")
    release = {**row, "version": "99.0.0", "url": row["url"].replace("/main/", "/release/")}
    index, clean = tmp_path / "index", tmp_path / "clean"
    ingest(settings_factory(qdrant_path=str(index)),
           corpus=[write_rows(tmp_path / "v1.jsonl", [row])], progress=False)
    v2 = write_rows(tmp_path / "v2.jsonl", [release])
    ingest(settings_factory(qdrant_path=str(index)), corpus=[v2], progress=False)
    ingest(settings_factory(qdrant_path=str(clean)), corpus=[v2], progress=False)
    assert snapshot(settings_factory(qdrant_path=str(index))) == \
        snapshot(settings_factory(qdrant_path=str(clean)))
