"""The retriever: query -> best chunks of the routed languages, diverse across packages.

``AzureSdkRetriever`` is a LangChain ``BaseRetriever`` over a :mod:`search` backend (Qdrant with a
``metadata.language`` filter on a server, the in-process engine on the embedded store). It fetches
more chunks than it returns, ranks packages by their chunks' fused scores, and keeps at most a few
chunks per package, so the model sees several candidate READMEs instead of one README's sections.

Real questions are noisier than search queries, so before and after the search:

- **Focus** (:func:`focus`): a long post (a pasted listing or stack trace) is embedded densely on
  its title and question sentences only (the dense model reads 128 word pieces); BM25 reads the
  whole text.
- **Evidence** (:func:`package_bonus`): a package gains score when the question names it
  (``azure-mgmt-compute``, ``@azure/arm-storage``, ``Azure.ResourceManager``) or shows an
  identifier that only a few READMEs' code shows (``ComputeManagementClient``, the index's
  identifier table, :mod:`azsdk_rag.evidence`).
- **Management plane** (:func:`is_management`, :func:`management_bonus`): a question about
  managing resources searches once more with resource-manager words, and the management
  package whose service it names gains score.
- **Cross-cutting topics** (:func:`topics`): retries, proxies, timeouts, HTTP transport, mocking,
  logging and credentials are answered by each language's core, logger and identity READMEs
  (:attr:`Language.support_packages`); such a README is lifted level with the best package
  (second place, or first where its best chunk is better), one per routed language.
- **Sources** (:func:`to_sources`): an answer lists a README only when its package score is at
  least :data:`SOURCE_FLOOR` of the best one's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from .context import format_context as format_context  # its home is context.py; older imports
from .embeddings import Embedders
from .evidence import PackageEvidence, current, identifiers
from .ingest.chunking import README_KEY
from .languages import LANGUAGES
from .search import Hits, Query, SearchBackend
from .types import Source

PACKAGE_DECAY = 0.5  # weight of a package's 2nd, 3rd ... chunk in its score
SOURCE_FLOOR = 0.75
"""A source is listed only when its package score is at least this share of the best one's."""
SPLIT_IDENTIFIERS = True
"""BM25 also reads a question's code identifiers as words (``downloadToBuffer`` -> ``download to
buffer``): the READMEs' prose says what their code names."""
SPLIT_DENSE = True
FOCUS_WORDS = 60
"""Posts longer than this (in words, code left out) are embedded on their question sentences."""
IDENTIFIER_BOOST = 1.0
"""BM25 weight of a query's code identifiers relative to its other words (1: off; 1.5 and 2 cost
hit@1 on the public set and gained nothing on the real posts)."""
NAME_BONUS = 0.03
"""Score a package gains when the question spells its name (fused scores are ~0.03 per list)."""
IDENT_BONUS = 0.008
"""Score shared by the few packages (at most :data:`IDENT_MAX_PACKAGES`) whose README code shows
an identifier of the question."""
IDENT_MAX_PACKAGES = 5
MGMT_BONUS = 0.03
"""Score a management-plane package gains when a management question names its service."""
MGMT_TERMS = "management resourcemanager mgmt arm"
"""Added to a management question's second search, so resource-manager READMEs are among the
candidates even when data-plane READMEs of the same service fill the first search."""

MANAGEMENT = re.compile(
    r"\bmgmt\b|\bmanagement (?:client|plane|libs?|librar(?:y|ies)|sdk|api|package)|"
    r"ManagementClient\b|\bArmClient\b|\bResourceManager\b|\bresource[- ]?manager\b|"
    r"\bresource groups?\b|\bsubscription[ _-]?id\b|\barm-\w|\bARM\b|\bprovision|"
    r"\b(?:create|creating|delete|deleting|list|listing|deploy|deploying|manage|manages|managing|"
    r"provision)\s+(?:an?\s+|the\s+|all\s+(?:the\s+)?|my\s+)?(?:new\s+)?"
    r"(?:storage accounts?|vms?|virtual machines?|key ?vaults?|namespaces?|clusters?|"
    r"web ?apps?|app services?|databases?|accounts?|resources?)\b",
    re.IGNORECASE)
