"""Question files -> routing accuracy, hit@1, hit@k, MRR and latency of route + retrieve.

The scoring follows ``shared/eval/README.md``: retrieved chunks are reduced to distinct
(language, package) pairs in rank order; a pair hits when its package is expected and, for routed
questions, its language is one of the expected languages.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from langchain_core.documents import Document

from .errors import SourceError
from .types import Route

Retrieve = Callable[[Route, list[dict[str, str]], int], list[Document]]
RouteFn = Callable[[str, list[dict[str, str]]], Route]


class Measured(Protocol):
    """What eval measures of a RAG (:class:`azsdk_rag.rag.AzureSdkRag`): its router and the
    retrieval of its language chains."""

    def route(self, question: str, history: Any = None) -> Route: ...

    def retrieve(self, route: Route, history: Any = None, k: int | None = None,
                 use_llm: bool | None = None) -> list[Document]: ...


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    languages: tuple[str, ...]
    packages: tuple[str, ...]
    history: list[dict[str, str]] = field(default_factory=list)
    tags: tuple[str, ...] = ()


def load_questions(path: Path) -> list[Question]:
    """Read a question file (JSON lines), with a clear error for a bad line."""
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"Cannot read question file {path}: {exc.strerror or exc}.") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(Question(
                id=str(row.get("id", f"line-{n}")), question=str(row["question"]),
                languages=tuple(sorted(row.get("languages", []))),
                packages=tuple(row.get("packages", [])), history=list(row.get("history", [])),
                tags=tuple(row.get("tags", [])),
            ))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise SourceError(f"{path}:{n}: not a question line ({exc}).") from None
    if not out:
        raise SourceError(f"{path} holds no questions.")
    return out


def distinct_packages(docs: Sequence[Document]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for doc in docs:
        key = (doc.metadata.get("language", ""), doc.metadata.get("package", ""))
        if key not in seen:
            seen.append(key)
    return seen


def first_hit(q: Question, ranked: Sequence[tuple[str, str]]) -> int | None:
    """1-based rank of the first expected package, or None."""
    for rank, (lang, pkg) in enumerate(ranked, 1):
        if pkg in q.packages and (not q.languages or lang in q.languages):
            return rank
    return None


def _metrics(rows: list[dict[str, Any]], k: int) -> dict[str, Any]:
    scored = [r for r in rows if r["packages"]]
    ranks = [r["rank"] for r in scored]
    lat = sorted(r["ms"] for r in rows)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else 0.0

    n = len(scored)
    return {
        "questions": len(rows),
        "retrieval_questions": n,
        "routing_accuracy": round(sum(r["route_ok"] for r in rows) / len(rows), 4),
        "hit_at_1": round(sum(1 for r in ranks if r == 1) / n, 4) if n else None,
        f"hit_at_{k}": round(sum(1 for r in ranks if r and r <= k) / n, 4) if n else None,
        **({"hit_at_5": round(sum(1 for r in ranks if r and r <= 5) / n, 4) if n else None}
           if k >= 5 else {}),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 4) if n else None,
        "latency_ms": {"p50": round(statistics.median(lat), 2) if lat else 0.0,
                       "p95": pct(0.95)},
    }


def evaluate(questions: Sequence[Question], route: RouteFn, retrieve: Retrieve,
             k: int = 5) -> dict[str, Any]:
    """Run every question through the router and the retriever; aggregate the metrics."""
    rows: list[dict[str, Any]] = []
    for q in questions:
        start = time.perf_counter()
        r = route(q.question, q.history)
        docs = retrieve(r, q.history, k) if q.packages else []
        ms = (time.perf_counter() - start) * 1000
        ranked = distinct_packages(docs)[:k]
        rows.append({
            "id": q.id, "question": q.question, "expected": list(q.languages),
            "routed": list(r.languages), "route_ok": tuple(r.languages) == q.languages,
            "reason": r.reason, "packages": list(q.packages), "retrieved": [p for _, p in ranked],
            "rank": first_hit(q, ranked), "ms": ms, "tags": list(q.tags),
        })
    result = _metrics(rows, k)
    by_language: dict[str, list[dict[str, Any]]] = {}
    by_tag: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for lang in row["expected"] or ["none"]:
            by_language.setdefault(lang, []).append(row)
        for tag in row["tags"]:
            by_tag.setdefault(tag, []).append(row)
    result["k"] = k
    result["by_language"] = {key: _metrics(v, k) for key, v in sorted(by_language.items())}
    result["by_tag"] = {key: _metrics(v, k) for key, v in sorted(by_tag.items())}
    result["misses"] = [
        {key: row[key] for key in ("id", "question", "expected", "routed", "reason", "packages",
                                    "retrieved")}
        for row in rows if not row["route_ok"] or (row["packages"] and not row["rank"])
    ]
    return result


def evaluate_rag(rag: Measured, questions: Sequence[Question], k: int = 5) -> dict[str, Any]:
    """:func:`evaluate` of a RAG as it answers: its router, and what its language chains
    retrieve (``rag.retrieve``: a replaced chain or retriever is what is measured), ``2 * k``
    chunks deep so that ``k`` distinct packages can be ranked, follow-ups without an LLM.

        result = evaluate_rag(rag, load_questions(Path("questions.jsonl")))
        result["hit_at_1"]
    """
    def retrieve(route: Route, history: list[dict[str, str]], depth: int) -> list[Document]:
        return rag.retrieve(route, history, k=depth * 2, use_llm=False)

    return evaluate(questions, lambda q, h: rag.route(q, h), retrieve, k)


def warm_up(rag: Measured) -> None:
    """Load the models and the index before anything is timed."""
    rag.retrieve(rag.route("warm up"), k=1)


def _header(k: int, width: int) -> list[str]:
    head = f"{'':<{width}}{'n':>5}{'route':>8}{'hit@1':>8}{f'hit@{k}':>8}{'MRR':>8}{'p50 ms':>9}"
    return [head, "-" * len(head)]


def _row(name: str, m: dict[str, Any], k: int, width: int) -> str:
    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.3f}"
    return (f"{name:<{width}}{m['questions']:>5}{f(m['routing_accuracy']):>8}"
            f"{f(m['hit_at_1']):>8}{f(m[f'hit_at_{k}']):>8}{f(m['mrr']):>8}"
            f"{m['latency_ms']['p50']:>9.1f}")


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of the overall, per-language and per-tag metrics."""
    k = result["k"]
    lines = _header(k, 14)

    def row(name: str, m: dict[str, Any]) -> str:
        return _row(name, m, k, 14)

    lines.append(row("all", result))
    for name, m in result["by_language"].items():
        lines.append(row(name, m))
    for name, m in result["by_tag"].items():
        lines.append(row(f"#{name}", m))
    return "\n".join(lines)


def format_files_table(results: dict[str, dict[str, Any]]) -> str:
    """One table for several question files: a row per file (its name), the same columns.

    Example: ``format_files_table({"questions": r1, "real-questions": r2})``.
    """
    if not results:
        return ""
    k = next(iter(results.values()))["k"]
    width = max(14, *(len(name) + 2 for name in results))
    lines = _header(k, width)
    lines += [_row(name, result, k, width) for name, result in results.items()]
    return "\n".join(lines)


def file_labels(paths: Sequence[Path]) -> list[str]:
    """Short, distinct row names for question files: the file name without ``.jsonl``, or the
    whole path where two names clash."""
    stems = [Path(p).name.removesuffix(".jsonl") for p in paths]
    return [stem if stems.count(stem) == 1 else str(p) for stem, p in zip(stems, paths,
                                                                         strict=True)]
