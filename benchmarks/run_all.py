"""Every benchmark in one command (``make bench``): quality, speed, scale, MCP, sockets -> report.

    .venv/bin/python -m benchmarks.run_all [--questions FILE] [--corpus DIR] [--out DIR]
                                           [--sizes 1 4 16] [--no-socket] [--index PATH]
                                           [--report-only]

Builds one index (the whole shared corpus into a temporary embedded store; this is also the
ingest measurement), then runs quality.py, speed.py, scale.py, cold_ask.py, mcp_bench.py and a
shortened sockets.py against it, each in a process of its own (clean peak-RSS numbers). Writes
``<out>/*.json``, PNG plots and ``<out>/REPORT.md``.
``--report-only`` rebuilds the report and plots from the JSON files already in ``<out>``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
SHARED = Path(os.environ.get("AZSDK_RAG_SHARED", ROOT.parent / "shared"))
RESULTS = _HERE / "results"
SOCKET_ARGS = ["--clients", "1", "10", "--asks", "10", "--idle", "50", "--malformed", "300"]


def child_env() -> dict[str, str]:
    """The environment of the benchmark processes: offline, and no developer AZSDK_RAG_* knobs,
    so the numbers are the library defaults'."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZSDK_RAG_", "AZURE_OPENAI_", "OPENAI_"))}
    env["AZSDK_RAG_SHARED"] = str(SHARED)
    env.setdefault("HF_HUB_OFFLINE", "1")
    if (SHARED / "tiktoken").is_dir():
        env.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED / "tiktoken"))
    env["MPLBACKEND"] = "Agg"
    return env


def step(name: str, module: str, args: list[str], timings: dict[str, float],
         log: Path | None = None) -> str:
    """Run ``python -m benchmarks.<module> args`` from the repository root; echo its output."""
    print(f"\n== {name}: python -m benchmarks.{module} {' '.join(args)}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True)
    timings[name] = round(time.perf_counter() - start, 1)
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0 and module != "sockets":
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"benchmark step '{name}' failed (exit {proc.returncode})")
    if log is not None:
        log.write_text(proc.stdout + (f"\n(exit status {proc.returncode})\n"
                                      if proc.returncode else ""), "utf-8")
    return proc.stdout


