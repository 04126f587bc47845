"""The retrieval systems the benchmark compares, and the setup every benchmark script shares.

Each system turns a question (and its chat history) into a route and a ranked list of README
chunks or whole READMEs, as LangChain ``Document``s with ``language`` and ``package`` metadata, so
that :func:`azsdk_rag.evaluation.evaluate` scores all of them by the same rules:

- ``old``: the previous backend. Leading-slash regexes with their bugs (no word boundary, ``/java``
  tested before ``/js``: "/javascript" is Java, "/netflix" is .NET; no ``/csharp``; no slash: no
  answer), one whole README per package embedded densely (MiniLM reads its first 256 word pieces),
  top-1 only, nothing below a cosine of 0.75.
- ``old-no-threshold``: the same without the threshold, to show what the threshold costs.
- ``bm25-readme``: BM25 (fastembed ``Qdrant/bm25``, Qdrant's IDF) over whole READMEs.
- ``dense``, ``sparse``, ``hybrid``: the chunk index searched one way, packages in order of their
  first chunk, no package aggregation, no follow-up handling.
- ``default``: ``AzureSdkRag.retrieve`` exactly as ``azsdk-rag eval`` calls it (router, hybrid
  search, per-package aggregation, a follow-up's key terms).

``bm25-readme`` to ``hybrid`` use the default router's languages, so they differ from ``default``
only in what is retrieved and how it is ranked.
"""

from __future__ import annotations

import copy
import math
import os
import re
import resource
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AZSDK_RAG_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
QUESTIONS = SHARED / "eval" / "questions.jsonl"
DEEP = 10  # distinct packages every system ranks: enough for hit@k, k = 1..10

if str(SHARED / "tiktoken") and (SHARED / "tiktoken").is_dir():
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHARED / "tiktoken"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage  # noqa: E402

from azsdk_rag.settings import Settings  # noqa: E402
from azsdk_rag.types import Route  # noqa: E402

# -- shared by the benchmark scripts -------------------------------------------------------------