_MGMT_PREFIX = re.compile(r"^(?:azure-mgmt-|@azure(?:-rest)?/arm-|Azure\.ResourceManager\.?|"
                          r"azure-resourcemanager-?)", re.IGNORECASE)
_SERVICE_ALIASES = {"compute": r"\bvms?\b|\bvirtual machines?\b",
                    "resource": r"\bresource groups?\b|\bresources\b",
                    "resources": r"\bresource groups?\b|\bresources\b"}

_FENCE = re.compile(r"(?:```|~~~)[^\n]*\n.*?(?:```|~~~|\Z)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_QUESTION = re.compile(
    r"\?|^\s*(?:how|is|are|can|could|what|why|does|do|where|which|should|would|when|any|i want|"
    r"i need|i would like|we need|we want|is there)\b", re.IGNORECASE)
_TRACE = re.compile(r"^\s*(?:at\s+[\w.$<>]+\(|File \"|Traceback|Caused by:|\w+(?:\.\w+)+:\d+)")
TOPICS: dict[str, re.Pattern[str]] = {
    "logging": re.compile(
        r"\blog(?:s|ging|ger|level)?\b|\bdebug(?:ging)? (?:output|logs?|http)|\bverbose\b|"
        r"\bhttp (?:requests?|calls?) (?:going out|made)|\bsilence\b|\bnoisy\b|\bILogger\b",
        re.IGNORECASE),
    "core": re.compile(
        r"\bretr(?:y|ies|ying)\b|\bbackoff\b|\bproxy\b|\btime ?outs?\b|\btimed out\b|"
        r"\bhttp ?client\b|\btransport\b|\bpipeline polic|\bmock(?:s|ing|ed)?\b|\bMoq\b|"
        r"\bunit tests?\b|\buser-agent\b|\bpageable\b|\bpaging\b|\bCA bundle\b",
        re.IGNORECASE),
    "identity": re.compile(
        r"\bcredentials?\b|\bmanaged identity\b|\bworkload identity\b|\bservice principal\b|"
        r"\bclient secret\b|\baz login\b|\bauthenticat", re.IGNORECASE),
}


Ranked = list[tuple[tuple[str, str], float, list[tuple[Document, float]]]]


def rank_packages(hits: Hits, bonus: dict[tuple[str, str], float] | None = None) -> Ranked:
    """Group chunk hits by (language, package); a package scores its best chunk plus decayed others.

    A README that answers a question usually matches in several sections; summing with decay
    rewards that without letting one long README drown the rest. ``bonus`` adds evidence from
    the question itself (see :func:`package_bonus`).
    """
    groups: dict[tuple[str, str], list[tuple[Document, float]]] = {}
    for doc, score in hits:
        key = (doc.metadata.get("language", ""), doc.metadata.get("package", ""))
        groups.setdefault(key, []).append((doc, score))
    ranked = []
    for key, items in groups.items():
        items.sort(key=lambda pair: pair[1], reverse=True)
        total = sum(score * PACKAGE_DECAY**i for i, (_doc, score) in enumerate(items[:3]))
        ranked.append((key, total + (bonus or {}).get(key, 0.0), items))
    ranked.sort(key=lambda entry: entry[1], reverse=True)
    return ranked


def diversify(hits: Hits, k: int, max_per_package: int,
              ranked: Ranked | None = None) -> list[Document]:
    """Top ``k`` chunks, packages in rank order, at most ``max_per_package`` chunks each.

    The best package gets its full share first (its second chunk is usually the code sample
    the answer needs); the others then get one chunk each, round after round.
    """
    ranked = rank_packages(hits) if ranked is None else ranked
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


# -- the question's own evidence --------------------------------------------------------------


def _prose(text: str) -> str:
    """``text`` without fenced code, inline code and stack-trace lines."""
    text = _FENCE.sub(" ", text)
    text = _INLINE.sub(" ", text)
    return "\n".join(line for line in text.splitlines() if not _TRACE.match(line))


