"""The MCP server's cost: a search over stdio against route + retrieve in process, and HTTP load.

    .venv/bin/python -m benchmarks.mcp_bench --index PATH [--questions FILE] [--json-out FILE]
                                            [--clients 20] [--calls 10] [--repeat 1] [--no-http]

1. **stdio**: each question as route + retrieve (what ``eval`` times) and as a
   ``search_azure_sdk_docs`` call from the MCP SDK's ``ClientSession`` to ``azsdk-rag mcp``
   over stdio, timed at the client (request out to result parsed), back to back in alternating
   order, so that both see the same load (see :func:`paired`).
   Goal: tool p50 <= route + retrieve p50 + 5 ms; the median of the paired differences is
   reported beside it (steadier on a shared machine).
2. **http**: ``azsdk-rag mcp --http``; ``--clients`` concurrent streamable-HTTP sessions make
   ``--calls`` search calls each. Goal: 0 errors, and the server's RSS after the run within 10%
   of its RSS before it (after one warm-up call).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.baselines import QUESTIONS, SHARED, bench_settings, machine, percentiles

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("azsdk-rag")


def server_env(index: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZSDK_RAG_")}
    models = SHARED / "models"
    env.update({"AZSDK_RAG_QDRANT_PATH": str(index), "AZSDK_RAG_LLM": "extractive",
                "HF_HUB_OFFLINE": "1"})
    if models.is_dir():
        env["AZSDK_RAG_MODEL_DIR"] = str(models)
    return env


def questions_of(path: Path, limit: int | None) -> list[str]:
    from azsdk_rag.evaluation import load_questions

    texts = [q.question for q in load_questions(path)]
    return texts[:limit] if limit else texts


async def paired(index: Path, questions: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """route + retrieve and ``search_azure_sdk_docs`` over stdio, interleaved (ms).

    Each question is timed both ways back to back, in alternating order, so that both see the
    same moment of a shared machine's load. route + retrieve runs in a child process of its own
    session (:func:`direct_worker`), like the server, which the SDK's ``stdio_client`` starts in
    a new session: with the kernel's autogroup scheduling each session gets its own CPU share,
    so route + retrieve timed in this process (the benchmark's session, shared with whatever else
    the shell runs) measured 5-35 ms slower than the very same search in the server (load ~20).
    The worker reads a copy of the index (the embedded store may admit one process at a time).
    """
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    direct: list[float] = []
    tool: list[float] = []
    params = StdioServerParameters(command=str(EXE), args=["mcp"], env=server_env(index))
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as tmp, \
            open(os.devnull, "w") as errlog:
        copy = Path(tmp) / "index"
        shutil.copytree(index, copy)
        worker = subprocess.Popen([sys.executable, "-m", "benchmarks.mcp_bench", "--direct-worker",
                                   "--index", str(copy)], cwd=ROOT, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
        try:
            async with stdio_client(params, errlog=errlog) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                await session.call_tool("search_azure_sdk_docs", {"query": "warm up"})
                in_process(worker, "warm up")
                for n, question in enumerate(questions * repeat):
                    if n % 2:
                        tool.append(await over_stdio(session, question))
                    direct.append(in_process(worker, question))
                    if not n % 2:
                        tool.append(await over_stdio(session, question))
        finally:
            worker.communicate(timeout=60)
    return direct, tool


def in_process(worker: subprocess.Popen[str], question: str) -> float:
    """route + retrieve of one question in the worker, as ``eval`` runs it (ms, timed there)."""
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(json.dumps(question) + "\n")
    worker.stdin.flush()
    return float(worker.stdout.readline())


def direct_worker(index: Path) -> int:
    """route + retrieve for each JSON question on stdin; its time (ms) on stdout."""
    from azsdk_rag.rag import AzureSdkRag

    with AzureSdkRag(bench_settings(index)) as rag:
        for line in sys.stdin:
            t0 = time.perf_counter()
            rag.retrieve(rag.route(json.loads(line)), k=5)
            print(f"{(time.perf_counter() - t0) * 1000:.3f}", flush=True)
    return 0


async def over_stdio(session: Any, question: str) -> float:
    """One ``search_azure_sdk_docs`` call through the SDK's ClientSession, timed at the client."""
    t0 = time.perf_counter()
    result = await session.call_tool("search_azure_sdk_docs", {"query": question})
    elapsed = (time.perf_counter() - t0) * 1000
    if result.isError:
        raise SystemExit(f"search failed: {result.content[0]}")
    return elapsed


