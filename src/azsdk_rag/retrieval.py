"""The retriever: query -> best chunks of the routed languages, diverse across packages.

``AzureSdkRetriever`` is a LangChain ``BaseRetriever`` over a :mod:`search` backend (Qdrant with a
``metadata.language`` filter on a server, the in-process engine on the embedded store). It fetches
more chunks than it returns and hands them to its parts:

- **Focus** (:mod:`azsdk_rag.query_focus`): what of a long post each embedder reads.
- **Bonuses** (:mod:`azsdk_rag.bonuses`): package names and identifiers the question shows, the
  management service it names; a management question also searches once more with
  resource-manager words.
- **Ranking** (:mod:`azsdk_rag.ranking`): packages by their chunks' fused scores, support READMEs
  (core, logger, identity) lifted for cross-cutting questions, a few chunks per package.
- **Sources** (:func:`to_sources`): an answer lists a README only when its package score is at
  least :data:`SOURCE_FLOOR` of the best one's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from .bonuses import MGMT_TERMS, is_management, question_bonus
from .context import format_context as format_context  # its home is context.py; older imports
from .embeddings import Embedders
from .evidence import current
from .query_focus import embed_focused, with_terms
from .ranking import diversify, lift_support, rank_packages, union
from .search import SearchBackend
from .types import Source

SOURCE_FLOOR = 0.75
"""A source is listed only when its package score is at least this share of the best one's."""


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
    evidence: Any = None
    """The index's identifier table (``PackageEvidence`` or an ``EvidenceSource``), if any."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        languages: Sequence[str] = kwargs.get("languages", self.languages) or ()
        package: str | None = kwargs.get("package")
        embedders: Embedders = self.embedders
        backend: SearchBackend = self.backend
        q = embed_focused(embedders, query, self.mode)
        fetch = max(self.fetch_k, k)
        evidence = current(self.evidence)
        # a management question's second query is embedded once, not again each time fetch grows
        mgmt_q = with_terms(embedders, q, MGMT_TERMS) if not package and is_management(query) \
            else None
        while True:
            found = backend.search(q, tuple(languages), fetch, self.mode)
            if package:
                hits = [h for h in found if h[0].metadata.get("package") == package]
                docs = diversify(hits, k, k)
            else:
                if mgmt_q is not None:
                    found = union(found, backend.search(mgmt_q, tuple(languages), fetch,
                                                         self.mode))
                bonus = question_bonus(query, found, evidence, languages)
                ranked = lift_support(rank_packages(found, bonus), query, languages)
                docs = diversify(found, k, self.max_per_package, ranked)
            if len(docs) >= k or len(found) < fetch:  # enough, or nothing more to fetch
                return docs
            fetch *= 4


def to_sources(docs: Sequence[Document], floor: float = SOURCE_FLOOR) -> list[Source]:
    """One Source per README, in order of first appearance, leaving out READMEs whose package
    score is below ``floor`` times the best one's (they rode along to fill the context)."""
    seen: dict[tuple[str, str], Source] = {}
    for doc in docs:
        m = doc.metadata
        key = (m.get("language", ""), m.get("package", ""))
        if key not in seen:
            seen[key] = Source(language=key[0], package=key[1], title=m.get("title", ""),
                               url=m.get("url", ""), score=float(m.get("package_score", 0.0)),
                               section=m.get("section", ""))
    sources = list(seen.values())
    best = max((s.score for s in sources), default=0.0)
    if best <= 0:
        return sources
    return [s for s in sources if s.score >= floor * best]
