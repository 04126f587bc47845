"""One hash per README: what lets a re-ingest skip chunking the READMEs that did not change.

The hash covers everything a README's points and identifier table are made from: its text and
metadata, the chunker's settings and version, and the embedders. The index records the hashes it
was built from (the version manifest; the identifier table keeps its own), so a README whose hash
is unchanged keeps its points and identifiers as they are, and any other change re-chunks it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from langchain_core.documents import Document

from ..types import EmbedderInfo
from .chunking import MarkdownChunker

CHUNKER_VERSION = 2
"""Bump when the chunker's output changes for the same input: every README is chunked again.
2: a chunk's body is in its metadata (``body``); the text, ids and vectors are as in 1."""

Key = tuple[str, str]


def doc_key(doc: Document) -> Key:
    return (str(doc.metadata.get("language", "")), str(doc.metadata.get("package", "")))


def key_text(key: Key) -> str:
    """``language/package``: the key as the manifest stores it (languages have no slash)."""
    return f"{key[0]}/{key[1]}"


def key_of(text: str) -> Key:
    lang, _, pkg = text.partition("/")
    return (lang, pkg)


def by_key(docs: Iterable[Document]) -> dict[Key, list[Document]]:
    groups: dict[Key, list[Document]] = defaultdict(list)
    for doc in docs:
        groups[doc_key(doc)].append(doc)
    return groups


def readme_hashes(docs: Sequence[Document], chunker: MarkdownChunker,
                  info: EmbedderInfo) -> dict[str, str]:
    """``language/package`` -> sha256 of its READMEs, the chunker's settings and the embedders.

    >>> readme_hashes(docs, MarkdownChunker(), info)["python/azure-core"]  # doctest: +SKIP
    '3f1c...'
    """
    settings = json.dumps({"chunker": CHUNKER_VERSION, "max_tokens": chunker.max_tokens,
                           "overlap": chunker.overlap, "min_tokens": chunker.min_tokens,
                           "encoding": chunker.enc.name, "embeddings": info.to_dict()},
                          sort_keys=True)
    hashes: dict[str, str] = {}
    for key, group in by_key(docs).items():
        h = hashlib.sha256(settings.encode())
        for doc in group:
            h.update(b"\x00")
            h.update(json.dumps([doc.page_content, doc.metadata], sort_keys=True,
                                default=str).encode())
        hashes[key_text(key)] = h.hexdigest()
    return hashes


def unchanged(hashes: Mapping[str, str], recorded: Mapping[str, str]) -> set[Key]:
    """The keys whose READMEs hash as they did when the index (or table) was built."""
    return {key_of(k) for k, v in hashes.items() if recorded.get(k) == v}
