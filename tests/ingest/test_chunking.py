"""Markdown-aware chunking: headings, code fences, token limits, headers and metadata.

The invariants are checked on hand-made READMEs that hit each edge and on the whole sample corpus
at several chunk sizes (the chunker is fast; nothing here embeds).
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from azsdk_rag.errors import ConfigError
from azsdk_rag.ingest.chunking import FENCE, MarkdownChunker, embedding_view, parse_sections
from azsdk_rag.ingest.pipeline import chunker_for
from azsdk_rag.ingest.sources import load_corpus
from azsdk_rag.settings import Settings
from support.ingest_fixtures import SAMPLE, open_fence_at_end

WHITESPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def sample_docs() -> tuple[Document, ...]:
    return tuple(load_corpus([SAMPLE]))


def doc(text: str, package: str = "azure-widgets", title: str = "Azure Widgets client library",
        language: str = "python") -> Document:
    return Document(page_content=text, metadata={
        "language": language, "package": package, "title": title, "service": "widgets",
        "plane": "data", "url": f"https://github.com/Azure/x/{package}", "path": "p",
        "version": "1.0.0", "group": ""})


def body(chunk: Document) -> str:
    """A chunk without its one-line header."""
    return chunk.page_content.split("\n\n", 1)[1]


def assert_invariants(chunker: MarkdownChunker, source: Document, chunks: list[Document], *,
                      repeats: bool = True) -> None:
    assert chunks, "a README yields at least one chunk"
    meta = source.metadata
    for i, chunk in enumerate(chunks):
        assert chunker.count(chunk.page_content) <= chunker.max_tokens, chunk.page_content
        assert open_fence_at_end(chunk.page_content) is None, chunk.page_content
        m = chunk.metadata
        for key in ("language", "package", "title", "url", "service", "version"):
            assert m[key] == meta[key]
        assert m["chunk"] == i
        assert m["section"]
        header = chunk.page_content.split("\n", 1)[0]
        assert header.startswith(f"{m['title']} | {m['package']} ({m['language']}")
        if header.endswith("..."):  # a deep heading path, shortened to leave room in the chunk
            assert f"{header[:-3]}" in f"{header.split(') | ')[0]}) | {m['section']}"
            assert chunker.count(header) <= chunker.max_tokens // 2
        else:
            assert header.endswith(f") | {m['section']}")
        assert not m["section"].startswith(m["title"]), "the title is not part of the section"
        assert body(chunk).strip()
    # no text is lost: every line is in a chunk, or (a line longer than a chunk, cut by tokens)
    # runs on across consecutive chunks once fence lines and whitespace are set aside
    bodies = [body(c) for c in chunks]
    joined = WHITESPACE.sub("", "".join(
        "\n".join(line for line in b.split("\n") if not FENCE.match(line)) for b in bodies))
    for line in source.page_content.splitlines():
        text = line.strip()
        if text and not any(text in b for b in bodies):
            assert WHITESPACE.sub("", text) in joined, f"lost: {text!r}"
    # and no chunk is only a repeat of the one before it (the overlap alone); made-up texts that
    # repeat themselves can trip this check, so those tests may leave it out
    if repeats:
        for before, after in pairwise(bodies):
            assert after not in before, f"repeated chunk: {after[:200]!r}"


# -- the sample corpus ----------------------------------------------------------------------------
@pytest.mark.parametrize(("max_tokens", "overlap"), [(350, 40), (200, 20), (128, 16), (96, 0)])
def test_sample_corpus_invariants(max_tokens: int, overlap: int) -> None:
    chunker = MarkdownChunker(max_tokens, overlap)
    for source in sample_docs():
        assert_invariants(chunker, source, chunker.split(source))


def test_sample_corpus_fits_even_tiny_chunks() -> None:
    """At the smallest setting, deep headings must not push a chunk over its limit."""
    chunker = chunker_for(Settings(chunk_tokens=48, chunk_overlap=8, qdrant_path=":memory:"))
    for source in sample_docs():
        chunks = chunker.split(source)
        assert chunks
        assert max(chunker.count(c.page_content) for c in chunks) <= 48
        assert all(c.metadata["section"] for c in chunks)


def test_a_deep_heading_path_is_shortened_in_the_header_not_the_metadata() -> None:
    headings = "".join(f"{'#' * n} A rather long heading number {n} about widgets\n\ntext {n}\n\n"
                       for n in range(1, 7))
    chunker = MarkdownChunker(40, 4)
    chunks = chunker.split(doc(headings, title="A rather long heading number 1 about widgets"))
    assert all(chunker.count(c.page_content) <= 40 for c in chunks)
    deepest = chunks[-1].metadata["section"]
    assert deepest.endswith("A rather long heading number 6 about widgets")
    assert deepest.count(" > ") == 4


# -- structure -----------------------------------------------------------------------------------
README = """# Azure Widgets client library

