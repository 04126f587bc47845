"""Markdown-aware chunking: split READMEs on headings, never inside a code fence, then by tokens.

Each chunk starts with a one-line header naming the package and its heading path, so a chunk read
alone (by an embedder or a person) still says which package and section it is about. Its body,
heading path (``section``) and package are in its metadata too: what shows a chunk reads them
there (:mod:`azsdk_rag.context`), never back from the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from langchain_core.documents import Document

from ..context import BODY_KEY, chunk_header
from ..tokens import DEFAULT_ENCODING, encoding

README_KEY = "readme"
"""Metadata key of a README's first chunk that holds the whole README text."""

FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")


_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_REF_DEFINITION = re.compile(r"^[ \t]*\[[^\]]+\]:[ \t]*\S+.*$", re.M)
_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_URL = re.compile(r"https?://\S+")
_SPACES = re.compile(r"[ \t]+")


def embedding_view(text: str) -> str:
    """What embedders see of a chunk: the text without link targets, URLs and HTML comments.

    URLs are a quarter of a README's word pieces and carry no meaning for an embedder; dropping
    them makes embedding faster and the vectors sharper. The stored chunk keeps its links.
    """
    text = _HTML_COMMENT.sub(" ", text)
    text = _REF_DEFINITION.sub("", text)
    text = _INLINE_LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _URL.sub(" ", text)
    return _SPACES.sub(" ", text)


@dataclass
class Block:
    """A unit the chunker never splits unless it alone is over the limit."""

    text: str
    kind: str  # "heading", "fence" or "text"
    fence: str = ""  # the opening fence line, for fences


@dataclass
class Section:
    path: tuple[str, ...]
    blocks: list[Block] = field(default_factory=list)


def parse_sections(text: str) -> list[Section]:
    """Blocks grouped under their heading path; headings inside fences are code, not structure."""
    sections = [Section(())]
    stack: list[tuple[int, str]] = []
    para: list[str] = []
    lines = text.splitlines()

    def flush_para() -> None:
        if para:
            sections[-1].blocks.append(Block("\n".join(para), "text"))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):  # inline code
            flush_para()
            mark = fence.group(1)
            body = [line]
            i += 1
            while i < len(lines):
                body.append(lines[i])
                close = FENCE.match(lines[i])
                i += 1
                if close and close.group(1)[0] == mark[0] and len(close.group(1)) >= len(mark) \
                        and not close.group(2).strip():
                    break
            else:  # never closed: close it, so that no chunk leaves a fence open
                body.append(mark)
            sections[-1].blocks.append(Block("\n".join(body), "fence", fence=line.strip()))
            continue
        heading = HEADING.match(line)
        if heading:
            flush_para()
            level, title = len(heading.group(1)), heading.group(2).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            sections.append(Section(tuple(t for _, t in stack), [Block(line.strip(), "heading")]))
        elif line.strip():
            para.append(line)
        else:
            flush_para()
        i += 1
    flush_para()
    return [s for s in sections if s.blocks]


