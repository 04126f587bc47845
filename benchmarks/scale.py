"""Query latency and memory as the embedded index grows: 1x, 4x, 16x the shared corpus.

    .venv/bin/python -m benchmarks.scale --index PATH [--sizes 1 4 16] [--json-out FILE]

Larger indexes are the 1x points replicated under new ids (same vectors, same payload). Writing
them into Qdrant local mode is far too slow for the benchmark's budget (local mode commits every
point to SQLite: a few hundred points/s here, minutes for 4x), so the write rate is measured on a
sample and reported, and the in-process engine's shards for 4x and 16x are built from the
replicated points directly (the same code path that loads them from a store, minus local mode).
Each size runs in a fresh process, so its RSS is its own. Last, Qdrant local mode's own
``query_points`` (filtered hybrid) is timed at 1x: the reason the embedded store searches in
process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.baselines import (
    QUESTIONS,
    bench_settings,
    machine,
    messages_of,
    peak_rss_mib,
    percentiles,
    rss_mib,
)

WRITE_SAMPLE = 2048  # points written into a fresh local-mode store to measure the write rate
# What "fine" means for an interactive assistant on a developer machine.
# The search is the part of route + retrieve that grows with the index (routing and embedding the
# query do not), and the part least disturbed by other load on the machine.
SEARCH_P95_GOAL_MS = 50.0
LOAD_GOAL_S = 20.0  # open the store and load the engine (every 'ask' from the CLI pays it)
RSS_GOAL_MIB = 2048.0
WRITE_GOAL_S = 300.0  # writing the points into local mode (embedding not included)


def read_points(store: Any) -> list[Any]:
    """Every point of the collection, with vectors and payload."""
    out: list[Any] = []
    offset = None
    while True:
        points, offset = store.client.scroll(store.collection, limit=2048, offset=offset,
                                             with_payload=True, with_vectors=True)
        out.extend(points)
        if offset is None:
            return out


def copies(points: list[Any], factor: int) -> Any:
    """The points ``factor`` times: the originals, then copies under new ids."""
    from qdrant_client import models

    for copy in range(factor):
        for p in points:
            yield models.PointStruct(id=str(p.id) if copy == 0 else str(uuid.uuid4()),
                                     vector=p.vector, payload=p.payload)


def write_rate(index: Path, target: Path, sample: int) -> dict[str, Any]:
    """Write ``sample`` copies of the index's points into a fresh embedded store; time it."""
    from azsdk_rag.store import Store

    with Store.open(bench_settings(index)) as source:
        info = source.record()
        points = read_points(source)
    wanted = list(copies(points, 2))[len(points):len(points) + sample]
    start = time.perf_counter()
    with Store.open(bench_settings(target)) as store:
        store.ensure_collection(info)
        for i in range(0, len(wanted), 1024):
            store.client.upsert(store.collection, points=wanted[i:i + 1024], wait=True)
        written = store.count()
    seconds = time.perf_counter() - start
    return {"points": written, "s": round(seconds, 1),
            "points_per_s": round(written / seconds, 1)}


def _replicating_backend(store: Any, factor: int) -> Any:
    """The in-process engine over ``store``'s points replicated ``factor`` times, no writes."""
    from langchain_core.documents import Document

    from azsdk_rag.search import InMemorySearch, _Shard
    from azsdk_rag.store import DENSE, SPARSE

    class Replicated(InMemorySearch):
        def _read(self) -> dict[str, Any]:
            grouped: dict[str, tuple[list, list, list]] = {}
            points = read_points(self.store)
            for copy, p in ((c, p) for c in range(factor) for p in points):
                payload = p.payload or {}
                meta = dict(payload.get("metadata") or {})
                meta["_id"] = str(p.id) if copy == 0 else str(uuid.uuid4())
                vectors = p.vector if isinstance(p.vector, dict) else {}
                sparse = vectors.get(SPARSE)
                docs, dense, sp = grouped.setdefault(meta.get("language", ""), ([], [], []))
                # a string of its own per copy, as distinct chunks would have
                text = "".join((payload.get("page_content", ""), " "))
                docs.append(Document(page_content=text, metadata=meta))
                dense.append(vectors.get(DENSE) or [])
                sp.append((list(sparse.indices), list(sparse.values)) if sparse else ([], []))
            return {lang: _Shard(*parts) for lang, parts in grouped.items()}

    return Replicated(store)


