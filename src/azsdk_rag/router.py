"""Picks the SDK language(s) a question is about, from weighted evidence rather than first match.

Order of authority: a forced language, then a leading slash command, then what the question
itself names or shows (language, tool, framework, file and package names; code-fence tags; the
shape of pasted code and error messages), then the conversation (the latest earlier turn that
named a language), and last, when only weak hints remain, an optional LLM classifier.

Evidence comes from :mod:`azsdk_rag.languages` (so a registered language is routed like the
built-ins). Two kinds are weighed differently: *names* can name several languages at once ("porting
my Java app to Python" is about both), while *code shapes* compete (a pasted snippet is in one
language, even if ``::`` or ``let`` also occur in another). Weak hints (camelCase names, "Express")
never add a language next to a stronger cue, and never override the conversation.

:func:`route` is the pure rule-based function; :class:`LanguageRouter` wraps it as a LangChain
Runnable and adds the optional classifier.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import BaseModel, ConfigDict, Field

from azsdk_rag.evidence import PackageEvidence, current
from azsdk_rag.languages import (
    LANGUAGES,
    MEDIUM,
    STRONG,
    WEAK,
    editor_language,
    fence_language,
    manifest_languages,
    resolve_language,
    slash_command,
    unsupported_cues,
)
from azsdk_rag.types import Route, Signal

log = logging.getLogger(__name__)

Role = Literal["user", "assistant"]
RouterInput = str | Mapping[str, Any]
HistoryItem = Mapping[str, Any] | BaseMessage | Sequence[str]
"""One turn: ``{"role", "content"}``, a LangChain message, or a ``(role, text)`` pair."""
History = Sequence[HistoryItem]
"""A conversation, oldest turn first, in any of those forms (what every history argument takes)."""

_FENCE_TAG = re.compile(r"^[ \t]*(?:```|~~~)[ \t]*\{?\.?([\w#+.-]+)", re.MULTILINE)
_FENCED_BLOCK = re.compile(r"(?:```|~~~)[^\n]*\n(.*?)(?:```|~~~|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_API_NAME = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+\b|\b[a-z]+(?:[A-Z][a-z0-9]+)+\b")
_IDENT = re.compile(r"(?<![\w$])[A-Za-z_][A-Za-z0-9_]{3,60}(?![\w$])")
_PART = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z0-9]+")
_MAX_REASON_LABELS = 3
_MAX_CHARS = 12_000


# -- evidence --------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Decision:
    """What one text says: ``decisive`` (languages named or shown), ``weak`` (hints only: a
    candidate or none), ``unsupported`` (names a language we have no SDK for) or ``empty``."""

    strength: Literal["decisive", "weak", "unsupported", "empty"]
    languages: tuple[str, ...]
    signal: Signal
    evidence: tuple[Evidence, ...]


def analyse(text: str, *, code_only: bool = False,
            evidence: PackageEvidence | None = None) -> Analysis:
    """Find every cue of every registered language in ``text``.

    Each cue counts once per text (its first match), so a long snippet does not outweigh a named
    language by repetition. ``code_only`` reads only fenced and inline code (for assistant turns).
    Very long texts are read at their start and end only, which keeps routing fast on a pasted log.
    With ``evidence`` (the index's identifier table), an identifier that only one language's
    READMEs show is medium code evidence for that language.
    """
    if len(text) > _MAX_CHARS:
        text = text[: _MAX_CHARS * 2 // 3] + "\n" + text[-_MAX_CHARS // 3 :]
    if code_only:
        text = "\n".join(_code_parts(text))
    found: list[Evidence] = []
    for lang in tuple(LANGUAGES.values()):  # a snapshot: another thread may register one
        for cue in lang.cues:
            if cue.label:  # one fixed label: the first match says it all
                m = cue.regex.search(text)
                matches = [m] if m else []
            else:  # the matched words are the labels: keep a few distinct ones for the reason
                matches = _distinct(cue.regex.finditer(text), _MAX_REASON_LABELS)
            for i, m in enumerate(matches):
                label = cue.label or m.group(0).strip()
                found.append(
                    Evidence(lang.id, cue.weight, cue.kind, label, m.start(), m.end(), i == 0)
                )
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
        m = cue.regex.search(text)
        if m:
            unsupported.append(cue.label or m.group(0))
    found.sort(key=lambda e: (e.start, -e.end))
    return Analysis(tuple(found), tuple(dict.fromkeys(unsupported)))


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


def _display(ids: Iterable[str]) -> str:
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
    return [e.label for e in shown[:_MAX_REASON_LABELS]]


def _reason(decision: Decision) -> str:
    quoted = [f"'{label}'" for label in _labels(decision.evidence)]
    if decision.strength == "weak":
        return f"only weak hints point to {_display(decision.languages)}: {_join(quoted)}"
    if decision.signal == "code":
        return f"code looks like {_display(decision.languages)}: {_join(quoted)}"
    return f"mentions {_join(quoted)}"


# -- input -----------------------------------------------------------------------------------------


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)
    return ""


_ROLES: dict[str, Role] = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
}


def normalise_history(history: Iterable[HistoryItem] | None) -> list[tuple[Role, str]]:
    """History as ``(role, text)`` pairs, oldest first; system and tool turns are dropped.

    Accepts ``{"role", "content"}`` dicts, LangChain messages and ``(role, content)`` pairs.
    """
    if history is None:
        return []
    if isinstance(history, (str, bytes, Mapping)):
        raise ValueError("history must be a list of turns, oldest first.")
    turns: list[tuple[Role, str]] = []
    for i, item in enumerate(history):
        if isinstance(item, BaseMessage):
            role: Role | None = (
                "user"
                if isinstance(item, HumanMessage)
                else ("assistant" if isinstance(item, AIMessage) else None)
            )
            text = _message_text(item.content)
        elif isinstance(item, Mapping):
            raw_role, content = item.get("role"), item.get("content")
            if not isinstance(raw_role, str) or not isinstance(content, (str, list)):
                raise ValueError(f"history turn {i} needs a string 'role' and a string 'content'.")
            role = _ROLES.get(raw_role.lower())
            text = _message_text(content)
        elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
            raw_role, content = item
            if not isinstance(raw_role, str) or not isinstance(content, str):
                raise ValueError(f"history turn {i} must be a (role, content) pair of strings.")
            role = _ROLES.get(raw_role.lower())
            text = content
        else:
            raise ValueError(
                f"history turn {i} must be a {{'role', 'content'}} dict or a chat message, "
                f"not {type(item).__name__}."
            )
        if role is not None and text.strip():
            turns.append((role, text))
    return turns


def _parse_input(value: Any) -> tuple[str, list[tuple[Role, str]], str | None, Any]:
    if isinstance(value, str):
        return value, [], None, None
    if isinstance(value, BaseMessage):
        return _message_text(value.content), [], None, None
    if not isinstance(value, Mapping):
        raise ValueError(
            "The language router takes a question string or a dict with a 'question' string, "
            f"not {type(value).__name__}."
        )
    question = value.get("question")
    if not isinstance(question, str):
        raise ValueError("The language router's input needs a 'question' string.")
    language = value.get("language")
    if language is not None and not isinstance(language, str):
        raise ValueError("'language' must be a language id such as 'python'.")
    return question, normalise_history(value.get("history")), language or None, value.get("hint")


# -- the rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    """A finished route, or (``pending``) a weak decision the classifier may settle."""

    route: Route
    pending: bool = False
    named_other: bool = False
    """The text named a language with no SDK here (a hint must not replace it)."""


def _from_history(turns: Sequence[tuple[Role, str]], evidence: PackageEvidence | None = None
                  ) -> tuple[tuple[str, ...], str] | None:
    """Languages of the latest earlier turn that named some, newest first, with a reason.

    User turns count in full. Assistant turns count only through the code they show (fence tags,
    fenced or inline code) and only when it is in one language: an answer that showed a Python
    snippet carries the chat on in Python, an overview in three languages does not narrow it.
    A user turn that names a language we have no SDK for ends the search with no language.
    """
    for index in range(len(turns) - 1, -1, -1):
        role, text = turns[index]
        where = "previous turn" if index == len(turns) - 1 else "an earlier turn"
        if role == "user":
            command = slash_command(text)
            if command is not None:
                return (command[0].id,), f"{where} was about {command[0].name} ({command[1]})"
            decision = analyse(text, evidence=evidence).decide()
            if decision.strength == "unsupported":
                return (), f"{where} named a language with no SDK here"
            if decision.languages:
                return decision.languages, f"{where} was about {_display(decision.languages)}"
        else:
            decision = analyse(text, code_only=True, evidence=evidence).decide()
            if decision.strength == "decisive" and len(decision.languages) == 1:
                return decision.languages, (f"{where} showed {_display(decision.languages)} code")
    return None


def _route(question: str, history: Sequence[tuple[Role, str]], language: str | None,
           evidence: PackageEvidence | None = None) -> _Outcome:
    if not isinstance(question, str):
        raise ValueError("The question must be a string.")
    command = slash_command(question)
    query = question.strip()
    if command is not None:
        query = question.lstrip()[len(command[1]) :].strip()
    if language:
        lang = resolve_language(language)
        return _Outcome(Route((lang.id,), query, "forced", f"language forced to {lang.name}"))
    if command is not None:
        lang, typed = command
        return _Outcome(Route((lang.id,), query, "slash", f"slash command {typed}"))

    # An unknown "/word" stays in the text: "/netflix" matches no cue (word boundaries), while
    # "/python3" still says Python.
    decision = analyse(question, evidence=evidence).decide()
    if decision.strength == "decisive":
        return _Outcome(Route(decision.languages, query, decision.signal, _reason(decision)))
    if decision.strength == "unsupported":
        why = "names a language with no SDK here: all languages"
        return _Outcome(Route((), query, "none", why), named_other=True)
    carried = _from_history(history, evidence)
    if carried is not None:
        languages, why = carried
        if not languages:
            return _Outcome(Route((), query, "history", f"follow-up: {why}: all languages"))
        return _Outcome(Route(languages, query, "history", f"follow-up: {why}"))
    if decision.strength == "weak":
        if decision.languages:
            return _Outcome(
                Route(decision.languages, query, decision.signal, _reason(decision)), pending=True
            )
        return _Outcome(
            Route((), query, "none", "weak hints disagree: all languages"), pending=True
        )
    # API names alone (``SasBuilder``) say nothing to the rules but may to a classifier.
    return _Outcome(
        Route((), query, "none", "no language named: all languages"),
        pending=bool(_API_NAME.search(question)),
    )


def _hint_parts(hint: Any) -> tuple[str, tuple[str, ...]]:
    """``(languageId, manifests)`` of a hint: a :class:`~azsdk_rag.types.Hint`-like object or a
    mapping with ``languageId`` / ``language_id`` and ``manifests``; anything else is no hint."""
    if isinstance(hint, Mapping):
        editor = hint.get("languageId", hint.get("language_id"))
        manifests = hint.get("manifests")
    else:
        editor = getattr(hint, "language_id", None)
        manifests = getattr(hint, "manifests", None)
    editor = editor if isinstance(editor, str) else ""
    if isinstance(manifests, str) or not isinstance(manifests, Iterable):
        manifests = ()
    return editor, tuple(m for m in manifests if isinstance(m, str))


def _base_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _with_hint(outcome: _Outcome, hint: Any) -> _Outcome:
    """The last step: when nothing (text, code, history) chose a language, the editor's language,
    or else a workspace whose manifests are all one language's, decides."""
    if hint is None or outcome.route.languages or outcome.route.signal != "none":
        return outcome
    if outcome.named_other:
        return outcome
    editor, manifests = _hint_parts(hint)
    query = outcome.route.query
    lang = editor_language(editor) if editor else None
    if lang is not None:
        return _Outcome(Route((lang.id,), query, "hint", f"editor: {editor.strip().lower()}"))
    found = manifest_languages(manifests)
    if len(found) == 1:
        files = sorted({name for name in map(_base_name, manifests) if found[0].has_manifest(name)})
        shown = ", ".join(files[:_MAX_REASON_LABELS])
        return _Outcome(Route((found[0].id,), query, "hint", f"workspace: {shown}"))
    return outcome


def route(
    question: str,
    history: Iterable[HistoryItem] | None = (),
    language: str | None = None,
    hint: Any = None,
    evidence: PackageEvidence | None = None,
) -> Route:
    """The languages ``question`` is about (rules only, no model), given the chat so far.

    ``history`` is oldest first; ``language`` (an id, name or slash command) forces the choice.
    ``hint`` (the editor's ``languageId`` and the workspace's manifests) is used only when the
    question and the chat name no language. ``evidence`` is the index's identifier table
    (:class:`~azsdk_rag.evidence.PackageEvidence`): identifiers one language's READMEs show.
    """
    outcome = _route(question, normalise_history(history), language, evidence)
    return _with_hint(outcome, hint).route


# -- the optional classifier -----------------------------------------------------------------------


class LanguageChoice(BaseModel):
    """Structured output for a classifier LLM: ``llm.with_structured_output(LanguageChoice)``."""

    languages: list[str] = Field(
        default_factory=list,
        description="Ids of the SDK languages the question is about; empty if it names none.",
    )


def classifier_prompt(question: str, candidates: Sequence[str]) -> str:
    """The prompt sent to the classifier: the question and the ids it may answer with."""
    options = ", ".join(f"{lang.id} ({lang.name})" for lang in LANGUAGES.values())
    hint = f" Weak hints suggest: {', '.join(candidates)}." if candidates else ""
    return (
        "Which Azure SDK programming language(s) is this developer question about? "
        f"Choose from: {options}. Answer with the ids only, and with an empty list when the "
        f"question does not say or imply a language.{hint}\n\nQuestion:\n{question}"
    )


def _parse_choice(output: Any) -> tuple[str, ...]:
    if isinstance(output, BaseMessage):
        output = _message_text(output.content)
    if isinstance(output, Route):
        raw: Iterable[Any] = output.languages
    elif isinstance(output, Mapping):
        raw = output.get("languages") or ()
    elif hasattr(output, "languages"):
        raw = output.languages or ()
    elif isinstance(output, str):
        raw = [w for w in re.split(r"[\s,;\[\]\"']+", output) if w]
    elif isinstance(output, (list, tuple, set)):
        raw = output
    else:
        raise ValueError(f"unexpected classifier output {type(output).__name__}")
    ids: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            continue
        try:
            ids.append(resolve_language(item).id)
        except ValueError:
            continue
    return tuple(sorted(set(ids)))


def _classified(outcome: _Outcome, output: Any) -> Route:
    fallback = outcome.route
    try:
        languages = _parse_choice(output)
    except ValueError as exc:
        log.warning("Language classifier answer ignored (%s); using the rules.", exc)
        return fallback
    reason = (
        f"classifier picked {_display(languages)}"
        if languages
        else "classifier found no language: all languages"
    )
    return Route(languages, fallback.query, "llm", reason)


# -- the Runnable ----------------------------------------------------------------------------------


class LanguageRouter(RunnableSerializable[RouterInput, Route]):
    """A Runnable from ``{"question", "history"?, "language"?}`` (or a plain string) to a Route.

    ``classifier`` is optional: a Runnable (an LLM with structured output, see
    :class:`LanguageChoice`) consulted only when the rules find nothing but weak hints and the
    conversation does not settle it. If it fails, the rules' answer stands.
    """

    classifier: Runnable[Any, Any] | None = None
    evidence: Any = None
    """The index's :class:`~azsdk_rag.evidence.PackageEvidence` (or an ``EvidenceSource``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def InputType(self) -> Any:
        return RouterInput

    @property
    def OutputType(self) -> type[Route]:
        return Route

    def _outcome(self, value: Any) -> _Outcome:
        question, history, language, hint = _parse_input(value)
        return _with_hint(_route(question, history, language, current(self.evidence)), hint)

    def _run(
        self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Route:
        outcome = self._outcome(value)
        if not outcome.pending or self.classifier is None:
            return outcome.route
        prompt = classifier_prompt(outcome.route.query, outcome.route.languages)
        try:
            output = self.classifier.invoke(
                prompt, patch_config(config, callbacks=run_manager.get_child())
            )
        except Exception as exc:  # the rules' answer is a fine fallback
            log.warning("Language classifier failed (%s); using the rules.", type(exc).__name__)
            return outcome.route
        return _classified(outcome, output)

    async def _arun(
        self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> Route:
        outcome = self._outcome(value)
        if not outcome.pending or self.classifier is None:
            return outcome.route
        prompt = classifier_prompt(outcome.route.query, outcome.route.languages)
        try:
            output = await self.classifier.ainvoke(
                prompt, patch_config(config, callbacks=run_manager.get_child())
            )
        except Exception as exc:
            log.warning("Language classifier failed (%s); using the rules.", type(exc).__name__)
            return outcome.route
        return _classified(outcome, output)

    def invoke(
        self,
        input: RouterInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Route:
        return self._call_with_config(self._run, input, config, **kwargs)

    async def ainvoke(
        self,
        input: RouterInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Route:
        return await self._acall_with_config(self._arun, input, config, **kwargs)


__all__ = [
    "Analysis",
    "Evidence",
    "LanguageChoice",
    "LanguageRouter",
    "analyse",
    "classifier_prompt",
    "normalise_history",
    "route",
]
