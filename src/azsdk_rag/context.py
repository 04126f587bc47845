"""The one format of a README chunk as the model and the offline answerer see it.

A chunk is stored as a one-line header (``title | package (language) | section``, what the
embedders read) and its body; its body, heading path (``section``), package, title, language,
URL, version and group are in its metadata. Everything that shows a chunk reads it from there
with :func:`excerpt`: the prompt's context (:func:`format_context`), the offline answerer, which
reads the context back with :func:`parse_context` (the inverse of :func:`render`), and the MCP
search tool. An index written before the body was kept in metadata (chunker version 1) still
works: :func:`body_of` takes the chunk's text without its header.

    text = format_context(docs, 3000)   # "[1] Azure Storage Blobs | package: azure-storage-blob"
    [e.package for e in parse_context(text)]   # ["azure-storage-blob", ...]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.documents import Document

from .tokens import encoding

BODY_KEY = "body"
"""Metadata key of a chunk's text without its header (indexes from chunker version 2 on)."""
FIELDS = ("package", "language", "version", "group", "section")
"""The excerpt fields of a context head line, in order (``title`` and ``url`` have their own)."""
CUT = "[...]"
"""The line that ends an excerpt cut short by the context's token budget."""

_HEAD = re.compile(r"^\[(?P<n>\d+)\] (?P<rest>.*)$")
_HEAD_SHAPED = re.compile(r"^(\\*)(\[\d+\] )", re.MULTILINE)
"""A body line shaped like a head gets one more backslash (``\\[2] ...``), which the reader
takes off again: README text cannot start an excerpt of its own."""
_UNESCAPE = re.compile(r"^\\(\\*\[\d+\] )")
_FIELD_SPLIT = re.compile(rf" \| (?=(?:{'|'.join(FIELDS)}): )")
_URL_PREFIX = "README: "


def chunk_header(meta: Mapping[str, Any], section: str) -> str:
    """The line a stored chunk starts with, so a chunk read alone (by an embedder or a person)
    still says what it is about; the blank line after it ends it.

    >>> chunk_header({"title": "Blobs", "package": "azure-storage-blob", "language": "python"},
    ...              "Examples")
    'Blobs | azure-storage-blob (python) | Examples\\n\\n'
    """
    title = meta.get("title") or meta.get("package", "")
    kind = " management library" if meta.get("plane") == "mgmt" else ""
    return (f"{title} | {meta.get('package', '')} ({meta.get('language', '')}{kind}) | "
            f"{section}\n\n")


def body_of(doc: Document) -> str:
    """A chunk's text without its header: ``metadata["body"]``, else (an older index, a document
    of one's own) the text with a first line that names its title or package taken off."""
    body = doc.metadata.get(BODY_KEY)
    if isinstance(body, str):
        return body
    text = doc.page_content
    head, sep, rest = text.partition("\n\n")
    names = [str(doc.metadata.get(key) or "") for key in ("title", "package")]
    if sep and "\n" not in head and any(name and head.startswith(name) for name in names):
        return rest
    return text


@dataclass(frozen=True)
class Excerpt:
    """One chunk as the model sees it: where it comes from and its body.

        Excerpt.of(doc).package   # "azure-storage-blob"
    """

    title: str
    url: str
    body: str
    package: str = ""
    language: str = ""
    version: str = ""
    group: str = ""
    section: str = "Overview"

    @classmethod
    def of(cls, doc: Document) -> Excerpt:
        """A retrieved chunk's excerpt, from its metadata (a missing section is the Overview)."""
        m = doc.metadata
        values = {key: _line(m.get(key)) for key in FIELDS}
        values["section"] = values["section"] or "Overview"
        return cls(title=_line(m.get("title")), url=_line(m.get("url")), body=body_of(doc),
                   **values)

    @property
    def fields(self) -> dict[str, str]:
        """The head line's fields that have a value, in :data:`FIELDS` order."""
        return {key: getattr(self, key) for key in FIELDS if getattr(self, key)}

    def head(self, n: int) -> str:
        """The excerpt's first two lines: ``[n] title | package: P | ...`` and its README URL."""
        fields = "".join(f" | {key}: {_value(value)}" for key, value in self.fields.items())
        return f"[{n}] {_value(self.title)}{fields}\n{_URL_PREFIX}{self.url}\n"