Widgets for everyone.

## Getting started

### Install the package

```bash
# this is a shell comment, not a heading
pip install azure-widgets
```

### Authenticate the client

Use a credential.

## Key concepts

~~~python
## also not a heading
client = WidgetClient()
~~~

````markdown
```python
nested = True
```
# still inside the outer fence
````

Inline ```code``` on a line is not a fence.
"""


def test_headings_inside_fences_are_code_not_structure() -> None:
    sections = parse_sections(README)
    paths = [s.path for s in sections]
    title = "Azure Widgets client library"
    assert paths == [
        (title,),
        (title, "Getting started"),
        (title, "Getting started", "Install the package"),
        (title, "Getting started", "Authenticate the client"),
        (title, "Key concepts"),
    ]
    fences = [b for s in sections for b in s.blocks if b.kind == "fence"]
    assert [f.fence for f in fences] == ["```bash", "~~~python", "````markdown"]
    assert "# still inside the outer fence" in fences[2].text
    assert fences[2].text.endswith("````")


def test_each_chunk_carries_its_heading_path_and_the_package_title() -> None:
    chunker = MarkdownChunker(60, 0, min_tokens=0)
    chunks = chunker.split(doc(README))
    assert_invariants(chunker, doc(README), chunks)
    sections = [c.metadata["section"] for c in chunks]
    assert sections[0] == "Overview"  # the text under the H1
    assert "Getting started > Install the package" in sections
    assert "Key concepts" in sections
    install = next(c for c in chunks if c.metadata["section"].endswith("Install the package"))
    assert install.page_content.startswith(
        "Azure Widgets client library | azure-widgets (python) | "
        "Getting started > Install the package\n\n")
    assert "pip install azure-widgets" in install.page_content


def test_a_short_readme_is_one_chunk_and_small_sections_are_packed_together() -> None:
    chunker = MarkdownChunker()
    chunks = chunker.split(doc(README))
    assert len(chunks) == 1
    assert body(chunks[0]).startswith("# Azure Widgets client library")
    assert "Inline ```code``` on a line" in chunks[0].page_content


def test_a_huge_code_block_is_split_into_balanced_fences_with_its_info_string() -> None:
    code = "\n".join(f"    result_{i} = client.get_widget(name='widget-{i}', timeout={i})"
                     for i in range(300))
    text = (f"# Title\n\n## Example\n\nBefore.\n\n```python title=\"example.py\"\n{code}\n```"
            "\n\nAfter.\n")
    chunker = MarkdownChunker(200, 20)
    source = doc(text, title="Title")
    chunks = chunker.split(source)

    assert_invariants(chunker, source, chunks)
    pieces = [body(c) for c in chunks if "client.get_widget" in c.page_content]
    assert len(pieces) > 5
    for piece in pieces:
        lines = piece.split("\n")
        start = lines.index('```python title="example.py"')
        assert "```" in lines[start + 1:], "each piece is closed"
        assert all("get_widget" in line for line in lines[start + 1:lines.index("```", start)])
    assert all(c.metadata["section"] == "Example" for c in chunks if "get_widget" in c.page_content)


def test_a_huge_tilde_fence_and_a_single_huge_line_stay_balanced() -> None:
    long_line = "x = [" + ", ".join(str(i) for i in range(3000)) + "]"
    text = f"# T\n\n~~~~\n{long_line}\n~~~~\n\nEnd.\n"
    chunker = MarkdownChunker(128, 16)
    source = doc(text, title="T")
    chunks = chunker.split(source)
    assert_invariants(chunker, source, chunks)
    assert sum(body(c).startswith("~~~~\n") for c in chunks) > 5


def test_an_unclosed_fence_is_closed_in_its_chunk() -> None:
    chunker = MarkdownChunker()
    source = doc("# T\n\nIntro.\n\n```js\ncall();\n", title="T")
    chunks = chunker.split(source)
    assert_invariants(chunker, source, chunks)
    assert chunks[-1].page_content.endswith("```js\ncall();\n```")


def test_an_unclosed_fence_does_not_swallow_the_limit() -> None:
    text = "# T\n\nIntro.\n\n```js\n" + "\n".join(f"call({i});" for i in range(400)) + "\n"
    chunker = MarkdownChunker(100, 10)
    chunks = chunker.split(doc(text, title="T"))
    assert all(chunker.count(c.page_content) <= 100 for c in chunks)
    assert all(open_fence_at_end(c.page_content) is None for c in chunks)


def test_long_prose_is_split_by_tokens_with_overlap() -> None:
    sentences = " ".join(f"Sentence number {i} explains another widget option." for i in range(200))
    source = doc(f"# T\n\n## Options\n\n{sentences}\n", title="T")
    chunker = MarkdownChunker(120, 20)
    chunks = chunker.split(source)
    assert_invariants(chunker, source, chunks)
    assert len(chunks) > 5
    assert all(c.metadata["section"] == "Options" for c in chunks[1:])
    # a neighbour starts with the end of the chunk before it
    shared = [b for a, b in pairwise(chunks) if body(b)[:30] in body(a)]
    assert shared


def test_no_overlap_means_no_repeated_text() -> None:
    paragraphs = "\n\n".join(f"Paragraph {i} describes widget feature {i} in some detail here."
                             for i in range(120))
    source = doc(f"# T\n\n{paragraphs}\n", title="T")
    chunker = MarkdownChunker(100, 0)
    chunks = chunker.split(source)
    found = [p for c in chunks for p in body(c).split("\n\n") if p != "# T"]
    assert found == [f"Paragraph {i} describes widget feature {i} in some detail here."
                     for i in range(120)]


def test_overlap_must_be_under_half_of_the_limit() -> None:
    with pytest.raises(ValueError, match="overlap"):
        MarkdownChunker(100, 50)
    with pytest.raises(ConfigError, match="AZSDK_RAG_CHUNK_OVERLAP"):
        chunker_for(Settings(chunk_tokens=64, chunk_overlap=40, qdrant_path=":memory:"))
    assert chunker_for(Settings(chunk_tokens=64, chunk_overlap=8,
                                qdrant_path=":memory:")).max_tokens == 64


def test_the_embedding_view_drops_link_targets_and_comments_but_keeps_words() -> None:
    text = ("See [the docs](https://learn.microsoft.com/azure) and [ref][r].\n"
            "<!-- hidden -->\n[r]: https://example.com/r\nRaw https://x.example/y end.\n"
            "![badge](https://img.shields.io/b.svg)")
    view = embedding_view(text)
    assert "https://" not in view and "hidden" not in view
    for word in ("See", "the docs", "ref", "Raw", "end.", "badge"):
        assert word in view


# -- made-up markdown ---------------------------------------------------------------------------
WORDS = st.sampled_from(["widget", "client", "Azure", "the", "`code`", "[link](https://x.y/z)",
                         "über", "日本", "#", "-", "|", "a" * 30])


def words(most: int) -> st.SearchStrategy[str]:
    return st.lists(WORDS, min_size=1, max_size=most).map(" ".join)


LINES = st.one_of(
    words(12), words(400),
    st.tuples(st.integers(1, 6), words(8)).map(lambda t: "#" * t[0] + " " + t[1]),
    st.sampled_from(["```", "```python", "~~~", "````", "```js title=x", "    ```", "", "",
                     "```inline``` text", "#"]),
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, min_size=1, max_size=60),
       st.sampled_from([(96, 8), (128, 16), (350, 40)]))
def test_invariants_hold_for_any_markdown(lines: list[str], size: tuple[int, int]) -> None:
    """Headings, fences (closed, unclosed, nested, inline), huge lines, in any order."""
    text = "\n".join(lines)
    if not text.strip():
        return
    chunker = MarkdownChunker(*size)
    source = doc(text)
    assert_invariants(chunker, source, chunker.split(source), repeats=False)