class MarkdownChunker:
    """Split READMEs into chunks of at most ``max_tokens`` tiktoken tokens, header included.

    Sections are packed whole when they fit; a small section is packed together with the next one so
    that no chunk is a lone heading; a long section is split between blocks, and a block over the
    limit (a long code sample, a huge paragraph) is split by lines and then by tokens, with each
    piece of a code fence re-opened and closed so every chunk's fences stay balanced.
    """

    def __init__(self, max_tokens: int = 350, overlap: int = 40, min_tokens: int = 60,
                 encoding_name: str = DEFAULT_ENCODING):
        if overlap >= max_tokens // 2:
            raise ValueError("overlap must be less than half of max_tokens")
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.min_tokens = min_tokens
        self.enc = encoding(encoding_name)

    def count(self, text: str) -> int:
        return len(self.enc.encode(text, disallowed_special=()))

    @staticmethod
    def section_name(meta: dict[str, str], path: tuple[str, ...]) -> str:
        """The heading path below the README's title ("Overview" for the text under the H1)."""
        title = meta.get("title") or meta.get("package", "")
        # the H1 is the title, also when it carries a " - version X" suffix (javascript docs)
        crumbs = [p for p in path if p != title and not p.startswith(f"{title} - ")]
        return " > ".join(crumbs) or "Overview"

    @classmethod
    def header(cls, meta: dict[str, str], path: tuple[str, ...]) -> str:
        """The chunk's first line (:func:`azsdk_rag.context.chunk_header`), for the embedders."""
        return chunk_header(meta, cls.section_name(meta, path))

    def _header(self, meta: dict[str, str], path: tuple[str, ...]) -> str:
        """The header, cut short when it would take over half of a chunk (deep, long headings)."""
        header = self.header(meta, path)
        limit = self.max_tokens // 2
        if self.count(header) <= limit:
            return header
        tokens = self.enc.encode(header.rstrip("\n"), disallowed_special=())
        return self.enc.decode(tokens[:limit - 4]).rstrip() + "...\n\n"

    def split_documents(self, docs: Iterable[Document]) -> list[Document]:
        return [chunk for doc in docs for chunk in self.split(doc)]

    def split(self, doc: Document) -> list[Document]:
        meta = dict(doc.metadata)
        out: list[Document] = []
        current: list[Block] = []
        current_path: tuple[str, ...] = ()
        used = 0
        tail: Block | None = None

        def emit() -> None:
            nonlocal current, used
            if current:
                body = "\n\n".join(b.text for b in current)
                out.append(self._document(meta, current_path, body, len(out)))
            current, used = [], 0

        for section in parse_sections(doc.page_content):
            if current and used >= self.min_tokens:
                emit()
            if not current:
                current_path = section.path
            # a chunk carries the header of the section it starts in: leave room for either
            header = max(self.count(self._header(meta, p)) for p in (section.path, current_path))
            budget = self.max_tokens - header - 2
            for block in section.blocks:
                size = self.count(block.text)
                if current and used + size + 1 > budget:
                    tail = self._overlap_tail(current)
                    emit()
                    current_path = section.path
                    if tail is not None:
                        current, used = [tail], self.count(tail.text)
                if size > budget - used:
                    for piece in self._split_block(block, budget):
                        if current and used + self.count(piece.text) + 1 > budget:
                            if current == [tail]:  # an overlap alone would be a repeated chunk
                                current, used = [], 0
                            emit()
                            current_path = section.path
                        current.append(piece)
                        used += self.count(piece.text) + 1
                else:
                    current.append(block)
                    used += size + 1
        emit()
        if out:  # the whole README, once, so it can be served as it is (MCP, get_readme)
            out[0].metadata[README_KEY] = doc.page_content
        return out

    def _document(self, meta: dict[str, str], path: tuple[str, ...], body: str,
                  index: int) -> Document:
        header = self._header(meta, path)
        return Document(
            page_content=header + body,
            metadata={**meta, "section": self.section_name(meta, path), "chunk": index,
                      BODY_KEY: body},
        )

    def _overlap_tail(self, blocks: list[Block]) -> Block | None:
        """The end of the last prose block, repeated at the start of the next chunk."""
        if not self.overlap or not blocks or blocks[-1].kind != "text":
            return None
        tokens = self.enc.encode(blocks[-1].text, disallowed_special=())
        if len(tokens) <= self.overlap:
            return Block(blocks[-1].text, "text")
        tail = self.enc.decode(tokens[-self.overlap:])
        # start at a word boundary, not mid-word
        cut = tail.find(" ")
        return Block(tail[cut + 1:] if 0 <= cut < len(tail) // 2 else tail, "text")

    def _split_block(self, block: Block, budget: int) -> list[Block]:
        """Split an oversized block by lines, then by tokens; fences stay balanced per piece."""
        if block.kind == "fence":
            lines = block.text.split("\n")
            opening = lines[0]
            closing_line = lines[-1] if len(lines) > 1 and FENCE.match(lines[-1]) else None
            inner = lines[1:-1] if closing_line is not None else lines[1:]
            close = closing_line.strip() if closing_line else opening.strip()[:3]
            wrap = self.count(opening) + self.count(close) + 2
            return [Block(f"{opening}\n{piece}\n{close}", "fence", fence=opening)
                    for piece in self._pack_lines(inner, budget - wrap)]
        return [Block(piece, "text") for piece in self._pack_lines(block.text.split("\n"), budget)]

    def _pack_lines(self, lines: list[str], budget: int) -> list[str]:
        pieces: list[str] = []
        current: list[str] = []
        used = 0
        for line in lines:
            size = self.count(line) + 1
            if size > budget:
                if current:
                    pieces.append("\n".join(current))
                    current, used = [], 0
                pieces.extend(self._cut_line(line, budget))
                continue
            if current and used + size > budget:
                pieces.append("\n".join(current))
                current, used = [], 0
            current.append(line)
            used += size
        if current:
            pieces.append("\n".join(current))
        return pieces

    def _cut_line(self, line: str, budget: int) -> list[str]:
        """A line over ``budget`` in pieces of ``budget - 1`` tokens, cut between characters.

        A token can end inside a multi-byte UTF-8 character (CJK, emoji): decoding a plain slice
        of tokens would turn both halves of that character into U+FFFD.
        """
        tokens = self.enc.encode(line, disallowed_special=())
        step = max(budget - 1, 1)
        pieces: list[str] = []
        start = 0
        while start < len(tokens):
            end = cut = min(start + step, len(tokens))
            while cut > start and not _whole(self.enc.decode_bytes(tokens[start:cut])):
                cut -= 1
            if cut == start:  # one character spans more tokens than a step: keep it whole
                cut = end
                while cut < len(tokens) and not _whole(self.enc.decode_bytes(tokens[start:cut])):
                    cut += 1
            pieces.append(self.enc.decode(tokens[start:cut]))
            start = cut
        return pieces


def _whole(data: bytes) -> bool:
    """Whether ``data`` ends on a character boundary (it is valid UTF-8 as it stands)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
