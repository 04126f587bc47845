"""The language evidence in one text, the decision it supports, and the reason a route gives.

Evidence comes from :mod:`azsdk_rag.languages` (so a registered language is weighed like the
built-ins). Two kinds are weighed differently: *names* can name several languages at once ("porting
my Java app to Python" is about both), while *code shapes* compete (a pasted snippet is in one
language, even if ``::`` or ``let`` also occur in another). Weak hints (camelCase names, "Express")
never add a language next to a stronger cue.

    analyse("from azure.identity import DefaultAzureCredential").decide().languages  # ('python',)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from .evidence import PackageEvidence
from .languages import LANGUAGES, MEDIUM, STRONG, WEAK, Cue, fence_language, unsupported_cues
from .types import Signal

MAX_REASON_LABELS = 3
"""A reason quotes at most this many pieces of evidence."""
MAX_CHARS = 12_000
"""Longer texts are read at their start and end only (a pasted log routes as fast as a line)."""

_FENCE_TAG = re.compile(r"^[ \t]*(?:```|~~~)[ \t]*\{?\.?([\w#+.-]+)", re.MULTILINE)
_FENCED_BLOCK = re.compile(r"(?:```|~~~)[^\n]*\n(.*?)(?:```|~~~|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
# an identifier of the question (the table's words) and the words inside one
_IDENT = re.compile(r"(?<![\w$])[A-Za-z_][A-Za-z0-9_]{3,60}(?![\w$])")
_PART = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z0-9]+")


@dataclass(frozen=True)
class Evidence:
    """One cue that matched: which language, how strongly, and the words that showed it."""

    language: str
    weight: int
    kind: Literal["name", "code", "fence"]
    label: str
    start: int
    end: int
    counts: bool = True
    """False for further matches of the same cue: shown in reasons, not weighed again."""


@dataclass(frozen=True)
class Decision:
    """What one text says: ``decisive`` (languages named or shown), ``weak`` (hints only: a
    candidate or none), ``unsupported`` (names a language we have no SDK for) or ``empty``."""

    strength: Literal["decisive", "weak", "unsupported", "empty"]
    languages: tuple[str, ...]
    signal: Signal
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Analysis:
    """The evidence found in one text, and the decision it supports."""

    evidence: tuple[Evidence, ...]
    unsupported: tuple[str, ...]

    def named(self) -> dict[str, list[Evidence]]:
        """Languages named with at least medium weight (names and fence tags): all count."""
        out: dict[str, list[Evidence]] = defaultdict(list)
        for e in self.evidence:
            if e.kind != "code" and e.weight >= MEDIUM:
                out[e.language].append(e)
        return out

    def code_totals(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for e in self.evidence:
            if e.kind == "code" and e.counts:
                totals[e.language] += e.weight
        return totals

    def code_winner(self, min_weight: int = MEDIUM) -> str | None:
        """The one language the code shapes point to, if one clearly leads with a real cue."""
        totals = self.code_totals()
        strongest: dict[str, int] = defaultdict(int)
        for e in self.evidence:
            if e.kind == "code":
                strongest[e.language] = max(strongest[e.language], e.weight)
        ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked or strongest[ranked[0][0]] < min_weight:
            return None
        if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
            return None
        return ranked[0][0]

    def weak_winner(self) -> str | None:
        """The language with the most total evidence, if unique (used when nothing is strong)."""
        totals: dict[str, int] = defaultdict(int)
        for e in self.evidence:
            if e.counts:
                totals[e.language] += e.weight
        ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
            return None
        return ranked[0][0]

    def decide(self) -> Decision:
        named = self.named()
        # Next to a language we do not serve ("C++: std::string ..."), only strong code counts.
        winner = self.code_winner(STRONG if self.unsupported else MEDIUM)
        languages = set(named)
        if winner is not None and (not languages or self._strong_code(winner)):
            languages.add(winner)
        if languages:
            used = tuple(e for e in self.evidence if e.language in languages and e.weight >= MEDIUM)
            signal: Signal = "code" if all(e.kind != "name" for e in used) else "text"
            return Decision("decisive", tuple(sorted(languages)), signal, used)
        if self.unsupported:
            return Decision("unsupported", (), "none", ())
        if self.evidence:
            weak = self.weak_winner()
            used = tuple(e for e in self.evidence if e.language == weak)
            return Decision("weak", (weak,) if weak else (), "text", used)
        return Decision("empty", (), "none", ())

    def _strong_code(self, language: str) -> bool:
        return any(
            e.language == language and e.kind == "code" and e.weight >= STRONG
            for e in self.evidence
        )


def analyse(text: str, *, code_only: bool = False,
            evidence: PackageEvidence | None = None) -> Analysis:
    """Find every cue of every registered language in ``text``.

    Each cue counts once per text (its first match), so a long snippet does not outweigh a named
    language by repetition. ``code_only`` reads only fenced and inline code (for assistant turns).
    Very long texts are read at their start and end only, which keeps routing fast on a pasted log.
    With ``evidence`` (the index's identifier table), an identifier that only one language's
    READMEs show is medium code evidence for that language.
    """
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS * 2 // 3] + "\n" + text[-MAX_CHARS // 3 :]
    if code_only:
        text = "\n".join(_code_parts(text))
    found: list[Evidence] = []
    for lang in tuple(LANGUAGES.values()):  # a snapshot: another thread may register one
        for cue in lang.cues:
            found.extend(_cue_evidence(lang.id, cue, text))
    for m in _FENCE_TAG.finditer(text):
        fenced = fence_language(m.group(1))
        if fenced is not None:
            found.append(
                Evidence(fenced.id, STRONG, "fence", f"```{m.group(1)}", m.start(), m.end())
            )
    if evidence:
        found.extend(_table_evidence(text, evidence))
    unsupported = []
    for cue in unsupported_cues():
        other = cue.regex.search(text)
        if other:
            unsupported.append(cue.label or other.group(0))
    found.sort(key=lambda e: (e.start, -e.end))
    return Analysis(tuple(found), tuple(dict.fromkeys(unsupported)))


def _cue_evidence(language: str, cue: Cue, text: str) -> list[Evidence]:
    """One cue's matches in ``text``: the first only when the cue has a fixed label (it says it
    all), else a few distinct matched words (they are the labels a reason shows)."""
    if cue.label:
        first = cue.regex.search(text)
        matches = [first] if first else []
    else:
        matches = _distinct(cue.regex.finditer(text), MAX_REASON_LABELS)
    return [Evidence(language, cue.weight, cue.kind, cue.label or m.group(0).strip(),
                     m.start(), m.end(), i == 0) for i, m in enumerate(matches)]


def _table_evidence(text: str, evidence: PackageEvidence) -> list[Evidence]:
    """Identifiers of ``text`` that the READMEs of exactly one registered language show."""
    out: list[Evidence] = []
    positions: dict[str, tuple[int, int]] = {}
    for found in _IDENT.finditer(text):
        positions.setdefault(found.group(0), found.span())
    for ident in evidence.known(text):
        languages = [lang for lang in evidence.languages_of(ident) if lang in LANGUAGES]
        if len(languages) != 1:
            continue
        start, end = positions.get(ident, (0, 0))
        name = LANGUAGES[languages[0]].name
        weight = MEDIUM if _parts(ident) >= 3 else WEAK  # AddServiceBusClient, not containerName
        out.append(Evidence(languages[0], weight, "code", f"{ident} (only {name} READMEs)",
                            start, end))
    return out


def _parts(ident: str) -> int:
    """Words in an identifier: ``getChatCompletions`` 3, ``list_blobs`` 2."""
    return len(_PART.findall(ident))


def _distinct(matches: Iterable[re.Match[str]], limit: int) -> list[re.Match[str]]:
    out: dict[str, re.Match[str]] = {}
    for m in matches:
        out.setdefault(m.group(0).strip().lower(), m)
        if len(out) >= limit:
            break
    return list(out.values())


def _code_parts(text: str) -> list[str]:
    """Fence lines and the code inside fences and backticks: what an answer *shows*, not says."""
    parts = [m.group(0) for m in _FENCE_TAG.finditer(text)]
    parts += [m.group(1) for m in _FENCED_BLOCK.finditer(text)]
    without_blocks = _FENCED_BLOCK.sub(" ", text)
    parts += [m.group(1) for m in _INLINE_CODE.finditer(without_blocks)]
    return parts


# -- reasons ---------------------------------------------------------------------------------------


def display(ids: Iterable[str]) -> str:
    """Language ids as a reader's list of names: ``python, java`` -> ``Python and Java``."""
    names = []
    for language_id in ids:
        lang = LANGUAGES.get(language_id)
        names.append(lang.name if lang else language_id)
    return _join(names)


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _labels(evidence: Iterable[Evidence]) -> list[str]:
    """Distinct labels, names before code, skipping evidence inside an already shown match
    ("Node.js" is not also "a .js file")."""
    ordered = sorted(evidence, key=lambda e: (e.kind == "code", e.start, -e.end))
    shown: list[Evidence] = []
    for e in ordered:
        if any(s.start <= e.start and e.end <= s.end for s in shown):
            continue
        if all(s.label != e.label for s in shown):
            shown.append(e)
    return [e.label for e in shown[:MAX_REASON_LABELS]]


def reason(decision: Decision) -> str:
    """What a route says about its decision: ``mentions 'Node.js'``, ``code looks like ...``."""
    quoted = [f"'{label}'" for label in _labels(decision.evidence)]
    if decision.strength == "weak":
        return f"only weak hints point to {display(decision.languages)}: {_join(quoted)}"
    if decision.signal == "code":
        return f"code looks like {display(decision.languages)}: {_join(quoted)}"
    return f"mentions {_join(quoted)}"
