"""A cold ``azsdk-rag ask`` against a bare process that loads both embedders and embeds a question.

    .venv/bin/python -m benchmarks.cold_ask --index PATH [--runs 5] [--json-out FILE]

Both run as fresh processes, alternately, ``--runs`` times; wall time and peak RSS (the child's
own ``ru_maxrss`` from ``wait4``) are compared by their medians, measured in the same run.
Goals (issue 9): the ask's wall <= 1.75x the bare process's; its peak RSS <= the bare's +150 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.baselines import SHARED, machine

QUESTION = "/python upload a file to a blob container"
BARE = f"""
from azsdk_rag.embeddings import make_embedders
from azsdk_rag.settings import Settings
e = make_embedders(Settings())
e.dense.embed_query({QUESTION!r}); e.sparse.embed_query({QUESTION!r})
"""
WALL_GOAL = 1.75
RSS_GOAL_MIB = 150.0


def env(index: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZSDK_RAG_", "AZURE_OPENAI_", "OPENAI_"))}
    out.update({"AZSDK_RAG_QDRANT_PATH": str(index), "AZSDK_RAG_LLM": "extractive",
                "AZSDK_RAG_MODEL_DIR": str(SHARED / "models"), "HF_HUB_OFFLINE": "1",
                "TIKTOKEN_CACHE_DIR": str(SHARED / "tiktoken")})
    return out


def timed(args: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=environment, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def run(index: Path, runs: int) -> dict[str, Any]:
    environment = env(index)
    ask = [str(Path(sys.executable).with_name("azsdk-rag")), "ask", QUESTION]
    bare = [sys.executable, "-c", BARE]
    timed(bare, environment)  # warm the page cache for both
    timed(ask, environment)
    samples: dict[str, list[tuple[float, float]]] = {"ask": [], "bare": []}
    for _ in range(runs):
        samples["bare"].append(timed(bare, environment))
        samples["ask"].append(timed(ask, environment))
    med = {name: {"wall_s": round(statistics.median(w for w, _ in rows), 2),
                  "peak_rss_mib": round(statistics.median(r for _, r in rows), 1)}
           for name, rows in samples.items()}
    wall_ratio = round(med["ask"]["wall_s"] / med["bare"]["wall_s"], 2)
    rss_extra = round(med["ask"]["peak_rss_mib"] - med["bare"]["peak_rss_mib"], 1)
    return {"runs": runs, "question": QUESTION, **med, "wall_ratio": wall_ratio,
            "rss_extra_mib": rss_extra, "wall_goal": WALL_GOAL, "rss_goal_mib": RSS_GOAL_MIB,
            "met": wall_ratio <= WALL_GOAL and rss_extra <= RSS_GOAL_MIB,
            "samples": samples, "machine": machine()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    data = run(args.index, args.runs)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(data, indent=1), "utf-8")
    print(f"cold ask: {data['ask']['wall_s']} s, {data['ask']['peak_rss_mib']} MiB; bare "
          f"embedders + one query: {data['bare']['wall_s']} s, {data['bare']['peak_rss_mib']} "
          f"MiB -> wall {data['wall_ratio']}x (goal <= {WALL_GOAL}x), RSS "
          f"+{data['rss_extra_mib']} MiB (goal <= +{RSS_GOAL_MIB:.0f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
