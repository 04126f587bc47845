"""Retrieval quality of the default pipeline and its baselines on one question set and one index.

    .venv/bin/python -m benchmarks.quality --index PATH [--questions FILE ...]
                                           [--json-out FILE ...]

Several question files (the public set and the real developers' posts) are run on one set of
systems, built once; each file's results go to the ``--json-out`` path in the same position.

Every system (see benchmarks/baselines.py) answers every question once; the answers are then
scored by ``azsdk_rag.evaluation.evaluate`` (routing exact match; hit@1, hit@5 and MRR over
distinct packages, by language and by tag) for k = 1..10. The default system is also run live
exactly as ``azsdk-rag eval`` runs it, and the two scorings are checked to agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.baselines import (
    DEEP,
    QUESTIONS,
    SHARED,
    System,
    bench_settings,
    build_systems,
    machine,
    percentiles,
)

KS = tuple(range(1, DEEP + 1))
HEADLINE_K = 5
METRICS = ("routing_accuracy", "hit_at_1", "hit_at_5", "mrr")


def _key(question: str, history: list[dict[str, str]]) -> str:
    return json.dumps([question, history], sort_keys=True)


def run_system(system: System, questions: list[Any]) -> dict[str, Any]:
    """Answer every question once, then score the answers for each k."""
    from azsdk_rag.evaluation import evaluate

    routes: dict[str, Any] = {}
    ranked: dict[int, Any] = {}  # by id() of the route object answered for a question
    ms: list[float] = []
    answered = 0
    for q in questions:
        start = time.perf_counter()
        route = system.route(q.question, q.history)
        docs = system.rank(route, q.history) if q.packages else []
        ms.append((time.perf_counter() - start) * 1000)
        routes[_key(q.question, q.history)] = route
        ranked[id(route)] = docs
        answered += bool(docs) if q.packages else 0

    def route_of(question: str, history: list[dict[str, str]]) -> Any:
        return routes[_key(question, history)]

    def retrieve(route: Any, history: list[dict[str, str]], k: int) -> Any:
        return ranked[id(route)]

    by_k = {k: evaluate(questions, route_of, retrieve, k) for k in KS}
    head = by_k[HEADLINE_K]
    scored = sum(1 for q in questions if q.packages)
    return {
        "key": system.key, "label": system.label,
        **{m: head[m] for m in METRICS},
        "hit_at_k": {str(k): by_k[k][f"hit_at_{k}"] for k in KS},
        "mrr_at_10": by_k[DEEP]["mrr"],
        "answered": round(answered / scored, 4) if scored else None,
        "latency_ms": percentiles(ms),
        "by_language": {lang: {m: v[m] for m in (*METRICS, "questions")}
                        for lang, v in head["by_language"].items()},
        "by_tag": {tag: {m: v[m] for m in (*METRICS, "questions")}
                   for tag, v in head["by_tag"].items()},
        "misses": head["misses"] if system.key == "default" else None,
    }


def cli_eval(rag: Any, questions: list[Any]) -> dict[str, Any]:
    """The default system exactly as ``azsdk-rag eval`` runs it (``evaluate_rag``: the language
    chains' own retrieval, 2 * k chunks, no LLM)."""
    from azsdk_rag.evaluation import evaluate_rag

    result = evaluate_rag(rag, questions, HEADLINE_K)
    return {m: result[m] for m in (*METRICS, "latency_ms")}


def run(index: Path, questions_file: Path, corpus: Path) -> dict[str, Any]:
    return run_files(index, [questions_file], corpus)[0]


def run_files(index: Path, files: list[Path], corpus: Path) -> list[dict[str, Any]]:
    """Every system on every question file; the systems are built once."""
    from azsdk_rag.evaluation import load_questions, warm_up
    from azsdk_rag.ingest.sources import load_corpus
    from azsdk_rag.rag import AzureSdkRag

    sets = [load_questions(f) for f in files]
    settings = bench_settings(index)
    out = []
    with AzureSdkRag(settings) as rag:
        warm_up(rag)
        readmes = load_corpus([corpus])
        t0 = time.perf_counter()
        systems = build_systems(rag, readmes, settings.model_dir)
        setup_s = time.perf_counter() - t0
        for questions_file, questions in zip(files, sets, strict=True):
            started = time.perf_counter()
            results = [run_system(s, questions) for s in systems]
            live = cli_eval(rag, questions)
            default = next(r for r in results if r["key"] == "default")
            same = all(live[m] == default[m] for m in METRICS)
            out.append({
                "questions_file": str(questions_file),
                "questions": len(questions),
                "retrieval_questions": sum(1 for q in questions if q.packages),
                "readmes": len(readmes),
                "k": HEADLINE_K,
                "systems": results,
                "cli_eval": {**live, "same_as_default": same},
                "baseline_setup_s": round(setup_s, 1),
                "wall_s": round(time.perf_counter() - started, 1),
                "machine": machine(),
            })
    return out


def print_table(data: dict[str, Any]) -> None:
    print(f"{'system':<14}{'route':>8}{'hit@1':>8}{'hit@5':>8}{'MRR':>8}{'answered':>10}"
          f"{'p50 ms':>9}")
    for r in data["systems"]:
        def f(x: Any) -> str:
            return "-" if x is None else f"{x:.3f}"
        print(f"{r['key']:<14}{f(r['routing_accuracy']):>8}{f(r['hit_at_1']):>8}"
              f"{f(r['hit_at_5']):>8}{f(r['mrr']):>8}{f(r['answered']):>10}"
              f"{r['latency_ms']['p50']:>9.1f}")
    check = data["cli_eval"]
    print(f"azsdk-rag eval (live): hit@5 {check['hit_at_5']}, MRR {check['mrr']}; "
          f"same as 'default': {check['same_as_default']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an ingested embedded store")
    parser.add_argument("--questions", type=Path, nargs="+", default=[QUESTIONS])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--json-out", type=Path, nargs="+", default=[],
                        help="write each file's results here (one path per questions file)")
    args = parser.parse_args(argv)
    if args.json_out and len(args.json_out) != len(args.questions):
        parser.error("give one --json-out path per --questions file")
    results = run_files(args.index, args.questions, args.corpus)
    for i, data in enumerate(results):
        if args.json_out:
            args.json_out[i].parent.mkdir(parents=True, exist_ok=True)
            args.json_out[i].write_text(json.dumps(data, indent=1), "utf-8")
        print(f"\n{Path(data['questions_file']).name}")
        print_table(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