def run(args: argparse.Namespace) -> None:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="azsdk-bench-") as tmp:
        index = args.index or Path(tmp) / "index"
        if args.index is None:
            step("ingest", "speed", ["ingest", "--unchanged", "--index", str(index), "--corpus",
                                     str(args.corpus), "--json-out", str(out / "ingest.json")],
                 timings)
        files, outs = [str(args.questions)], [str(out / "quality.json")]
        if args.real and args.real.exists():
            files.append(str(args.real))
            outs.append(str(out / "quality-real.json"))
        elif (out / "quality-real.json").exists():
            (out / "quality-real.json").unlink()  # a stale table would look current
        step("quality", "quality", ["--index", str(index), "--questions", *files,
                                    "--corpus", str(args.corpus), "--json-out", *outs], timings)
        step("speed", "speed", ["query", "--index", str(index), "--questions",
                                str(args.questions), "--json-out", str(out / "speed.json")],
             timings)
        step("scale", "scale", ["--index", str(index), "--questions", str(args.questions),
                                "--sizes", *map(str, args.sizes), "--work", tmp,
                                "--json-out", str(out / "scale.json")], timings)
        step("cold ask", "cold_ask", ["--index", str(index),
                                      "--json-out", str(out / "cold.json")], timings)
        step("mcp", "mcp_bench", ["--index", str(index), "--questions", str(args.questions),
                                  "--json-out", str(out / "mcp.json")], timings)
    if args.socket:
        step("socket", "sockets", SOCKET_ARGS, timings, log=out / "socket.txt")
    elif (out / "socket.txt").exists():
        (out / "socket.txt").unlink()  # a stale table would look current
    timings["total"] = round(time.perf_counter() - started, 1)
    (out / "run.json").write_text(json.dumps({
        "timings_s": timings, "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "questions": str(args.questions), "corpus": str(args.corpus)}, indent=1), "utf-8")


# -- the report ------------------------------------------------------------------------------------


def mcp_lines(data: dict[str, Any] | None) -> list[str]:
    from benchmarks.mcp_bench import report_lines

    return report_lines(data) if data else []


STAGE_LABELS = {"route": "route", "embed": "query embedding (dense + BM25)",
                "search": "search + package aggregation", "prompt": "prompt building",
                "route+retrieve": "route + retrieve (whole)"}


def _load(out: Path, name: str) -> Any:
    path = out / name
    return json.loads(path.read_text("utf-8")) if path.exists() else None


def _f(x: Any, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def plot_quality(quality: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    systems = quality["systems"]
    names = [s["key"] for s in systems]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    x = np.arange(len(systems))
    for i, (metric, label) in enumerate((("hit_at_1", "hit@1"), ("hit_at_5", "hit@5"),
                                         ("mrr", "MRR"))):
        values = [s[metric] or 0 for s in systems]
        bars = ax.bar(x + (i - 1) * 0.27, values, 0.27, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"Retrieval quality, {quality['retrieval_questions']} questions")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "quality.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for s in systems:
        ks = sorted(int(k) for k in s["hit_at_k"])
        ax.plot(ks, [s["hit_at_k"][str(k)] or 0 for k in ks], marker="o", markersize=3,
                label=s["key"], linewidth=2.5 if s["key"] == "default" else 1.2)
    ax.set_xlabel("k (distinct packages)")
    ax.set_ylabel("hit@k")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(range(1, 11))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("hit@k by system")
    fig.tight_layout()
    fig.savefig(out / "hit_at_k.png", dpi=110)
    plt.close(fig)
    return ["quality.png", "hit_at_k.png"]


def plot_latency(speed: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(speed["samples_ms"])
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.boxplot([speed["samples_ms"][s] for s in stages], whis=(5, 95), showfliers=True,
               flierprops={"markersize": 2, "alpha": 0.4})
    ax.set_xticks(range(1, len(stages) + 1),
                  [STAGE_LABELS.get(s, s).replace(" (", "\n(").replace(" + ", " +\n", 1)
                   for s in stages], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log scale)")
    ax.set_title(f"Latency per stage, {speed['questions']} questions x {speed['repeat']} "
                 f"(whiskers p5-p95)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=110)
    plt.close(fig)
    return ["latency.png"]


def plot_scale(scale: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = scale["sizes"]
    points = [r["points"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, style in (("embed_p50_ms", "query embedding p50", "^-"),
                              ("route_retrieve_p50_ms", "route + retrieve p50", "o-"),
                              ("route_retrieve_p95_ms", "route + retrieve p95", "o--"),
                              ("search_p50_ms", "search p50", "s-"),
                              ("search_p95_ms", "search p95", "s--")):
        left.plot(points, [r[key] for r in rows], style, label=label, markersize=4)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("points in the index")
    left.set_ylabel("ms")
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    right.plot(points, [r["rss_mib"] for r in rows], "o-", label="RSS while serving")
    right.set_xscale("log")
    right.set_xlabel("points in the index")
    right.set_ylabel("MiB")
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    fig.suptitle("The embedded index (Qdrant Edge) as it grows, written for real")
    fig.tight_layout()
    fig.savefig(out / "scale.png", dpi=110)
    plt.close(fig)
    return ["scale.png"]


def quality_section(q: dict[str, Any]) -> list[str]:
    systems = q["systems"]
    lines = [
        "## Retrieval quality", "",
        f"{q['questions']} questions ({q['retrieval_questions']} with expected packages) from "
        f"`{Path(q['questions_file']).name}`, scored by `azsdk_rag.evaluation` (routing exact "
        "match; hit@k and MRR over distinct (language, package) pairs, k = 5). All chunk systems "
        "share one index of the whole corpus.", "",
        "| system | what | routing | hit@1 | hit@5 | MRR | answered | p50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in systems:
        bold = "**" if s["key"] == "default" else ""
        lines.append(
            f"| {bold}{s['key']}{bold} | {s['label']} | {_f(s['routing_accuracy'])} | "
            f"{bold}{_f(s['hit_at_1'])}{bold} | {bold}{_f(s['hit_at_5'])}{bold} | "
            f"{bold}{_f(s['mrr'])}{bold} | {_f(s['answered'], 2)} | "
            f"{s['latency_ms']['p50']:.1f} |")
    default = next(s for s in systems if s["key"] == "default")
    others = [s for s in systems if s["key"] != "default"]
    beats = all((default["hit_at_5"] or 0) > (s["hit_at_5"] or 0)
                and (default["mrr"] or 0) > (s["mrr"] or 0) for s in others)
    best_other = max(others, key=lambda s: s["mrr"] or 0)
    check = q["cli_eval"]
    lines += [
        "",
        ("The default beats every baseline on hit@5 and MRR"
         if beats else "**The default does not beat every baseline on both hit@5 and MRR**")
        + f" (best baseline by MRR: `{best_other['key']}`, hit@5 {_f(best_other['hit_at_5'])}, "
        f"MRR {_f(best_other['mrr'])}; default {_f(default['hit_at_5'])} / "
        f"{_f(default['mrr'])}).",
        f"`azsdk-rag eval` run live on the same index gives hit@5 {_f(check['hit_at_5'])}, "
        f"MRR {_f(check['mrr'])}, routing {_f(check['routing_accuracy'])} "
        f"({'identical to' if check['same_as_default'] else 'DIFFERENT from'} the `default` "
        "row).",
        "", "![quality](quality.png) ![hit@k](hit_at_k.png)", "",
        "*answered*: share of questions for which the system returned any package. *p50 ms*: "
        "route + retrieve per question. The old design answers only slash-command questions and "
        "only above its cosine threshold, which is most of its loss.", "",
    ]
    for title, field in (("By language", "by_language"), ("By tag", "by_tag")):
        groups = list(default[field])
        lines += [f"### {title} (hit@5 / MRR)", "",
                  "| " + " | ".join(["group", "n", *[s["key"] for s in systems]]) + " |",
                  "|" + "---|" * (len(systems) + 2)]
        for g in groups:
            n = default[field][g]["questions"]
            cells = []
            for s in systems:
                m = s[field].get(g)
                cells.append("–" if not m or m["hit_at_5"] is None
                             else f"{m['hit_at_5']:.2f} / {m['mrr']:.2f}")
            lines.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "Routing accuracy per group (default router vs the old regexes): "
        + "; ".join(f"{g} {default['by_tag'][g]['routing_accuracy']:.2f} vs "
                    f"{systems[0]['by_tag'][g]['routing_accuracy']:.2f}"
                    for g in default["by_tag"]) + ".", ""]
    return lines


def real_section(q: dict[str, Any]) -> list[str]:
    """The real developers' posts: every system's routing, hit@1, hit@5 and MRR, overall and by
    language and tag."""
    systems = q["systems"]
    lines = [
        "## Real developers' questions", "",
        f"{q['questions']} posts from GitHub issues and Q&A threads (`"
        f"{Path(q['questions_file']).name}`, {q['retrieval_questions']} with expected packages), "
        "shortened in the posters' own words: pasted code, stack traces and typos kept. Same "
        "systems, index and scoring as above.", "",
        "| system | routing | hit@1 | hit@5 | MRR | p50 ms |", "|---|---|---|---|---|---|"]
    for s in systems:
        bold = "**" if s["key"] == "default" else ""
        lines.append(f"| {bold}{s['key']}{bold} | {_f(s['routing_accuracy'])} | "
                     f"{_f(s['hit_at_1'])} | {_f(s['hit_at_5'])} | {_f(s['mrr'])} | "
                     f"{s['latency_ms']['p50']:.1f} |")
    lines.append("")
    default = next(s for s in systems if s["key"] == "default")
    for title, field in (("By language", "by_language"), ("By tag", "by_tag")):
        lines += [f"### Real posts {title.lower()} (routing / hit@1 / hit@5 / MRR)", "",
                  "| " + " | ".join(["group", "n", *[s["key"] for s in systems]]) + " |",
                  "|" + "---|" * (len(systems) + 2)]
        for g in default[field]:
            n = default[field][g]["questions"]
            cells = []
            for s in systems:
                m = s[field].get(g)
                cells.append("–" if not m else " / ".join(
                    _f(m[key], 2) for key in ("routing_accuracy", "hit_at_1", "hit_at_5", "mrr")))
            lines.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def speed_section(speed: dict[str, Any] | None, ingest: dict[str, Any] | None) -> list[str]:
    lines = ["## Speed", ""]
    if ingest:
        fresh = ingest["fresh"]
        lines += [
            f"Ingest of the whole corpus into a fresh embedded store: {fresh['readmes']} READMEs "
            f"-> {fresh['chunks']} chunks in {fresh['wall_s']:.0f} s "
            f"(**{fresh['chunks_per_s']:.0f} chunks/s**, dense + BM25 embedding included), "
            f"peak RSS {fresh['peak_rss_mib']:.0f} MiB."]
        if fresh.get("embed_s"):
            lines[-1] += (f" The embedders alone took {fresh['embed_s']:.0f} s of it: ingest = "
                          f"**{fresh['ingest_vs_embed']:.3f}x embedding alone** (goal <= 1.15x).")
        if "unchanged" in ingest:
            un = ingest["unchanged"]
            lines[-1] += (f" Re-ingesting it unchanged takes **{un['wall_s']:.1f} s** "
                          f"({un['written']} written; goal <= 3 s).")
        lines.append("")
    if speed:
        lines += [
            f"Per question, over {speed['questions']} questions x {speed['repeat']} on "
            f"{speed['points']} points (embedded Qdrant Edge index, {speed['mode']}, "
            f"top {speed['top_k']}):", "",
            "| stage | p50 ms | p95 ms | p99 ms | mean ms |", "|---|---|---|---|---|"]
        for stage, p in speed["stages"].items():
            lines.append(f"| {STAGE_LABELS.get(stage, stage)} | {p['p50']:.2f} | "
                         f"{p['p95']:.2f} | {p['p99']:.2f} | {p['mean']:.2f} |")
        lines += [
            "", f"Opening the store and loading the models: "
            f"{speed['open_and_load_s']:.1f} s (models included); RSS then "
            f"{speed['rss_loaded_mib']:.0f} MiB, peak {speed['peak_rss_mib']:.0f} MiB.",
            "", "![latency](latency.png)", ""]
    return lines


def scale_section(scale: dict[str, Any] | None) -> list[str]:
    if not scale:
        return []
    rows = scale["sizes"]
    lines = [
        "## Scale", "",
        f"The 1x index ({scale['base_points']} points) and 4x / 16x copies of its points (new "
        "ids, every copy its own packages) written for real into fresh Qdrant Edge indexes "
        f"through the store's writer, HNSW built; {scale['questions']} questions at each size, "
        "each size in a fresh process, the models loaded before the clock starts.", "",
        "| size | points | write s | open + first retrieve s | query embedding p50 ms | "
        "route + retrieve p50 / p95 ms (ratio) | search p50 / p95 ms | RSS MiB | misses |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        write = r.get("write") or {}
        lines.append(
            f"| {r['size']}x | {r['points']:,} | {write.get('write_s', '(ingest)')} | "
            f"{r['open_first_retrieve_s']:.3f} | {r['embed_p50_ms']:.1f} | "
            f"{r['route_retrieve_p50_ms']:.1f} / {r['route_retrieve_p95_ms']:.1f} "
            f"({r['ratio']:.2f}x) | {r['search_p50_ms']:.1f} / {r['search_p95_ms']:.1f} | "
            f"{r['rss_mib']:,.0f} | {'; '.join(r.get('misses') or []) or 'none'} |")
    lines += ["", "Goals: open + first retrieve <= 0.3 s at 1x and <= 0.6 s at 16x; route + "
              "retrieve p50 <= 2x the query-embedding p50 at 1x and <= 2.5x at 16x; RSS while "
              "serving <= 600 MiB at 16x.", ""]
    lines += [f"**When to move to a Qdrant server:** {scale['recommendation']} "
              "See [docs/scaling.md](../../docs/scaling.md).", "", "![scale](scale.png)", ""]
    return lines


def cold_section(cold: dict[str, Any] | None) -> list[str]:
    if not cold:
        return []
    return [
        "## Cold start", "",
        f"A cold `azsdk-rag ask \"{cold['question']}\"` (extractive answer) against a bare "
        f"process that loads both embedders and embeds one question, alternately, median of "
        f"{cold['runs']}: **{cold['ask']['wall_s']} s vs {cold['bare']['wall_s']} s "
        f"({cold['wall_ratio']}x, goal <= {cold['wall_goal']}x)**, peak RSS "
        f"{cold['ask']['peak_rss_mib']:.0f} vs {cold['bare']['peak_rss_mib']:.0f} MiB "
        f"(**+{cold['rss_extra_mib']:.0f} MiB**, goal <= +{cold['rss_goal_mib']:.0f}).", ""]


def write_report(out: Path) -> Path:
    """REPORT.md and the plots from the JSON files in ``out``."""
    quality, speed, ingest = _load(out, "quality.json"), _load(out, "speed.json"), \
        _load(out, "ingest.json")
    scale, run_info = _load(out, "scale.json"), _load(out, "run.json") or {}
    if quality:
        plot_quality(quality, out)
    if speed:
        plot_latency(speed, out)
    if scale:
        plot_scale(scale, out)
    machine = (speed or quality or {}).get("machine", {})
    timings = run_info.get("timings_s", {})
    loads = ", ".join(f"{name} {data['machine'].get('load_average_1m', '?')}"
                      for name, data in (("ingest", ingest), ("quality", quality),
                                         ("speed", speed), ("scale", scale))
                      if data and "machine" in data)
    lines = [
        "# Benchmark report", "",
        f"Made by `make bench` (`benchmarks/run_all.py`), finished {run_info.get('finished', '?')}"
        f" on {machine.get('cores', '?')} cores, Python {machine.get('python', '?')}. "
        f"Whole run: {timings.get('total', '?')} s ("
        + ", ".join(f"{k} {v} s" for k, v in timings.items() if k != "total") + "). "
        f"The machine was shared with other jobs (1-minute load average at the end of each step: "
        f"{loads}): latencies move with that load, so compare them within one report.", ""]
    if quality:
        lines += quality_section(quality)
    real = _load(out, "quality-real.json")
    if real:
        lines += real_section(real)
    lines += speed_section(speed, ingest)
    lines += scale_section(scale)
    lines += cold_section(_load(out, "cold.json"))
    socket_txt = out / "socket.txt"
    if socket_txt.exists():
        lines += ["## Socket adapters", "",
                  f"`benchmarks/sockets.py {' '.join(SOCKET_ARGS)}` (shortened to fit the run; "
                  "the fake RAG streams 20 deltas 5 ms apart):", "", "```",
                  socket_txt.read_text("utf-8").strip(), "```", ""]
    lines += mcp_lines(_load(out, "mcp.json"))
    lines += [
        "## Method", "",
        "- **old**: the previous backend. Routing by leading-slash regexes checked in order "
        "`^/python`, `^/java`, `^/js`, `^/net`, `^/rust` (no word boundary: `/javascript` goes "
        "to Java, `/netflix` and `/network` to .NET; `/csharp` matches nothing); no slash "
        "command: no answer (its routing score still counts \"no language\" as right for the "
        "questions that name none). One whole README per package, embedded with MiniLM (it reads "
        "the first 256 word pieces), top-1 in the routed language, nothing below cosine 0.75 "
        "(its best cosine on these questions is 0.24-0.61, median 0.44).",
        "- **bm25-readme**: BM25 over whole READMEs (fastembed `Qdrant/bm25` term weights with "
        "`avg_len` set to the READMEs' mean length, Qdrant's IDF over the routed languages), "
        "top 10 READMEs, with the default router's languages.",
        "- **dense**, **sparse**, **hybrid**: the chunk index searched one way (hybrid: "
        "reciprocal rank fusion of dense and BM25), packages in order of their first chunk "
        "among the top 60, with the default router's languages, the question as typed (no "
        "follow-up terms).",
        "- **default**: `AzureSdkRag.retrieve` as `azsdk-rag eval` calls it: the router, hybrid "
        "search, packages ranked by their chunks' fused scores (best chunk plus decayed others, "
        "at most two chunks each), a follow-up's previous turn's key terms added to the query.",
        "- Latencies are wall-clock; the scale runs use 100 questions spread over the file, "
        "the speed run all of them.",
        f"- Reproduce: `make bench` (this run: {timings.get('total', 0) / 60:.1f} min), or one "
        "part: "
        "`.venv/bin/python -m benchmarks.quality --index PATH` after "
        "`.venv/bin/python -m benchmarks.speed ingest --index PATH`.",
        "- Measurements taken by hand outside this run, to look into a goal or a change, are "
        "kept with their dates in [NOTES.md](NOTES.md); this report rewrites itself each run.",
        ""]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines), "utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=SHARED / "eval" / "questions.jsonl")
    parser.add_argument("--real", type=Path, default=SHARED / "eval" / "real-questions.jsonl",
                        help="real developers' posts, reported in a section of their own")
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--no-socket", dest="socket", action="store_false",
                        help="skip the socket adapters' benchmark")
    parser.add_argument("--index", type=Path,
                        help="an index already ingested from --corpus: skip the ingest step "
                        "(the report keeps an earlier run's ingest.json)")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild REPORT.md and the plots from the JSON files in --out")
    args = parser.parse_args(argv)
    if not args.report_only:
        run(args)
    path = write_report(args.out)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
