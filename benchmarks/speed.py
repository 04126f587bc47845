"""Where the time goes: ingest throughput, and the latency of each step of answering a question.

    .venv/bin/python -m benchmarks.speed ingest --index PATH [--corpus DIR] [--json-out FILE]
    .venv/bin/python -m benchmarks.speed query --index PATH [--questions FILE] [--json-out FILE]

``ingest`` builds the index (the whole corpus into a fresh embedded store) and reports wall time,
chunks per second and peak RSS of this process; ``--unchanged`` re-runs it to time the no-op
re-ingest. ``query`` times, per question: routing, query embedding (dense + BM25), search with
package aggregation, prompt building (``format_context`` + ``prompt.format_messages``) and, in a
separate pass, the whole route + retrieve as ``azsdk-rag eval`` calls it; p50/p95/p99 of each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.baselines import (
    QUESTIONS,
    SHARED,
    bench_settings,
    machine,
    messages_of,
    peak_rss_mib,
    percentiles,
    rss_mib,
)

STAGES = ("route", "embed", "search", "prompt", "route+retrieve")


class _Timed:
    """An embedder whose ``embed_documents`` time is added up: the embed-only part of ingest."""

    def __init__(self, inner: Any, spent: list[float]) -> None:
        self.inner, self.spent = inner, spent

    def embed_documents(self, texts: list[str]) -> Any:
        start = time.perf_counter()
        try:
            return self.inner.embed_documents(texts)
        finally:
            self.spent[0] += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def run_ingest(index: Path, corpus: Path, unchanged: bool) -> dict[str, Any]:
    """The whole corpus into a fresh store at ``index`` (kept for the other benchmarks).

    The time the embedders take on the chunks is measured inside the same run, so "ingest <=
    1.15x embedding alone" compares two numbers of one run on one (loaded) machine.
    """
    import dataclasses

    from azsdk_rag import embeddings
    from azsdk_rag.ingest import pipeline
    from azsdk_rag.ingest.pipeline import ingest

    settings = bench_settings(index)
    spent = [0.0]
    real = embeddings.make_embedders(settings)
    timed = dataclasses.replace(real, dense=_Timed(real.dense, spent),
                                sparse=_Timed(real.sparse, spent))
    pipeline.make_embedders = lambda _settings: timed  # type: ignore[assignment]
    runs = {}
    for run in ("fresh", "unchanged") if unchanged else ("fresh",):
        spent[0] = 0.0
        start = time.perf_counter()
        report = ingest(settings, corpus=[corpus], progress=False)
        wall = time.perf_counter() - start
        runs[run] = {
            "readmes": report.readmes, "chunks": report.chunks, "written": report.written,
            "wall_s": round(wall, 2), "chunks_per_s": round(report.chunks / wall, 1),
            "embed_s": round(spent[0], 2),
            "ingest_vs_embed": round(wall / spent[0], 3) if spent[0] else None,
            "peak_rss_mib": peak_rss_mib(),
        }
    return {"corpus": str(corpus), **runs, "settings": {
        "chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap,
        "batch_size": settings.batch_size, "embed_max_tokens": settings.embed_max_tokens,
        "dense_model": settings.dense_model, "sparse_model": settings.sparse_model},
        "machine": machine()}


def run_queries(index: Path, questions_file: Path, repeat: int) -> dict[str, Any]:
    """Each stage timed on its own, over every question, ``repeat`` times."""
    from azsdk_rag.chains import _language_label
    from azsdk_rag.context import format_context
    from azsdk_rag.evaluation import load_questions
    from azsdk_rag.rag import AzureSdkRag
    from azsdk_rag.ranking import diversify
    from azsdk_rag.search import embed_query

    questions = load_questions(questions_file)
    settings = bench_settings(index)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    load_start = time.perf_counter()
    with AzureSdkRag(settings) as rag:
        rag.retrieve(rag.route("warm up"), k=1)  # models and the index, loaded once
        load_s = time.perf_counter() - load_start
        rss_loaded = rss_mib()
        retriever = rag.retriever()
        backend, prompt = rag.factory.backend, rag.factory.prompt
        k, mode = settings.top_k, settings.retrieval_mode
        for _ in range(repeat):
            for q in questions:
                messages = messages_of(q.history)
                t0 = time.perf_counter()
                route = rag.route(q.question, q.history)
                t1 = time.perf_counter()
                query = embed_query(rag.embedders, rag.search_query(route, messages, False), mode)
                t2 = time.perf_counter()
                hits = backend.search(query, route.languages, max(retriever.fetch_k, k), mode)
                docs = diversify(hits, k, retriever.max_per_package)
                t3 = time.perf_counter()
                context = format_context(docs, settings.context_tokens)
                prompt.format_messages(question=route.query or q.question, history=messages,
                                       context=context,
                                       languages=_language_label(route.languages))
                t4 = time.perf_counter()
                for stage, (a, b) in zip(STAGES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)),
                                         strict=False):
                    samples[stage].append((b - a) * 1000)
        for _ in range(repeat):  # the whole path, as 'azsdk-rag eval' calls it
            for q in questions:
                t0 = time.perf_counter()
                route = rag.route(q.question, q.history)
                rag.retrieve(route, messages_of(q.history), k=k, use_llm=False)
                samples["route+retrieve"].append((time.perf_counter() - t0) * 1000)
        points = rag.store.count()
    return {
        "questions_file": str(questions_file), "questions": len(questions), "repeat": repeat,
        "points": points, "top_k": k, "mode": mode,
        "stages": {stage: percentiles(values) for stage, values in samples.items()},
        "samples_ms": {stage: [round(v, 3) for v in values] for stage, values in samples.items()},
        "open_and_load_s": round(load_s, 2), "rss_loaded_mib": rss_loaded,
        "peak_rss_mib": peak_rss_mib(), "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    ing = sub.add_parser("ingest", help="build the index and time it")
    ing.add_argument("--index", type=Path, required=True)
    ing.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    ing.add_argument("--unchanged", action="store_true", help="also time an unchanged re-run")
    ing.add_argument("--json-out", type=Path)
    qry = sub.add_parser("query", help="per-stage latency over a question set")
    qry.add_argument("--index", type=Path, required=True)
    qry.add_argument("--questions", type=Path, default=QUESTIONS)
    qry.add_argument("--repeat", type=int, default=1)
    qry.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    if args.what == "ingest":
        data = run_ingest(args.index, args.corpus, args.unchanged)
        for run in ("fresh", "unchanged"):
            if run in data:
                r = data[run]
                print(f"ingest {run}: {r['readmes']} READMEs, {r['chunks']} chunks, "
                      f"{r['written']} written in {r['wall_s']} s ({r['chunks_per_s']} chunks/s), "
                      f"peak RSS {r['peak_rss_mib']} MiB")
    else:
        data = run_queries(args.index, args.questions, args.repeat)
        print(f"{'stage':<16}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
        for stage, p in data["stages"].items():
            print(f"{stage:<16}{p['p50']:>9.2f}{p['p95']:>9.2f}{p['p99']:>9.2f}")
        print(f"index {data['points']} points; open + load {data['open_and_load_s']} s; "
              f"RSS {data['rss_loaded_mib']} MiB loaded, peak {data['peak_rss_mib']} MiB")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(data, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
