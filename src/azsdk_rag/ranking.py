"""Ranking: chunk hits -> packages in order -> the chunks handed on, diverse across packages.

A package scores its best chunk plus its next ones decayed (:func:`rank_packages`); a
cross-cutting question lifts each routed language's support README (:func:`lift_support`); the
chunks handed on keep at most a few per package (:func:`diversify`), so the model sees several
candidate READMEs instead of one README's sections.

    diversify(hits, k=5, max_per_package=2)  # the best package's 2 chunks, then 1 each
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from langchain_core.documents import Document

from .ingest.chunking import README_KEY
from .languages import LANGUAGES
from .search import Hits

PACKAGE_DECAY = 0.5  # weight of a package's 2nd, 3rd ... chunk in its score
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


def union(first: Hits, second: Hits) -> Hits:
    """Both searches' hits, each chunk once with its better score."""
    best: dict[str, tuple[Document, float]] = {}
    for doc, score in [*first, *second]:
        key = doc.metadata.get("_id") or doc.page_content
        if key not in best or score > best[key][1]:
            best[key] = (doc, score)
    return sorted(best.values(), key=lambda pair: pair[1], reverse=True)
