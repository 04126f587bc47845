"""The retriever: query -> best chunks of the routed languages, diverse across packages.

``AzureSdkRetriever`` is a LangChain ``BaseRetriever`` over a :mod:`search` backend (Qdrant with a
``metadata.language`` filter on a server, the in-process engine on the embedded store). It fetches
more chunks than it returns, ranks packages by their chunks' fused scores, and keeps at most a few
chunks per package, so the model sees several candidate READMEs instead of one README's sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from .embeddings import Embedders
from .ingest.chunking import README_KEY
from .search import Hits, SearchBackend, embed_query
from .tokens import encoding
from .types import Source

PACKAGE_DECAY = 0.5  # weight of a package's 2nd, 3rd ... chunk in its score


def rank_packages(hits: Hits) -> list[tuple[tuple[str, str], float, list[tuple[Document, float]]]]:
    """Group chunk hits by (language, package); a package scores its best chunk plus decayed others.

    A README that answers a question usually matches in several sections; summing with decay
    rewards that without letting one long README drown the rest.
    """
    groups: dict[tuple[str, str], list[tuple[Document, float]]] = {}
    for doc, score in hits:
        key = (doc.metadata.get("language", ""), doc.metadata.get("package", ""))
        groups.setdefault(key, []).append((doc, score))
    ranked = []
    for key, items in groups.items():
        items.sort(key=lambda pair: pair[1], reverse=True)
        total = sum(score * PACKAGE_DECAY**i for i, (_doc, score) in enumerate(items[:3]))
        ranked.append((key, total, items))
    ranked.sort(key=lambda entry: entry[1], reverse=True)
    return ranked


def diversify(hits: Hits, k: int, max_per_package: int) -> list[Document]:
    """Top ``k`` chunks, packages in rank order, at most ``max_per_package`` chunks each.

    The best package gets its full share first (its second chunk is usually the code sample
    the answer needs); the others then get one chunk each, round after round.
    """
    ranked = rank_packages(hits)
    picks: list[tuple[float, float, Document]] = []

    def take(package_score: float, doc: Document, score: float) -> None:
        meta = {key: value for key, value in doc.metadata.items() if key != README_KEY}
        picks.append((package_score, score, Document(
            page_content=doc.page_content,
            metadata={**meta, "score": round(score, 6),
                      "package_score": round(package_score, 6)})))

    if ranked:
        _key, package_score, items = ranked[0]
        for doc, score in items[:min(max_per_package, k)]:
            take(package_score, doc, score)
    for depth in range(max_per_package):
        for position, (_key, package_score, items) in enumerate(ranked):
            if position == 0 or depth >= len(items) or len(picks) >= k:
                continue
            take(package_score, *items[depth])
        if len(picks) >= k:
            break
    picks.sort(key=lambda p: (-p[0], -p[1]))
    return [doc for _ps, _s, doc in picks]


class AzureSdkRetriever(BaseRetriever):
    """README chunks for a query, restricted to ``languages`` (empty: all languages).

    ``invoke(query, k=..., languages=..., package=...)`` overrides per call; with ``package``
    only that package's chunks come back (up to ``k`` of them, best first).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: Any = Field(description="A search backend (see azsdk_rag.search).")
    embedders: Any = Field(description="The embedders the index was built with.")
    languages: tuple[str, ...] = ()
    k: int = 5
    fetch_k: int = 60
    max_per_package: int = 2
    mode: str = "hybrid"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        languages: Sequence[str] = kwargs.get("languages", self.languages) or ()
        package: str | None = kwargs.get("package")
        embedders: Embedders = self.embedders
        backend: SearchBackend = self.backend
        q = embed_query(embedders, query, self.mode)
        fetch = max(self.fetch_k, k)
        while True:
            found = backend.search(q, tuple(languages), fetch, self.mode)
            hits = [h for h in found if h[0].metadata.get("package") == package] \
                if package else found
            docs = diversify(hits, k, k if package else self.max_per_package)
            if len(docs) >= k or len(found) < fetch:  # enough, or nothing more to fetch
                return docs
            fetch *= 4


def to_sources(docs: Sequence[Document]) -> list[Source]:
    """One Source per README, in order of first appearance."""
    seen: dict[tuple[str, str], Source] = {}
    for doc in docs:
        m = doc.metadata
        key = (m.get("language", ""), m.get("package", ""))
        if key not in seen:
            seen[key] = Source(language=key[0], package=key[1], title=m.get("title", ""),
                               url=m.get("url", ""), score=float(m.get("package_score", 0.0)),
                               section=m.get("section", ""))
    return list(seen.values())


def format_context(docs: Sequence[Document], budget_tokens: int) -> str:
    """Numbered README excerpts within a token budget, each with package, section and URL."""
    enc = encoding()
    parts: list[str] = []
    used = 0
    for n, doc in enumerate(docs, 1):
        m = doc.metadata
        fields = [("package", m.get("package")), ("language", m.get("language")),
                  ("version", m.get("version")), ("group", m.get("group")),
                  ("section", m.get("section") or "Overview")]
        head = (f"[{n}] {m.get('title', '')}"
                + "".join(f" | {key}: {value}" for key, value in fields if value)
                + f"\nREADME: {m.get('url', '')}\n")
        body = doc.page_content.split("\n\n", 1)[-1]  # the chunk's own header repeats the head
        block = f"{head}{body}\n"
        size = len(enc.encode(block, disallowed_special=()))
        if used + size > budget_tokens:
            room = budget_tokens - used - len(enc.encode(head, disallowed_special=())) - 8
            if room < 50:
                break
            body_tokens = enc.encode(body, disallowed_special=())[:room]
            block = f"{head}{enc.decode(body_tokens)}\n[...]\n"
            size = budget_tokens - used
        parts.append(block)
        used += size
    return "\n".join(parts)
