"""Ingest benchmark: the whole shared corpus into a fresh embedded store, then again unchanged.

Prints READMEs, chunks, chunks per second, wall time and peak RSS for both runs; with --json, one
JSON object (used by the benchmark report). Run: .venv/bin/python -m benchmarks.ingest
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AZSDK_RAG_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED / "tiktoken"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--models", type=Path, default=SHARED / "models")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from azsdk_rag.ingest.pipeline import ingest
    from azsdk_rag.settings import Settings

    results = {}
    with tempfile.TemporaryDirectory(prefix="azsdk-bench-") as tmp:
        settings = Settings(qdrant_path=tmp, model_dir=args.models)
        for run in ("fresh", "unchanged"):
            start = time.perf_counter()
            report = ingest(settings, corpus=[args.corpus], progress=False)
            wall = time.perf_counter() - start
            results[run] = {
                "readmes": report.readmes, "chunks": report.chunks, "written": report.written,
                "wall_s": round(wall, 2),
                "chunks_per_s": round(report.chunks / wall, 1) if wall else None,
                "peak_rss_mib": round(peak_rss_mib(), 1),
            }
    results["unchanged_vs_fresh"] = round(results["unchanged"]["wall_s"]
                                          / results["fresh"]["wall_s"], 4)
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'run':<10}{'READMEs':>9}{'chunks':>8}{'written':>9}{'wall s':>9}{'chunks/s':>10}"
          f"{'peak RSS MiB':>14}")
    for run in ("fresh", "unchanged"):
        r = results[run]
        print(f"{run:<10}{r['readmes']:>9}{r['chunks']:>8}{r['written']:>9}{r['wall_s']:>9}"
              f"{r['chunks_per_s']:>10}{r['peak_rss_mib']:>14}")
    print(f"unchanged re-run takes {results['unchanged_vs_fresh']:.1%} of the fresh ingest "
          f"(goal <= 10%); machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
