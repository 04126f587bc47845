"""The packages in the index and their whole READMEs: what an agent lists, reads and cites.

The first chunk of every README carries the README's whole text (``README_KEY``), so a README
is served exactly as it was ingested. An index built before that was recorded gets the README
rebuilt from its chunks (headers and overlaps removed), flagged ``exact=False``.
The catalogue is read once per index generation: a re-ingest is seen at the next call.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.documents import Document

from .context import body_of
from .ingest.chunking import README_KEY
from .store import Store


@dataclass(frozen=True)
class PackageInfo:
    """One README in the index."""

    language: str
    package: str
    title: str
    service: str
    plane: str
    url: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Readme:
    """A whole README in markdown, with its package record; ``exact`` is False when it was
    rebuilt from chunks (an index ingested before the README text was kept)."""

    info: PackageInfo
    text: str
    exact: bool


def _info(meta: dict[str, Any]) -> PackageInfo:
    return PackageInfo(*(str(meta.get(name) or "") for name in (
        "language", "package", "title", "service", "plane", "url", "version")))


def _payload_metadata(store: Store) -> Iterator[tuple[Any, dict[str, Any], str]]:
    """(point id, metadata, page content) of every point."""
    for point in store.points():
        yield point.id, point.metadata, point.payload.get("page_content", "")


class Catalogue:
    """Packages by language, and README texts, read from one store (thread-safe)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._packages: dict[tuple[str, str], PackageInfo] = {}
        self._chunks: dict[tuple[str, str], list[tuple[int, Document]]] = {}
        self._texts: dict[tuple[str, str], str] = {}

    def _load(self) -> None:
        with self._lock:
            if self._generation == self.store.generation:
                return
            packages: dict[tuple[str, str], PackageInfo] = {}
            chunks: dict[tuple[str, str], list[tuple[int, Document]]] = {}
            texts: dict[tuple[str, str], str] = {}
            for _id, meta, content in _payload_metadata(self.store):
                key = (str(meta.get("language", "")), str(meta.get("package", "")))
                if not all(key):
                    continue
                if key not in packages or meta.get(README_KEY):
                    packages[key] = _info(meta)
                if isinstance(meta.get(README_KEY), str):
                    texts[key] = meta[README_KEY]
                chunks.setdefault(key, []).append(
                    (int(meta.get("chunk", 0) or 0), Document(page_content=content, metadata=meta)))
            self._packages = dict(sorted(packages.items()))
            self._chunks, self._texts = chunks, texts
            self._generation = self.store.generation

    def packages(self, language: str | None = None) -> list[PackageInfo]:
        """Every README in the index (of one language), sorted by language and name."""
        self._load()
        return [info for (lang, _), info in self._packages.items()
                if language is None or lang == language]

    def find(self, package: str, language: str | None = None) -> list[PackageInfo]:
        """The READMEs named ``package`` (exactly, else ignoring case), in any or one language."""
        candidates = self.packages(language)
        exact = [info for info in candidates if info.package == package]
        if exact:
            return exact
        folded = package.strip().casefold()
        return [info for info in candidates if info.package.casefold() == folded]

    def nearest(self, package: str, language: str | None = None, n: int = 3) -> list[str]:
        """The package names most like ``package``: containing it first (ignoring case and
        separators, so "keyvault-secrets" finds azure_security_keyvault_secrets), then by
        similarity."""
        names = list(dict.fromkeys(info.package for info in self.packages(language)))
        word = _squash(package)
        if not word:
            return []
        containing = sorted((name for name in names if word in _squash(name)), key=len)
        by_squash = {_squash(name): name for name in names}
        similar = difflib.get_close_matches(word, list(by_squash), n=n, cutoff=0.6)
        return list(dict.fromkeys([*containing, *(by_squash[s] for s in similar)]))[:n]

    def readme(self, language: str, package: str) -> Readme | None:
        """The whole README of one package, or None when the index has no such package."""
        self._load()
        key = (language, package)
        info = self._packages.get(key)
        if info is None:
            return None
        text = self._texts.get(key)
        if text is not None:
            return Readme(info, text, True)
        ordered = sorted(self._chunks.get(key, []), key=lambda pair: pair[0])
        return Readme(info, rebuild(doc for _n, doc in ordered), False)

    def search(self, query: str, language: str | None = None) -> list[PackageInfo]:
        """Packages whose name, title or service contains every word of ``query``."""
        words = query.casefold().split()
        return [info for info in self.packages(language)
                if all(w in f"{info.package} {info.title} {info.service}".casefold()
                       for w in words)]


def _squash(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def rebuild(chunks: Iterable[Document]) -> str:
    """A README from its chunks in order: each chunk's body (:func:`~azsdk_rag.context.body_of`),
    overlaps merged."""
    out = ""
    for chunk in chunks:
        body = body_of(chunk)
        overlap = _overlap(out, body)
        out = f"{out}{body[overlap:]}" if overlap else f"{out}\n\n{body}" if out else body
    return out


def _overlap(text: str, body: str, longest: int = 400) -> int:
    """The length of the longest end of ``text`` that ``body`` starts with (at least 20 chars)."""
    for size in range(min(longest, len(text), len(body)), 19, -1):
        if text.endswith(body[:size]):
            return size
    return 0

