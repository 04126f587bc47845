"""Package evidence: which code identifiers each README shows, as a table built at ingest.

Real questions paste code without naming a language: ``builder.AddServiceBusClient(...)``,
``blobContainerClient.listBlobs()``, ``ComputeManagementClient``. The READMEs know whose names
those are. At ingest every README's fenced and inline code is read for identifiers with a code
shape (camelCase, PascalCase with two or more humps, snake_case, SCREAMING_CASE); the table maps
each to the (language, package) pairs whose README shows it. The router takes an identifier that
occurs in one language only as evidence for that language; the retriever takes one that occurs in
few packages as evidence for those packages.

The table is a small JSON file beside the embedded index (written atomically, so readers never
see half of it); an index without one (a server, ``:memory:``, an older ingest) gets its table
from the chunks' text on first use.

    table = PackageEvidence.build(readme_documents)
    table.languages_of("AddServiceBusClient")    # {'dotnet': 1}
    table.packages_of("ComputeManagementClient")  # {('python', 'azure-mgmt-compute'), ...}
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document

log = logging.getLogger(__name__)

FORMAT = 1
_FENCED = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1", re.DOTALL | re.MULTILINE)
_INLINE = re.compile(r"`([^`\n]+)`")
_WORD = re.compile(r"(?<![\w$])[A-Za-z_][A-Za-z0-9_]{3,60}(?![\w$])")
# camelCase, PascalCase of two humps or more (HttpClient, ServiceBusClient), snake_case with at
# least one underscore inside, SCREAMING_CASE: names that are code, not English.
_CODE_SHAPE = re.compile(
    r"^(?:[a-z][a-z0-9]*[A-Z]\w*"  # camelCase
    r"|[A-Z][a-z0-9]+[A-Z]\w*"  # PascalCase, two humps
    r"|[A-Z]{2,}[a-z][a-z0-9]*[A-Z]?\w*"  # IPAddress, HTTPClient
    r"|_*[a-z][a-z0-9]*(?:_[a-z0-9]+)+_*"  # snake_case
    r"|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)$"  # SCREAMING_CASE
)


def code_text(markdown: str) -> str:
    """The fenced and inline code of a markdown text, one piece a line."""
    parts = [m.group(2) for m in _FENCED.finditer(markdown)]
    rest = _FENCED.sub(" ", markdown)
    parts += [m.group(1) for m in _INLINE.finditer(rest)]
    return "\n".join(parts)


def identifiers(text: str) -> set[str]:
    """The code-shaped identifiers in ``text`` (case kept: ``listBlobs`` is not ``ListBlobs``)."""
    return {w for w in _WORD.findall(text) if _CODE_SHAPE.match(w)}


def api_identifiers(code: str) -> set[str]:
    """Identifiers of ``code`` in the places an SDK's own names stand: a type (PascalCase), a
    member (after ``.``, ``::`` or ``->``) or a call (before ``(``). A sample's local variables
    (``const storageContainerName = ...``) say nothing about the language and are left out."""
    out: set[str] = set()
    for m in _WORD.finditer(code):
        w = m.group(0)
        if not _CODE_SHAPE.match(w):
            continue
        before = code[max(0, m.start() - 2):m.start()]
        after = code[m.end():m.end() + 1]
        if w[0].isupper() or before.endswith((".", "::", "->")) or after == "(":
            out.add(w)
    return out


def readme_identifiers(markdown: str) -> set[str]:
    """The SDK names one README's code shows."""
    return api_identifiers(code_text(markdown))


class PackageEvidence:
    """Identifier -> the (language, package) pairs whose README code shows it."""

    def __init__(self, packages: Mapping[tuple[str, str], Iterable[str]] | None = None):
        # Only the identifier -> owners side is kept (what routing and ranking read), its
        # identifiers interned: one string for a name every README shows. At 16x the corpus
        # the table went 35.7 -> 13.3 MiB (both sides and a string per occurrence before).
        packages = packages or {}
        owners: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for key, ids in packages.items():
            for ident in ids:
                owners[sys.intern(ident)].add(key)
        self._keys = frozenset(packages)
        self._owners = {ident: frozenset(keys) for ident, keys in owners.items()}
        self.hashes: dict[str, str] = {}  # README hashes it was built from (ingest's own record)

    @property
    def _by_package(self) -> dict[tuple[str, str], frozenset[str]]:
        """Package -> its identifiers (every package, those with none included): for ingest."""
        ids: dict[tuple[str, str], set[str]] = {key: set() for key in self._keys}
        for ident, keys in self._owners.items():
            for key in keys:
                ids[key].add(ident)
        return {key: frozenset(found) for key, found in ids.items()}

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def build(cls, docs: Iterable[Document]) -> PackageEvidence:
        """From README documents (``language`` and ``package`` metadata, markdown text)."""
        packages: dict[tuple[str, str], set[str]] = defaultdict(set)
        for doc in docs:
            key = (str(doc.metadata.get("language", "")), str(doc.metadata.get("package", "")))
            packages[key] |= readme_identifiers(doc.page_content)
        return cls(packages)

    def updated(self, other: PackageEvidence, *, prune_languages: Sequence[str] = (),
                kept: Collection[tuple[str, str]] = ()) -> PackageEvidence:
        """This table with ``other``'s packages replaced or added; with ``prune_languages``,
        packages of those languages that ``other`` lacks are dropped (``ingest --prune``),
        except those in ``kept`` (READMEs unchanged, so not read again)."""
        theirs = other._by_package
        keep = {key: ids for key, ids in self._by_package.items()
                if key not in theirs and (key[0] not in prune_languages or key in kept)}
        return PackageEvidence({**keep, **theirs})

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._owners)

    def __bool__(self) -> bool:
        return bool(self._owners)

    @property
    def package_keys(self) -> frozenset[tuple[str, str]]:
        return self._keys

    def packages_of(self, ident: str) -> frozenset[tuple[str, str]]:
        """The (language, package) pairs whose README code shows ``ident``."""
        return self._owners.get(ident, frozenset())

    def languages_of(self, ident: str) -> dict[str, int]:
        """Language -> how many of its READMEs show ``ident``."""
        counts: dict[str, int] = defaultdict(int)
        for lang, _pkg in self._owners.get(ident, ()):
            counts[lang] += 1
        return dict(counts)

    def known(self, text: str) -> list[str]:
        """The identifiers of ``text`` that some README shows, in order of first appearance."""
        seen: dict[str, None] = {}
        for m in _WORD.finditer(text):
            w = m.group(0)
            if w in self._owners and _CODE_SHAPE.match(w):
                seen.setdefault(w)
        return list(seen)

    # -- the file ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "readmes": dict(sorted(self.hashes.items())),
                "packages": [{"language": lang, "package": pkg, "identifiers": sorted(ids)}
                             for (lang, pkg), ids in sorted(self._by_package.items())]}

    @classmethod
    def from_json(cls, data: Any) -> PackageEvidence:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a package-evidence table of this version")
        table = cls({(row["language"], row["package"]): row["identifiers"]
                     for row in data["packages"]})
        readmes = data.get("readmes")
        table.hashes = dict(readmes) if isinstance(readmes, dict) else {}
        return table

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old table or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.to_json(), out, separators=(",", ":"))
            os.chmod(tmp, 0o644)  # readable like the index beside it (mkstemp makes it 0600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> PackageEvidence | None:
        """The table at ``path``, or None when there is none (or it is unreadable: rebuilt)."""
        try:
            return cls.from_json(json.loads(path.read_text("utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the package-evidence table at %s (%s)", path, exc)
            return None


def evidence_path(qdrant_path: str, collection: str) -> Path | None:
    """Where an embedded index keeps its table; None for ``:memory:``."""
    if qdrant_path == ":memory:":
        return None
    return Path(qdrant_path) / f"{collection}.evidence.json"


def from_chunks(records: Iterable[tuple[str, str, str]]) -> PackageEvidence:
    """A table from ``(language, package, chunk text)`` triples: for an index without a file."""
    packages: dict[tuple[str, str], set[str]] = defaultdict(set)
    for lang, pkg, text in records:
        packages[(lang, pkg)] |= readme_identifiers(text)
    return PackageEvidence(packages)


class EvidenceSource:
    """One index's table, read from its file and re-read when an ingest (maybe another
    process's) has replaced it; without a file, built once by ``fallback`` (from the chunks).

    ``source.get()`` is cheap: one ``stat`` of the file per call.
    """

    def __init__(self, path: Path | None, fallback: Callable[[], PackageEvidence] | None = None):
        self.path = path
        self.fallback = fallback
        self._table: PackageEvidence | None = None
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def get(self) -> PackageEvidence:
        with self._lock:
            stamp = self._file_stamp()
            if stamp is not None and stamp != self._stamp:
                table = PackageEvidence.load(self.path) if self.path else None
                if table is not None:
                    self._table, self._stamp = table, stamp
            if self._table is None:
                try:
                    self._table = self.fallback() if self.fallback else PackageEvidence()
                except Exception as exc:  # routing and retrieval work without the table
                    log.warning("no package-evidence table (%s)", type(exc).__name__)
                    self._table = PackageEvidence()
            return self._table

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size


def current(evidence: PackageEvidence | EvidenceSource | None) -> PackageEvidence | None:
    """The table itself, whether given directly or through a source."""
    if isinstance(evidence, EvidenceSource):
        return evidence.get()
    return evidence
