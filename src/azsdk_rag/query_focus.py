"""Query focus: what of a question each embedder reads.

Real questions are noisier than search queries. A long post (a pasted listing or stack trace) is
embedded densely on its title and question sentences only (the dense model reads 128 word pieces);
BM25 reads the whole text. Both also read the words inside the question's code identifiers
(``downloadToBuffer`` -> ``download to buffer``): the READMEs' prose says what their code names.

    focus("How do I list blobs?")  # ('How do I list blobs?', 'How do I list blobs?')
"""

from __future__ import annotations

import re

from .embeddings import Embedders
from .evidence import identifiers
from .search import Query

SPLIT_IDENTIFIERS = True
"""BM25 also reads a question's code identifiers as words (``downloadToBuffer`` -> ``download to
buffer``): the READMEs' prose says what their code names."""
SPLIT_DENSE = True
FOCUS_WORDS = 60
"""Posts longer than this (in words, code left out) are embedded on their question sentences."""
IDENTIFIER_BOOST = 1.0
"""BM25 weight of a query's code identifiers relative to its other words (1: off; 1.5 and 2 cost
hit@1 on the public set and gained nothing on the real posts)."""

_FENCE = re.compile(r"(?:```|~~~)[^\n]*\n.*?(?:```|~~~|\Z)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_QUESTION = re.compile(
    r"\?|^\s*(?:how|is|are|can|could|what|why|does|do|where|which|should|would|when|any|i want|"
    r"i need|i would like|we need|we want|is there)\b", re.IGNORECASE)
_TRACE = re.compile(r"^\s*(?:at\s+[\w.$<>]+\(|File \"|Traceback|Caused by:|\w+(?:\.\w+)+:\d+)")
_HUMP = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


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
        idents = identifiers(sparse_text) if IDENTIFIER_BOOST != 1.0 else set()
        if idents:  # read only when the boost is on: every question runs this
            boosted = set(embedders.sparse.embed_query(" ".join(sorted(idents))).indices)
            values = [v * IDENTIFIER_BOOST if i in boosted else v
                      for i, v in zip(indices, values, strict=True)]
        sparse = (indices, values)
    return Query(text, dense, sparse)


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


def with_terms(embedders: Embedders, q: Query, terms: str) -> Query:
    """``q`` with ``terms`` added to its BM25 side only (the dense vector is reused): the
    management question's second search."""
    if q.sparse is None:
        return q
    vec = embedders.sparse.embed_query(f"{focus(q.text)[1]} {terms}")
    return Query(q.text, q.dense, (list(vec.indices), [float(v) for v in vec.values]))