def _line(value: Any) -> str:
    """A metadata value for a head line: one line (a line break would end the head)."""
    text = "" if value is None else str(value)
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def _value(text: str) -> str:
    """A head value that cannot be read as two: `` | section: `` inside it becomes `` / ``."""
    return _FIELD_SPLIT.sub(" / ", text)


def render(excerpts: Sequence[Excerpt], budget_tokens: int) -> str:
    """Numbered excerpts within ``budget_tokens``: the one that overflows is cut (ending in
    :data:`CUT`) when a useful piece of it fits, and the rest are left out."""
    enc = encoding()
    parts: list[str] = []
    used = 0
    for n, ex in enumerate(excerpts, 1):
        head = ex.head(n)
        body = _HEAD_SHAPED.sub(r"\\\1\2", ex.body)
        block = f"{head}{body}\n"
        size = len(enc.encode(block, disallowed_special=()))
        if used + size > budget_tokens:
            room = budget_tokens - used - len(enc.encode(head, disallowed_special=())) - 8
            if room < 50:
                break
            body_tokens = enc.encode(body, disallowed_special=())[:room]
            block = f"{head}{enc.decode(body_tokens)}\n{CUT}\n"
            size = budget_tokens - used
        parts.append(block)
        used += size
    return "\n".join(parts)


def format_context(docs: Sequence[Document], budget_tokens: int) -> str:
    """The prompt's README excerpts for retrieved chunks, within a token budget.

        format_context(docs, 3000).splitlines()[:2]
        # ['[1] Azure Storage Blobs | package: azure-storage-blob | language: python | ...',
        #  'README: https://github.com/Azure/azure-sdk-for-python/...']
    """
    return render([Excerpt.of(doc) for doc in docs], budget_tokens)


def _head_at(lines: Sequence[str], i: int, n: int) -> Excerpt | None:
    """The head of excerpt ``n`` at ``lines[i]`` (and its URL line after it), if it is one."""
    m = _HEAD.match(lines[i])
    if not m or int(m.group("n")) != n or i + 1 >= len(lines) \
            or not lines[i + 1].startswith(_URL_PREFIX):
        return None
    title, *pairs = _FIELD_SPLIT.split(m.group("rest"))
    values = dict(pair.split(": ", 1) for pair in pairs)
    values["section"] = values.get("section") or "Overview"
    return Excerpt(title=title, url=lines[i + 1][len(_URL_PREFIX):].strip(), body="",
                   **{key: values.get(key, "") for key in FIELDS})


def parse_context(text: str) -> list[Excerpt]:
    """The excerpts of a context that :func:`render` wrote, in order (the inverse of
    :func:`render` for excerpts that fit the budget; a cut one keeps its :data:`CUT` line).

    An excerpt begins at the head numbered one more than the last, followed by its URL line; a
    body line shaped like a head was escaped by :func:`render`, so README text is read as body.
    """
    lines = text.split("\n")  # the renderer's line breaks only (README text may hold others)
    heads: list[Excerpt] = []
    bodies: list[list[str]] = []
    i = 0
    while i < len(lines):
        head = _head_at(lines, i, len(heads) + 1)
        if head is not None:
            heads.append(head)
            bodies.append([])
            i += 2
            continue
        if bodies:
            bodies[-1].append(_UNESCAPE.sub(r"\1", lines[i]))
        i += 1
    return [_with_body(head, body) for head, body in zip(heads, bodies, strict=True)]


def _with_body(excerpt: Excerpt, lines: list[str]) -> Excerpt:
    return replace(excerpt, body="\n".join(lines).strip("\n"))
