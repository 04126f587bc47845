"""``term()``'s faster shape matches exactly where the plain shape (each word's left edge
checked before it) does, for any words and any text."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from azsdk_rag.languages import LANGUAGES
from azsdk_rag.languages.cues import _RIGHT, term


def plain_term(*words: str) -> str:
    """The shape ``term()`` had: a lookbehind before every word."""
    return "(?:" + "|".join(
        (r"(?<![\w.#+@])" if w[:1] == "." else r"(?<![\w#+@])") + re.escape(w)
        for w in sorted(words, key=len, reverse=True)) + ")" + _RIGHT


ALPHABET = st.sampled_from([*"aAbBjJpPyY.#+@-_ 1\n:/(é", "ava", "py", ".NET", "-based"])
WORDS = st.lists(st.text(st.sampled_from(list("abjpy.#+@-é1")), min_size=1, max_size=6),
                 min_size=1, max_size=6)
TEXTS = st.lists(ALPHABET, max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(WORDS, TEXTS, st.booleans())
def test_term_matches_where_the_plain_shape_does(words: list[str], text: str,
                                                 ignore_case: bool) -> None:
    flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
    fast, plain = re.compile(term(*words), flags), re.compile(plain_term(*words), flags)
    assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_the_builtin_word_cues_keep_their_boundaries() -> None:
    python = next(c for c in LANGUAGES["python"].cues if c.regex.search("use pip here"))
    assert not python.regex.search("a happy pipeline")
    dotnet = next(c for c in LANGUAGES["dotnet"].cues if c.regex.search("in .NET 8"))
    assert not dotnet.regex.search("my network.NET")