def focus(text: str) -> tuple[str, str]:
    """``(dense text, BM25 text)`` of a question.

    A short question is searched as it is. A long post is embedded densely on its first
    sentence (the title) and its question sentences, code left out; BM25 reads every word.
    """
    prose = _prose(text)
    if len(prose.split()) <= FOCUS_WORDS and len(text.split()) <= 2 * FOCUS_WORDS:
        return text, text
    sentences = [s.strip() for s in _SENTENCE.findall(prose) if len(s.split()) >= 2]
    if not sentences:
        return text, text
    picked = [sentences[0]] + [s for s in sentences[1:] if _QUESTION.search(s)]
    return " ".join(dict.fromkeys(picked)), text


def embed_focused(embedders: Embedders, text: str, mode: str) -> Query:
    """The query's vectors: dense on :func:`focus`'s text, BM25 on the whole text with its code
    identifiers weighted :data:`IDENTIFIER_BOOST` times."""
    dense_text, sparse_text = focus(text)
    words = split_identifiers(text) if SPLIT_IDENTIFIERS else ""
    if words:
        sparse_text = f"{sparse_text} {words}"
        if SPLIT_DENSE:
            dense_text = f"{dense_text} {words}"
    dense = embedders.dense.embed_query(dense_text) if mode in ("dense", "hybrid") else None
    sparse = None
    if mode in ("sparse", "hybrid"):
        vec = embedders.sparse.embed_query(sparse_text)
        indices, values = list(vec.indices), [float(v) for v in vec.values]
        idents = identifiers(sparse_text)
        if idents and IDENTIFIER_BOOST != 1.0:
            boosted = set(embedders.sparse.embed_query(" ".join(sorted(idents))).indices)
            values = [v * IDENTIFIER_BOOST if i in boosted else v
                      for i, v in zip(indices, values, strict=True)]
        sparse = (indices, values)
    return Query(text, dense, sparse)


_HUMP = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def split_identifiers(text: str) -> str:
    """The words inside ``text``'s camelCase, PascalCase and snake_case identifiers, once each:
    ``MessageText`` -> ``Message Text``."""
    words: dict[str, None] = {}
    for ident in sorted(identifiers(text)):
        parts = _HUMP.findall(ident)
        if len(parts) > 1:
            for part in parts:
                words.setdefault(part.lower())
    return " ".join(words)


_TOKEN = re.compile(r"[@\w][\w.@/-]*")


def spelled_names(text: str) -> set[str]:
    """The package-name-shaped words of ``text``, lower-case, trailing dots and dashes cut
    (``Azure.Storage.Blobs.`` -> ``azure.storage.blobs``)."""
    return {m.group(0).rstrip(".-/").lower() for m in _TOKEN.finditer(text)}


def package_bonus(query: str, hits: Hits, evidence: PackageEvidence | None,
                  languages: Sequence[str]) -> dict[tuple[str, str], float]:
    """Extra score per (language, package) from what the question itself shows: the package's
    name spelled out, and identifiers that only a few READMEs' code shows."""
    bonus: dict[tuple[str, str], float] = {}
    keys = {(d.metadata.get("language", ""), d.metadata.get("package", "")) for d, _ in hits}
    spelled = spelled_names(query)
    for key in keys:
        if key[1] and key[1].lower() in spelled:
            bonus[key] = bonus.get(key, 0.0) + NAME_BONUS
    if evidence:
        for ident in evidence.known(query):
            owners = [k for k in evidence.packages_of(ident)
                      if not languages or k[0] in languages]
            if not owners or len(owners) > IDENT_MAX_PACKAGES:
                continue
            for key in owners:
                bonus[key] = bonus.get(key, 0.0) + IDENT_BONUS / len(owners)
    return bonus


def is_management(query: str) -> bool:
    """Whether a question is about managing Azure resources (the management plane)."""
    return MANAGEMENT.search(query) is not None


def service_words(package: str) -> list[str]:
    """The service a management package manages, as words: ``azure-mgmt-compute`` ->
    ``["compute"]``, ``@azure/arm-postgresql-flexible`` -> ``["postgresql", "flexible"]``;
    the resource manager itself (``Azure.ResourceManager``) -> ``["resource"]``."""
    tail = _MGMT_PREFIX.sub("", package)
    if tail == package:
        return []
    words = [w.lower() for w in re.split(r"[-._]", tail) if w.isalpha() and len(w) >= 3]
    return words or ["resource"]