def spread(items: list[Any], n: int) -> list[Any]:
    """``n`` items taken evenly across the list: the question file is ordered by kind."""
    if n >= len(items):
        return items
    return [items[i * len(items) // n] for i in range(n)]


def measure(index: Path, questions_file: Path, n: int, factor: int) -> dict[str, Any]:
    """Open ``index`` as the library does (times ``factor`` in process), then time n questions."""
    from azsdk_rag.evaluation import load_questions
    from azsdk_rag.rag import AzureSdkRag
    from azsdk_rag.search import embed_query
    from azsdk_rag.store import Store

    questions = spread(load_questions(questions_file), n)
    settings = bench_settings(index)
    start = time.perf_counter()
    before = rss_mib()
    store = Store.open(settings)  # local mode reads every point into memory here
    open_s = time.perf_counter() - start
    local_mode_mib = rss_mib() - before
    with store, AzureSdkRag(settings, store=store) as rag:
        if factor > 1:
            rag.factory.backend = _replicating_backend(rag.store, factor)
        rag.retrieve(rag.route("warm up"), k=1)  # loads the engine (and the models)
        load_s = time.perf_counter() - start
        points = sum(len(s.docs) for s in rag.factory.backend._load().values())
        ms, search_ms = [], []
        backend, mode = rag.factory.backend, rag.settings.retrieval_mode
        for q in questions:
            t0 = time.perf_counter()
            route = rag.route(q.question, q.history)
            rag.retrieve(route, messages_of(q.history), use_llm=False)
            ms.append((time.perf_counter() - t0) * 1000)
            query = embed_query(rag.embedders, route.query, mode)
            t0 = time.perf_counter()
            backend.search(query, route.languages, 60, mode)
            search_ms.append((time.perf_counter() - t0) * 1000)
        rss = rss_mib()
    p, sp = percentiles(ms), percentiles(search_ms)
    return {"points": points, "load_s": round(load_s, 2), "p50_ms": p["p50"], "p95_ms": p["p95"],
            "p99_ms": p["p99"], "search_p50_ms": sp["p50"], "search_p95_ms": sp["p95"],
            "rss_mib": rss, "peak_rss_mib": peak_rss_mib(),
            "open_s": round(open_s, 2), "local_mode_mib": round(local_mode_mib, 1),
            "questions": len(questions)}


def local_query(index: Path, questions_file: Path, n: int) -> dict[str, Any]:
    """Qdrant local mode's own filtered hybrid query_points vs the in-process engine at 1x."""
    from azsdk_rag.evaluation import load_questions
    from azsdk_rag.rag import AzureSdkRag
    from azsdk_rag.search import QdrantSearch, embed_query

    with AzureSdkRag(bench_settings(index)) as rag:
        rag.retrieve(rag.route("warm up"), k=1)
        local = QdrantSearch(rag.store, rag.embedders)
        engine = rag.factory.backend
        routed = []
        for q in load_questions(questions_file):
            route = rag.route(q.question, q.history)
            if route.languages:
                routed.append((embed_query(rag.embedders, route.query, "hybrid"),
                               route.languages))
            if len(routed) == n:
                break
        local.search(*routed[0], 60, "hybrid")  # warm up
        timings: dict[str, list[float]] = {"local": [], "engine": []}
        for query, languages in routed:
            for name, backend in (("local", local), ("engine", engine)):
                t0 = time.perf_counter()
                backend.search(query, languages, 60, "hybrid")
                timings[name].append((time.perf_counter() - t0) * 1000)
    lp, ep = percentiles(timings["local"]), percentiles(timings["engine"])
    return {"queries": len(routed), "p50_ms": lp["p50"], "p95_ms": lp["p95"],
            "in_process_p50_ms": ep["p50"], "in_process_p95_ms": ep["p95"]}


def verdicts(row: dict[str, Any], write: dict[str, Any]) -> list[str]:
    """The goals a size misses (empty: the embedded store is fine at this size)."""
    write_s = row["points"] / write["points_per_s"]
    checks = [
        (row["search_p95_ms"] <= SEARCH_P95_GOAL_MS,
         f"search p95 {row['search_p95_ms']:.0f} ms > {SEARCH_P95_GOAL_MS:.0f} ms"),
        (row["est_load_s"] <= LOAD_GOAL_S,
         f"start-up ~{row['est_load_s']:.0f} s > {LOAD_GOAL_S:.0f} s"),
        (row["est_rss_mib"] <= RSS_GOAL_MIB,
         f"~{row['est_rss_mib'] / 1024:.1f} GiB > {RSS_GOAL_MIB / 1024:.0f} GiB"),
        (write_s <= WRITE_GOAL_S,
         f"writing the points alone ~{write_s / 60:.0f} min > {WRITE_GOAL_S / 60:.0f} min"),
    ]
    return [why for ok, why in checks if not ok]


def recommendation(rows: list[dict[str, Any]], write: dict[str, Any], base_points: int) -> str:
    """The size at which a Qdrant server is the better home, from the measured numbers."""
    for row in rows:
        row["misses"] = verdicts(row, write)
    fits = [r for r in rows if not r["misses"]]
    over = [r for r in rows if r["misses"]]
    parts = []
    if fits:
        best = max(fits, key=lambda r: r["points"])
        parts.append(
            f"up to {best['points']:,} points ({best['size']}x the shared corpus) the embedded "
            f"store meets every goal (search p95 {best['search_p95_ms']:.0f} ms, start-up "
            f"~{best['est_load_s']:.0f} s, ~{best['est_rss_mib']:,.0f} MiB)")
    if over:
        first = min(over, key=lambda r: r["points"])
        parts.append(f"at {first['points']:,} points ({first['size']}x) it misses: "
                     + ", ".join(first["misses"]))
    limit = max(fits, key=lambda r: r["points"])["points"] if fits else base_points
    return (f"Beyond about {limit:,} points ({max(1, limit // base_points)}x the shared corpus), "
            "or as soon as several processes must share one index (the embedded store admits "
            "one process at a time). " + ". ".join(p[0].upper() + p[1:] for p in parts)
            + f". (Goals: search p95 <= {SEARCH_P95_GOAL_MS:.0f} ms, start-up <= "
            f"{LOAD_GOAL_S:.0f} s, memory <= {RSS_GOAL_MIB / 1024:.0f} GiB, local-mode writes "
            f"<= {WRITE_GOAL_S / 60:.0f} min; local mode writes {write['points_per_s']:,.0f} "
            "points/s here.)")


def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", *args],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"scale step {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(index: Path, questions: Path, sizes: list[int], n: int, work: Path,
        sample: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for size in sorted(sizes):
        args = ["measure", "--index", str(index), "--factor", str(size),
                "--questions", str(questions), "--n", str(n)]
        row = _child(args)
        via = ("the ingested store" if size == 1
               else "replicated in process (shards built from the 1x store's points)")
        if size > 1 and rows:  # a real store this size: local mode's copy and open time too
            base = rows[0]
            row["est_rss_mib"] = round(row["rss_mib"] + (size - 1) * base["local_mode_mib"], 1)
            row["est_load_s"] = round(row["load_s"] + (size - 1) * base["open_s"], 1)
        else:
            row["est_rss_mib"], row["est_load_s"] = row["rss_mib"], row["load_s"]
        rows.append({"size": size, "via": via, **row})
        print(f"{size:>3}x {row['points']:>8} points: load {row['load_s']} s, "
              f"p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, RSS {row['rss_mib']} MiB",
              flush=True)
    base_points = rows[0]["points"] // rows[0]["size"]
    write = _child(["write-rate", "--index", str(index), "--target", str(work / "write"),
                    "--sample", str(sample)])
    print(f"Qdrant local mode writes {write['points_per_s']} points/s", flush=True)
    lq = _child(["local-query", "--index", str(index), "--questions", str(questions)])
    print(f"Qdrant local query_points at 1x (filtered hybrid): p50 {lq['p50_ms']} ms, "
          f"p95 {lq['p95_ms']} ms; in-process p50 {lq['in_process_p50_ms']} ms", flush=True)
    return {"base_points": base_points, "questions": n, "sizes": rows, "local_write": write,
            "local_query_points": lq,
            "recommendation": recommendation(rows, write, base_points), "machine": machine()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what")
    m = sub.add_parser("measure", help="one size, in this process")
    m.add_argument("--index", type=Path, required=True)
    m.add_argument("--factor", type=int, default=1)
    m.add_argument("--questions", type=Path, default=QUESTIONS)
    m.add_argument("--n", type=int, default=100)
    w = sub.add_parser("write-rate", help="Qdrant local mode's write rate")
    w.add_argument("--index", type=Path, required=True)
    w.add_argument("--target", type=Path, required=True)
    w.add_argument("--sample", type=int, default=WRITE_SAMPLE)
    lq = sub.add_parser("local-query", help="Qdrant local mode's own query_points at 1x")
    lq.add_argument("--index", type=Path, required=True)
    lq.add_argument("--questions", type=Path, default=QUESTIONS)
    lq.add_argument("--n", type=int, default=30)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--n", type=int, default=100, help="questions per size")
    parser.add_argument("--work", type=Path, help="where to write scratch stores (a temp dir)")
    parser.add_argument("--write-sample", type=int, default=WRITE_SAMPLE)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    if args.what == "measure":
        print(json.dumps(measure(args.index, args.questions, args.n, args.factor)))
    elif args.what == "write-rate":
        print(json.dumps(write_rate(args.index, args.target, args.sample)))
    elif args.what == "local-query":
        print(json.dumps(local_query(args.index, args.questions, args.n)))
    else:
        if args.index is None:
            parser.error("--index is required")
        if 1 not in args.sizes:
            parser.error("--sizes must include 1 (the baseline)")
        import tempfile

        with tempfile.TemporaryDirectory(prefix="azsdk-scale-", dir=args.work) as tmp:
            data = run(args.index, args.questions, args.sizes, args.n, Path(tmp),
                       args.write_sample)
        if args.json_out:
            args.json_out.parent.mkdir(parents=True, exist_ok=True)
            args.json_out.write_text(json.dumps(data, indent=1), "utf-8")
        print("Move to a Qdrant server:", data["recommendation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
