"""Routing accuracy of the rule-based router on a question set, with every miss listed.

    .venv/bin/python -m benchmarks.route_eval [questions.jsonl] [--tag TAG] [--all]

A route matches when its set of languages equals the line's ``languages`` exactly (``[]`` = none).
``--all`` prints every route, not just the misses. Exit status 1 when accuracy is below --goal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from azsdk_rag.router import route

DEFAULT = Path("/work/shared/eval/questions.jsonl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--tag", help="only lines with this tag")
    parser.add_argument("--all", action="store_true", help="print every route")
    parser.add_argument("--goal", type=float, default=0.97)
    args = parser.parse_args(argv)

    lines = [json.loads(x) for x in args.questions.read_text(encoding="utf-8").splitlines() if x]
    if args.tag:
        lines = [x for x in lines if args.tag in x.get("tags", [])]
    if not lines:
        print("no questions", file=sys.stderr)
        return 2

    hits, per_tag, tag_total = 0, Counter(), Counter()
    started = time.perf_counter()
    for line in lines:
        got = route(line["question"], line.get("history") or ())
        ok = set(got.languages) == set(line["languages"])
        hits += ok
        for tag in line.get("tags", []):
            tag_total[tag] += 1
            per_tag[tag] += ok
        if not ok or args.all:
            mark = "ok  " if ok else "MISS"
            print(
                f"{mark} {line['id']} expected={line['languages']} got={list(got.languages)} "
                f"signal={got.signal} reason={got.reason!r}\n     {line['question'][:160]!r}"
            )
    elapsed = time.perf_counter() - started

    accuracy = hits / len(lines)
    print(
        f"\nrouting exact match: {hits}/{len(lines)} = {accuracy:.3f} "
        f"({elapsed * 1000 / len(lines):.2f} ms/question)"
    )
    for tag in sorted(tag_total):
        share = per_tag[tag] / tag_total[tag]
        print(f"  {tag:10} {per_tag[tag]:4}/{tag_total[tag]:<4} {share:.3f}")
    return 0 if accuracy >= args.goal else 1


if __name__ == "__main__":
    sys.exit(main())