def _names_service(words: Sequence[str], query: str) -> bool:
    for word in words:
        alias = _SERVICE_ALIASES.get(word)
        if not (re.search(rf"\b{re.escape(word)}", query, re.IGNORECASE)
                or (alias and re.search(alias, query, re.IGNORECASE))):
            return False
    return bool(words)


def management_bonus(query: str, hits: Hits) -> dict[tuple[str, str], float]:
    """:data:`MGMT_BONUS` for each management package whose service a management question
    names (``create a storage account`` -> ``azure-mgmt-storage``, ``@azure/arm-storage``)."""
    if not is_management(query):
        return {}
    bonus: dict[tuple[str, str], float] = {}
    for doc, _score in hits:
        m = doc.metadata
        key = (m.get("language", ""), m.get("package", ""))
        if key in bonus or m.get("plane") != "mgmt":
            continue
        if _names_service(service_words(key[1]), query):
            bonus[key] = MGMT_BONUS
    return bonus


def topics(query: str) -> list[str]:
    """The cross-cutting topics of a question (``logging``, ``core``, ``identity``)."""
    return [name for name, pattern in TOPICS.items() if pattern.search(query)]


def lift_support(ranked: Ranked, query: str, languages: Sequence[str]) -> Ranked:
    """A cross-cutting question (see :data:`TOPICS`) routed to one or a few languages gets each
    language's support README (core, logger, identity) level with the best package, when it
    was retrieved (one language's at second place or first, where its best chunk is better;
    two languages' next to each other)."""
    if not languages or len(ranked) < 3:
        return ranked
    subjects = topics(query)
    wanted: list[tuple[str, str]] = []
    for language in languages:
        lang = LANGUAGES.get(language)
        if lang is not None:
            wanted += [(lang.id, p) for p in (lang.support_package(t) for t in subjects) if p]
    slot = 1
    for target in dict.fromkeys(wanted):
        position = next((i for i, (key, _s, _it) in enumerate(ranked) if key == target), None)
        if position is None:
            continue
        if position > slot:
            key, _score, items = ranked.pop(position)
            # level with the one above it: where the scores tie, the best chunk decides
            ranked.insert(slot, (key, ranked[slot - 1][1], items))
        slot += 1
        if slot >= len(ranked):
            break
    return ranked


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
        mgmt_q = _with_terms(embedders, q, MGMT_TERMS) if not package and is_management(query) \
            else None
        while True:
            found = backend.search(q, tuple(languages), fetch, self.mode)
            if package:
                hits = [h for h in found if h[0].metadata.get("package") == package]
                docs = diversify(hits, k, k)
            else:
                if mgmt_q is not None:
                    found = _union(found, backend.search(mgmt_q, tuple(languages), fetch,
                                                         self.mode))
                bonus = package_bonus(query, found, evidence, languages)
                for key, value in management_bonus(query, found).items():
                    bonus[key] = bonus.get(key, 0.0) + value
                ranked = lift_support(rank_packages(found, bonus), query, languages)
                docs = diversify(found, k, self.max_per_package, ranked)
            if len(docs) >= k or len(found) < fetch:  # enough, or nothing more to fetch
                return docs
            fetch *= 4


def _with_terms(embedders: Embedders, q: Query, terms: str) -> Query:
    """``q`` with ``terms`` added to its BM25 side only (the dense vector is reused)."""
    if q.sparse is None:
        return q
    vec = embedders.sparse.embed_query(f"{focus(q.text)[1]} {terms}")
    return Query(q.text, q.dense, (list(vec.indices), [float(v) for v in vec.values]))


def _union(first: Hits, second: Hits) -> Hits:
    """Both searches' hits, each chunk once with its better score."""
    best: dict[str, tuple[Document, float]] = {}
    for doc, score in [*first, *second]:
        key = doc.metadata.get("_id") or doc.page_content
        if key not in best or score > best[key][1]:
            best[key] = (doc, score)
    return sorted(best.values(), key=lambda pair: pair[1], reverse=True)


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