def rss_of(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def http_load(index: Path, questions: list[str], clients: int,
                    calls: int) -> dict[str, Any]:
    """``clients`` concurrent sessions x ``calls`` searches against ``azsdk-rag mcp --http``."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    proc = subprocess.Popen([str(EXE), "mcp", "--http", "--port", "0"], env=server_env(index),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = await asyncio.to_thread(proc.stderr.readline)
        found = re.search(r"streamable HTTP at (http://\S+)", line)
        if not found:
            raise SystemExit(f"the MCP server did not start: {line}")
        url = found.group(1)

        async def client(n: int) -> tuple[int, list[float]]:
            errors, times = 0, []
            try:
                async with streamablehttp_client(url) as (read, write, _), \
                        ClientSession(read, write) as session:
                    await session.initialize()
                    for i in range(calls):
                        question = questions[(n * calls + i) % len(questions)]
                        t0 = time.perf_counter()
                        result = await session.call_tool("search_azure_sdk_docs",
                                                         {"query": question})
                        times.append((time.perf_counter() - t0) * 1000)
                        errors += bool(result.isError)
            except Exception as exc:  # a transport failure counts as every call failing
                print(f"client {n}: {type(exc).__name__}: {exc}", file=sys.stderr)
                errors = calls
            return errors, times

        await client(-1)  # warm-up: models and index loaded, one session opened and closed
        before = rss_of(proc.pid)
        start = time.perf_counter()
        results = await asyncio.gather(*(client(n) for n in range(clients)))
        wall = time.perf_counter() - start
        await asyncio.sleep(1.0)  # let the server close the sessions
        after = rss_of(proc.pid)
        times = [t for _, ts in results for t in ts]
        return {"clients": clients, "calls_per_client": calls, "errors": sum(e for e, _ in results),
                "calls": len(times), "wall_s": round(wall, 2),
                "calls_per_s": round(len(times) / wall, 1), "latency_ms": percentiles(times),
                "rss_before_mib": before, "rss_after_mib": after,
                "rss_ratio": round(after / before, 3)}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def report_lines(data: dict[str, Any]) -> list[str]:
    """The MCP section of REPORT.md."""
    direct, tool, http = data["route_retrieve_ms"], data["search_tool_stdio_ms"], data["http"]
    met = {True: "met", False: "**not met**"}
    http_lines = ["Streamable HTTP: not measured in this run (`--no-http`).", ""] if http is None \
        else [
            f"Streamable HTTP: {http['clients']} concurrent clients x {http['calls_per_client']} "
            f"searches: {http['errors']} errors, p50 {http['latency_ms']['p50']} ms, p95 "
            f"{http['latency_ms']['p95']} ms, {http['calls_per_s']} calls/s; server RSS "
            f"{http['rss_before_mib']} MiB before, {http['rss_after_mib']} MiB after "
            f"(x{http['rss_ratio']}; goal 0 errors and <= x1.10: "
            f"{met[data['http_goal_met']]}).", ""]
    return [
        "## MCP server", "",
        f"`benchmarks/mcp_bench.py`, {data['questions']} questions x {data['repeat']}, the same "
        "index; each question as route + retrieve (in a process of its own session, like the "
        "server) and as `search_azure_sdk_docs` through the MCP SDK's `ClientSession` over "
        "stdio to `azsdk-rag mcp` (timed at the client), back to back in alternating order.", "",
        "| path | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|",
        f"| route + retrieve (in process) | {direct['p50']} | {direct['p95']} | {direct['p99']} |",
        f"| search tool over stdio | {tool['p50']} | {tool['p95']} | {tool['p99']} |", "",
        f"Overhead at p50: {data['stdio_overhead_p50_ms']:+.2f} ms (goal <= +5 ms: "
        f"{met[data['stdio_goal_met']]}); median of the paired differences "
        f"{data['paired_overhead_p50_ms']:+.2f} ms; 1-minute load {data['load_1min']}.", "",
        *http_lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--limit", type=int, default=None, help="Use the first N questions.")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--no-http", action="store_true", help="Measure stdio only.")
    parser.add_argument("--direct-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.direct_worker:
        return direct_worker(args.index)

    questions = questions_of(args.questions, args.limit)
    direct_ms, tool_ms = asyncio.run(paired(args.index, questions, args.repeat))
    direct, tool = percentiles(direct_ms), percentiles(tool_ms)
    paired_p50 = round(statistics.median([t - d for d, t in zip(direct_ms, tool_ms, strict=True)]),
                       2)
    http = None if args.no_http else asyncio.run(http_load(args.index, questions, args.clients,
                                                           args.calls))
    overhead = round(tool["p50"] - direct["p50"], 2)
    result = {
        "questions": len(questions), "repeat": args.repeat,
        "route_retrieve_ms": direct, "search_tool_stdio_ms": tool,
        "stdio_overhead_p50_ms": overhead, "stdio_goal_met": overhead <= 5.0,
        "paired_overhead_p50_ms": paired_p50, "load_1min": round(os.getloadavg()[0], 2),
        "http": http,
        "http_goal_met": None if http is None else (http["errors"] == 0
                                                    and http["rss_ratio"] <= 1.10),
        "machine": machine(),
    }
    print(f"route + retrieve in process   p50 {direct['p50']:7.2f} ms  p95 {direct['p95']:7.2f}")
    print(f"search tool over stdio (MCP)  p50 {tool['p50']:7.2f} ms  p95 {tool['p95']:7.2f}")
    print(f"stdio overhead at p50: {overhead:+.2f} ms (goal <= +5 ms: "
          f"{'met' if result['stdio_goal_met'] else 'NOT met'}); median of the paired "
          f"differences {paired_p50:+.2f} ms; 1-minute load {result['load_1min']}")
    if http is not None:
        print(f"HTTP: {http['clients']} clients x {http['calls_per_client']} calls, "
              f"{http['errors']} errors, p50 {http['latency_ms']['p50']:.1f} ms, "
              f"{http['calls_per_s']} calls/s; RSS {http['rss_before_mib']} -> "
              f"{http['rss_after_mib']} MiB (x{http['rss_ratio']}; goal 0 errors and <= x1.10: "
              f"{'met' if result['http_goal_met'] else 'NOT met'})")
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