def bench_settings(index: Path | str, **overrides: Any) -> Settings:
    """The library's defaults on an embedded store at ``index``, offline, extractive model.

    The server URL is cleared explicitly, so a developer's AZSDK_RAG_QDRANT_URL never sends the
    benchmark to a server.
    """
    models = SHARED / "models"
    base: dict[str, Any] = {
        "qdrant_path": str(index), "qdrant_url": None, "llm": "extractive",
        "model_dir": models if models.is_dir() else None,
    }
    return Settings(**(base | overrides))


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mib() -> float:
    """Current resident set size of this process."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """p50/p95/p99 (nearest rank on the sorted values), rounded to 0.01."""
    if not values:
        return {f"p{q:g}": float("nan") for q in qs}
    ordered = sorted(values)
    out = {}
    for q in qs:
        idx = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
        out[f"p{q:g}"] = round(ordered[idx], 2)
    out["mean"] = round(statistics.fmean(ordered), 2)
    return out


def messages_of(history: Sequence[dict[str, str]]) -> list[BaseMessage]:
    """Chat history dicts as LangChain messages (what ``azsdk-rag eval`` hands the retriever)."""
    from azsdk_rag.router import normalise_history

    return [HumanMessage(t) if r == "user" else AIMessage(t) for r, t in normalise_history(history)]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {"cores": os.cpu_count(), "python": sys.version.split()[0],
            "load_average_1m": round(os.getloadavg()[0], 2)}


# -- the systems ----------------------------------------------------------------------------------

RouteFn = Callable[[str, list[dict[str, str]]], Route]
RankFn = Callable[[Route, list[dict[str, str]]], list[Document]]


@dataclass
class System:
    """A name, a router and a ranker: ``rank(route, history)`` returns documents best first."""

    key: str
    label: str
    route: RouteFn
    rank: RankFn


# The previous backend's router, bugs included: first match wins, no word boundary.
OLD_ROUTES = ((r"^/python", "python"), (r"^/java", "java"), (r"^/js", "javascript"),
              (r"^/net", "dotnet"), (r"^/rust", "rust"))
OLD_THRESHOLD = 0.75
OLD_MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2


def old_route(question: str, history: Sequence[dict[str, str]] = ()) -> Route:
    """Leading-slash regexes only: "/javascript" -> java, "/netflix" -> dotnet, no slash -> none."""
    for pattern, language in OLD_ROUTES:
        m = re.match(pattern, question)
        if m:
            return Route((language,), question[m.end():].strip(), "slash", f"regex {pattern}")
    return Route((), question, "none", "no slash command: no answer")


def _readme_docs(readmes: Sequence[Document]) -> list[Document]:
    return [Document(page_content="", metadata={"language": d.metadata["language"],
                                                "package": d.metadata["package"]})
            for d in readmes]


class OldDesign:
    """Whole READMEs, one dense vector each (first 256 word pieces), top-1 above 0.75."""

    def __init__(self, readmes: Sequence[Document], model_dir: Path | None,
                 model_name: str = "sentence-transformers/all-MiniLM-L6-v2",
                 threshold: float = OLD_THRESHOLD):
        from fastembed import TextEmbedding

        from azsdk_rag.embeddings import local_model_path

        path = local_model_path(model_dir, model_name)
        kwargs = {"specific_model_path": str(path), "local_files_only": True} if path else {}
        # A model instance of its own: the library's shared one is truncated at 128 word pieces.
        self.model = TextEmbedding(model_name, **kwargs)
        self.model.model.tokenizer.enable_truncation(max_length=OLD_MAX_TOKENS)
        self.threshold = threshold
        self.docs = _readme_docs(readmes)
        self.languages = np.array([d.metadata["language"] for d in readmes])
        matrix = np.asarray(list(self.model.embed([d.page_content for d in readmes],
                                                  batch_size=16)), dtype=np.float32)
        self.matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    def rank(self, route: Route, history: Sequence[dict[str, str]] = ()) -> list[Document]:
        if not route.languages:
            return []  # the old backend answered nothing without a slash command
        vector = next(iter(self.model.query_embed(route.query or " ")))
        vector = vector / (np.linalg.norm(vector) or 1.0)
        scores = self.matrix @ vector
        scores[~np.isin(self.languages, route.languages)] = -np.inf
        best = int(np.argmax(scores))
        return [self.docs[best]] if scores[best] >= self.threshold else []


class ReadmeBM25:
    """BM25 over whole READMEs: fastembed's document weights, Qdrant's IDF, exact numpy scoring.

    ``avg_len`` is set to the READMEs' mean length (fastembed assumes 256, a chunk's length), so
    long READMEs are not penalised beyond what BM25 intends.
    """

    def __init__(self, readmes: Sequence[Document], model_dir: Path | None):
        from fastembed import SparseTextEmbedding

        from azsdk_rag.embeddings import local_model_path
        from azsdk_rag.ingest.chunking import embedding_view

        texts = [embedding_view(d.page_content) for d in readmes]
        path = local_model_path(model_dir, "Qdrant/bm25")
        kwargs = {"specific_model_path": str(path), "local_files_only": True} if path else {}
        probe = SparseTextEmbedding("Qdrant/bm25", **kwargs).model
        try:  # |d| as fastembed counts it: tokens left after stop words, stemmed
            from fastembed.common.utils import remove_non_alphanumeric

            lengths = [len(probe._stem(probe.tokenizer.tokenize(remove_non_alphanumeric(t))))
                       for t in texts]
        except (AttributeError, ImportError):  # another fastembed: count raw tokens instead
            lengths = [probe.token_count(t) for t in texts]
        avg_len = max(1.0, statistics.fmean(lengths))
        self.model = SparseTextEmbedding("Qdrant/bm25", avg_len=avg_len, **kwargs)
        self.avg_len = avg_len
        self.docs = _readme_docs(readmes)
        self.languages = np.array([d.metadata["language"] for d in readmes])
        self.postings: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        raw: dict[int, tuple[list[int], list[float]]] = {}
        for row, vec in enumerate(self.model.embed(texts, batch_size=64)):
            for term, value in zip(vec.indices.tolist(), vec.values.tolist(), strict=True):
                entry = raw.setdefault(term, ([], []))
                entry[0].append(row)
                entry[1].append(value)
        self.postings = {t: (np.asarray(r), np.asarray(v, dtype=np.float32))
                         for t, (r, v) in raw.items()}

    def rank(self, route: Route, history: Sequence[dict[str, str]] = (),
             depth: int = DEEP) -> list[Document]:
        mask = (np.isin(self.languages, route.languages) if route.languages
                else np.ones(len(self.docs), dtype=bool))
        total = int(mask.sum())
        query = next(iter(self.model.query_embed(route.query or " ")))
        scores = np.zeros(len(self.docs), dtype=np.float32)
        for term, value in zip(query.indices.tolist(), query.values.tolist(), strict=True):
            if term not in self.postings:
                continue
            rows, vals = self.postings[term]
            n = int(mask[rows].sum())
            idf = math.log((total - n + 0.5) / (n + 0.5) + 1.0)  # Qdrant's IDF modifier
            scores[rows] += vals * value * idf
        scores[~mask] = 0.0
        nonzero = np.flatnonzero(scores)
        best = nonzero[np.argsort(-scores[nonzero], kind="stable")[:depth]]
        return [self.docs[i] for i in best]


class ChunkSearch:
    """The chunk index searched one way (dense, sparse or hybrid RRF), no package aggregation.

    Packages come in the order of their first chunk among the top ``fetch`` chunks (the same 60
    the default retriever fetches), which is a generous reading for a plain top-k retriever.
    """

    def __init__(self, backend: Any, embedders: Any, mode: str, fetch: int = 60):
        self.backend = backend
        self.embedders = embedders
        self.mode = mode
        self.fetch = fetch

    def rank(self, route: Route, history: Sequence[dict[str, str]] = ()) -> list[Document]:
        from azsdk_rag.search import embed_query

        query = embed_query(self.embedders, route.query, self.mode)
        return [doc for doc, _ in self.backend.search(query, route.languages, self.fetch,
                                                      self.mode)]


def default_rank(rag: Any, chunks: int = 2 * DEEP) -> RankFn:
    """``AzureSdkRag.retrieve`` as ``azsdk-rag eval`` calls it (no LLM), deep enough for hit@10.

    The eval command asks for ``2 * k`` chunks; at most two chunks per package means the first
    ``k`` distinct packages are the same for any deeper request (packages come in score order).
    """

    def rank(route: Route, history: Sequence[dict[str, str]] = ()) -> list[Document]:
        return rag.retrieve(route, messages_of(history), k=chunks, use_llm=False)

    return rank


def build_systems(rag: Any, readmes: Sequence[Document], model_dir: Path | None) -> list[System]:
    """Every system, sharing one chunk index (``rag``'s store) and one README list."""
    from azsdk_rag.search import make_backend

    def new_route(q: str, h: list[dict[str, str]]) -> Route:
        return rag.route(q, h)

    backend = make_backend(rag.store, rag.embedders)
    old = OldDesign(readmes, model_dir)
    bm25 = ReadmeBM25(readmes, model_dir)
    unlimited = copy.copy(old)
    unlimited.threshold = -1.0
    return [
        System("old", "old design (slash regex, whole README, dense top-1 >= 0.75)",
               old_route, old.rank),
        System("old-no-threshold", "the old design without its 0.75 threshold", old_route,
               unlimited.rank),
        System("bm25-readme", "BM25 over whole READMEs", new_route, bm25.rank),
        System("dense", "dense chunks", new_route,
               ChunkSearch(backend, rag.embedders, "dense").rank),
        System("sparse", "BM25 chunks", new_route,
               ChunkSearch(backend, rag.embedders, "sparse").rank),
        System("hybrid", "hybrid chunks (RRF, first occurrence)", new_route,
               ChunkSearch(backend, rag.embedders, "hybrid").rank),
        System("default", "default: hybrid + package aggregation + follow-up terms", new_route,
               default_rank(rag)),
    ]
