"""The ingest job: source -> README documents -> chunks -> points."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from langchain_core.documents import Document

from ..embeddings import make_embedders
from ..errors import ConfigError, SourceError
from ..evidence import PackageEvidence, evidence_path
from ..settings import Settings
from ..store import Store
from .chunking import MarkdownChunker
from .fingerprints import by_key, doc_key, key_of, readme_hashes, unchanged
from .indexer import Indexer, IngestReport
from .sources import load_corpus, load_github, load_repo


def load_documents(settings: Settings, *, corpus: Sequence[Path] = (),
                   repos: Sequence[Path] = (), github: bool = False) -> list[Document]:
    """Read every README of the chosen sources (all of it, before anything is written)."""
    if not (corpus or repos or github):
        if settings.corpus is None:
            github = True
        else:
            corpus = [settings.corpus]
    docs: list[Document] = []
    if corpus:
        docs.extend(load_corpus(corpus))
    for repo in repos:
        docs.extend(load_repo(repo))
    if github:
        docs.extend(load_github(settings.github_base))
    if not docs:  # before the store is opened: a fresh path stays empty
        raise SourceError("No README text was read from the sources (see the warnings above); "
                          "nothing was written.")
    return docs


def chunker_for(settings: Settings) -> MarkdownChunker:
    if settings.chunk_overlap * 2 >= settings.chunk_tokens:
        raise ConfigError(
            "AZSDK_RAG_CHUNK_OVERLAP must be less than half of AZSDK_RAG_CHUNK_TOKENS."
        )
    return MarkdownChunker(settings.chunk_tokens, settings.chunk_overlap)


def ingest(settings: Settings, *, corpus: Sequence[Path] = (), repos: Sequence[Path] = (),
           github: bool = False, prune: bool = False, progress: bool | None = None,
           store: Store | None = None) -> IngestReport:
    """Bring the index in line with the sources; returns what was written and removed.

        report = ingest(Settings(), corpus=[Path("python.jsonl")], prune=True)
        print(report.written, report.unchanged, report.deleted)

    Also reachable as ``azsdk_rag.ingest(settings, ...)``.
    """
    docs = load_documents(settings, corpus=corpus, repos=repos, github=github)
    chunker = chunker_for(settings)
    embedders = make_embedders(settings)
    hashes = readme_hashes(docs, chunker, embedders.info)
    own = store is None
    store = store or Store.open(settings)
    try:
        # READMEs hashing as they did at the last ingest keep their points: not chunked again
        kept = unchanged(hashes, store.readme_hashes())
        changed = [doc for doc in docs if doc_key(doc) not in kept]
        chunks = chunker.split_documents(changed)
        indexer = Indexer(store, embedders, settings.batch_size)
        index = partial(indexer.index, len(docs), chunks, prune=prune,
                        changed=set(by_key(changed)), kept=kept, hashes=hashes)
        show = sys.stderr.isatty() if progress is None else progress
        if show:
            from tqdm import tqdm

            with tqdm(unit="chunk", desc="embedding", leave=False) as bar:

                def advance(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                report = index(progress=advance)
        else:
            report = index()
        write_evidence(settings, docs, prune=prune, hashes=hashes)
    finally:
        if own:
            store.close()
    return report


def write_evidence(settings: Settings, docs: Sequence[Document], *, prune: bool = False,
                   hashes: dict[str, str] | None = None) -> None:
    """Bring the index's identifier table (see :mod:`azsdk_rag.evidence`) in line with ``docs``:
    their packages replaced, the others kept (``prune``: dropped for the languages ingested).
    Written after the points, so a killed ingest leaves the old table, which a re-run fixes.
    The table records the README ``hashes`` it was built from (its own, apart from the index's):
    READMEs hashing as recorded keep their identifiers without being read again."""
    if settings.uses_server:
        return  # a server's readers build the table from the chunks
    path = evidence_path(settings.qdrant_path, settings.collection)
    if path is None:
        return
    old = PackageEvidence.load(path)
    kept = unchanged(hashes, old.hashes) if hashes and old is not None else set()
    keys = set(by_key(docs))
    languages = sorted({lang for lang, _pkg in keys}) if prune else ()
    if old is not None and kept == keys and not any(
            key[0] in languages and key not in keys for key in old.package_keys):
        return  # nothing to change
    new = PackageEvidence.build(doc for doc in docs if doc_key(doc) not in kept)
    base = old if old is not None else PackageEvidence()  # an empty table is falsy
    table = base.updated(new, prune_languages=languages, kept=kept)
    if hashes is not None:
        table.hashes = {k: v for k, v in base.hashes.items()
                        if key_of(k) in table.package_keys} | hashes
    table.save(path)
