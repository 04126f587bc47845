"""An ingest killed with SIGKILL at random points, again and again, then run once more, ends with
exactly the index of a clean run: the same ids, the same chunks, the same metadata, the same count.

Four small READMEs (23 chunks) in batches of 4, over an index that holds an older version of one
of them, so the killed runs also have stale points to replace. The kill points are random (the
seed is in every failure message; set AZSDK_RAG_TEST_SEED to replay one): each kill waits for a
random number of new points to reach the store, then a random sub-batch delay, so a kill can land
between two batches or half-way through one. The workers start (imports, models) before the
clock runs, so every delay falls inside the ingest itself.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from azsdk_rag.ingest.pipeline import ingest
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.ingest_fixtures import cli_env, stored_points
from support.reliability_fixtures import small_rows, snapshot, write_rows

# read at import: the autouse fixture clears AZSDK_RAG_* before each test
REPLAY_SEED = os.environ.get("AZSDK_RAG_TEST_SEED")

WORKER = Path(__file__).resolve().parents[1] / "support" / "reliability_ingest_worker.py"
READY_WITHIN = 300.0  # seconds for a worker to import and load its models on a busy machine
STEP_WITHIN = 120.0  # seconds for a worker to write the points a kill waits for


def texts(snap: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {pid: text for pid, (text, _meta) in snap.items()}


def spawn(corpus: Path, index: Path) -> subprocess.Popen[str]:
    env = cli_env(index, AZSDK_RAG_BATCH_SIZE="4")
    return subprocess.Popen([sys.executable, str(WORKER), str(corpus)], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)


def wait_ready(proc: subprocess.Popen[str], why: str) -> None:
    """Wait (bounded) for the worker's "ready" line."""
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], READY_WITHIN)
    assert readable, f"{why}: a worker was not ready within {READY_WITHIN} s"
    line = proc.stdout.readline()  # a worker that died prints nothing: readline returns ""
    assert line.strip() == "ready", f"{why}: the worker did not start ({proc.poll()=})"


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
        total = len(set(start) | set(expected))  # all new points written, stale not yet gone
        assert reference.written == len(expected) > 16, why  # several batches to cut between

        for n, proc in enumerate(workers):
            wait_ready(proc, why)
            have = stored_points(index)
            room = max(1, (total - 1 - have) // (kills - n))  # leave room for the next kills
            target = min(total, have + rng.randint(1, room))
            delay = rng.uniform(0.0, 0.15)
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
            deadline = time.monotonic() + STEP_WITHIN
            while stored_points(index) < target and proc.poll() is None:
                assert time.monotonic() < deadline, f"{why}: the ingest stalled at {have}"
                time.sleep(0.005)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            after = stored_points(index)
            history.append(f"kill {n + 1}: target {target}, +{delay:.3f} s -> {after} points, "
                           f"exit {proc.returncode}")
            # whatever moment it died at, the index opens and holds old or new points only
            state = snapshot(settings(index))
            assert set(state) <= set(start) | set(expected), f"{why}: {history}"
            # stale points are deleted only once every new point is written
            if proc.returncode == -signal.SIGKILL and not set(expected) <= set(state):
                assert set(start) <= set(state), f"{why}: old points went first: {history}"
    finally:
        for proc in workers:
            stop(proc)

    cut = [h for h in history if h.endswith(f"exit {-signal.SIGKILL}")]
    assert len(cut) >= 2, f"{why}: too few kills landed inside an ingest: {history}"

    report = ingest(settings(index), corpus=[v2], progress=False)  # the re-run
    # ids and chunk texts; the metadata of a chunk kept from the older README is the subject of
    # the metadata-refresh test below
    assert texts(snapshot(settings(index))) == texts(expected), f"{why}: {history}"
    with Store.open(settings(index)) as store:
        assert store.count() == reference.chunks, f"{why}: {history}"
    assert report.unchanged + report.written == reference.chunks


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
