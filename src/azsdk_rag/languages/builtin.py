"""The five built-in languages, read from ``data/<id>.toml``, and the languages we do not serve.

A data file holds one :class:`Language` as TOML: its fields as keys, ``[installer]`` and
``[support_packages]`` as tables, ``manifest_reader`` by its name in :data:`READERS`, and
``cues`` as a list of inline tables in the order the router reads them:

    { names = ["Rust", "cargo"] }                        # whole words: names()
    { name = '\\bExpress\\b', weight = "weak", case_sensitive = true }   # a regex naming it
    { code = '\\bfn\\s+\\w+', label = "fn" }                 # a regex of its code: code()

``weight`` is ``strong`` (the default), ``medium`` or ``weak``. A pattern may be a list of parts
(joined) and may use the shared shapes of :data:`FRAGMENTS` as ``${name}``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

from .cues import COMPOUNDS, MEDIUM, STRONG, WEAK, Cue, code, names, term
from .manifests import READERS, ManifestReader
from .record import Installer, Language

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FRAGMENTS: Mapping[str, str] = MappingProxyType({
    # camelCase: JavaScript option properties and methods, Java methods.
    "camel": r"\b[a-z]{2,}(?:[A-Z][a-z0-9]+)+\b",
    # a hyphenated azure-* name: a pip package or a Maven artifact (not a management one).
    "hyphen_package": r"(?<![\w@/.-])azure-(?!mgmt-|resourcemanager-)[a-z0-9]+(?:-[a-z0-9]+)*\b",
    "compounds": COMPOUNDS,
})
"""Regex shapes several languages' cues share, written once."""

_WEIGHTS = {"strong": STRONG, "medium": MEDIUM, "weak": WEAK}
_FRAGMENT = re.compile(r"\$\{(\w+)\}")


def _pattern(value: str | list[str]) -> str:
    text = value if isinstance(value, str) else "".join(value)

    def fragment(m: re.Match[str]) -> str:
        if m.group(1) not in FRAGMENTS:
            raise ValueError(f"Unknown pattern fragment ${{{m.group(1)}}}.")
        return FRAGMENTS[m.group(1)]

    return _FRAGMENT.sub(fragment, text)


def _cue(row: Mapping[str, Any]) -> Cue:
    if row.get("weight", "strong") not in _WEIGHTS:
        raise ValueError(f"Cue weight must be strong, medium or weak, not {row['weight']!r}.")
    weight, label = _WEIGHTS[row.get("weight", "strong")], row.get("label", "")
    if "names" in row:
        return names(*row["names"], weight=weight, case_sensitive=row.get("case_sensitive", False))
    if "code" in row:
        return code(_pattern(row["code"]), weight, label, row.get("case_sensitive", True))
    if "name" in row:
        case_sensitive = row.get("case_sensitive", False)
        return Cue(_pattern(row["name"]), weight, "name", label, case_sensitive)
    raise ValueError(f"A cue needs 'names', 'name' or 'code': {dict(row)!r}.")


def load_language(text: str, readers: Mapping[str, ManifestReader] = READERS) -> Language:
    """A :class:`Language` from its TOML data (see the module docstring for the keys).

        go = load_language(Path("go.toml").read_text(), {"go": ManifestReader(...)})
    """
    data = tomllib.loads(text)
    reader = data.pop("manifest_reader", "")
    if reader and reader not in readers:
        raise ValueError(f"Unknown manifest reader {reader!r}; known: {', '.join(readers)}.")
    installer = data.pop("installer", None)
    cues = tuple(_cue(row) for row in data.pop("cues", ()))
    support = tuple(data.pop("support_packages", {}).items())
    tuples = ("slash_commands", "fence_tags", "editor_ids", "manifests")
    fields: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
    return Language(
        **fields,
        cues=cues,
        installer=Installer(**installer) if installer else None,
        support_packages=support,
        manifest_reader=readers[reader] if reader else None,
    )


def _builtin(language_id: str) -> Language:
    return load_language((resources.files(__package__) / "data" / f"{language_id}.toml").read_text(
        encoding="utf-8"
    ))


BUILTIN_LANGUAGES: tuple[Language, ...] = tuple(
    _builtin(language_id) for language_id in ("dotnet", "java", "javascript", "python", "rust")
)
DOTNET, JAVA, JAVASCRIPT, PYTHON, RUST = BUILTIN_LANGUAGES

# Languages people ask about that have no SDK here. Naming one means "not one of ours": without
# stronger evidence the router picks no language rather than guess from weak hints. Labels are the
# language names, so a user who registers e.g. Go switches its cue off (see unsupported_cues).
# fmt: off
UNSUPPORTED: tuple[Cue, ...] = (
    Cue(term("golang", "go.mod", "go get"), label="Go"),
    Cue(
        r"\bGo\b(?=\s*(?:[:?!,)]|$|\s+(?:SDK|sdk|code|apps?|application|modules?|services?|"
        r"program|version|client|equivalent|structs?|routines?|with|for)\b))",
        label="Go",
        case_sensitive=True,
    ),
    Cue(r"\b(?:in|with|using|from|for|to|of)\s+Go\b", label="Go", case_sensitive=True),
    Cue(
        r"\berr\s*!=\s*nil\b|\bfunc\s+(?:\(\w+\s+\*?\w+\)\s*)?\w+\([^)\n]*\)\s*[\w(*{]",
        label="Go",
        case_sensitive=True,
    ),
    Cue(r"(?<![\w#+])(?:C\+\+|cpp)(?![\w+])", label="C++"),
    *(
        Cue(term(word), label=word)
        for word in (
            "Ruby", "Rails", "PHP", "Laravel", "Perl", "Dart", "Flutter", "Elixir", "Haskell",
            "Objective-C", "Erlang", "Lua", "COBOL",
        )
    ),
    Cue(r"\bSwift\b", case_sensitive=True, label="Swift"),
)
# fmt: on
