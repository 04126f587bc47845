"""Picks the SDK language(s) a question is about, from weighted evidence rather than first match.

Order of authority: a forced language, then a leading slash command, then what the question
itself names or shows (language, tool, framework, file and package names; code-fence tags; the
shape of pasted code and error messages: :mod:`azsdk_rag.route_analysis`), then the conversation
(the latest earlier turn that named a language), then the editor's hint, and last, when only weak
hints remain, an optional LLM classifier (:mod:`azsdk_rag.route_classifier`). Weak hints never
override the conversation.

:func:`route` is the pure rule-based function; :class:`LanguageRouter` wraps it as a LangChain
Runnable and adds the optional classifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import ConfigDict

from .evidence import PackageEvidence, current
from .languages import editor_language, manifest_languages, resolve_language, slash_command
from .route_analysis import MAX_REASON_LABELS, Analysis, Evidence, analyse, display, reason
from .route_classifier import (
    LanguageChoice,
    classified,
    classifier_failed,
    classifier_prompt,
    settle,
)
from .turns import (
    History,
    HistoryItem,
    Role,
    RouterInput,
    normalise_history,
    parse_router_input,
)
from .types import Route

# A question of API names only (``SasBuilder``) says nothing to the rules but may to a classifier.
_API_NAME = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+\b|\b[a-z]+(?:[A-Z][a-z0-9]+)+\b")


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
                return decision.languages, f"{where} was about {display(decision.languages)}"
        else:
            decision = analyse(text, code_only=True, evidence=evidence).decide()
            if decision.strength == "decisive" and len(decision.languages) == 1:
                return decision.languages, (f"{where} showed {display(decision.languages)} code")
    return None


def _explicit(question: str, language: str | None) -> tuple[str, _Outcome | None]:
    """The search query, and the route when a forced language or a slash command settles it."""
    command = slash_command(question)
    query = question.strip()
    if command is not None:
        query = question.lstrip()[len(command[1]) :].strip()
    if language:
        lang = resolve_language(language)
        why = f"language forced to {lang.name}"
        return query, _Outcome(Route((lang.id,), query, "forced", why))
    if command is not None:
        lang, typed = command
        return query, _Outcome(Route((lang.id,), query, "slash", f"slash command {typed}"))
    return query, None


def _route(question: str, history: Sequence[tuple[Role, str]], language: str | None,
           evidence: PackageEvidence | None = None) -> _Outcome:
    if not isinstance(question, str):
        raise ValueError("The question must be a string.")
    query, settled = _explicit(question, language)
    if settled is not None:
        return settled
    # An unknown "/word" stays in the text: "/netflix" matches no cue (word boundaries), while
    # "/python3" still says Python.
    decision = analyse(question, evidence=evidence).decide()
    if decision.strength == "decisive":
        return _Outcome(Route(decision.languages, query, decision.signal, reason(decision)))
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
                Route(decision.languages, query, decision.signal, reason(decision)), pending=True
            )
        return _Outcome(
            Route((), query, "none", "weak hints disagree: all languages"), pending=True
        )
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
        shown = ", ".join(files[:MAX_REASON_LABELS])
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

        route("/py upload a blob").languages  # ('python',)
    """
    outcome = _route(question, normalise_history(history), language, evidence)
    return _with_hint(outcome, hint).route


class LanguageRouter(RunnableSerializable[RouterInput, Route]):
    """A Runnable from ``{"question", "history"?, "language"?}`` (or a plain string) to a Route.

    ``classifier`` is optional: a Runnable (an LLM with structured output, see
    :class:`LanguageChoice`) consulted only when the rules find nothing but weak hints and the
    conversation does not settle it. If it fails, the rules' answer stands.

        LanguageRouter().invoke({"question": "upload a blob", "language": "java"}).languages
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
        question, history, language, hint = parse_router_input(value)
        return _with_hint(_route(question, history, language, current(self.evidence)), hint)

    def _pending(self, value: Any) -> tuple[_Outcome, str | None]:
        """The rules' outcome, and the classifier's prompt when it should be asked."""
        outcome = self._outcome(value)
        if not outcome.pending or self.classifier is None:
            return outcome, None
        return outcome, classifier_prompt(outcome.route.query, outcome.route.languages)

    def _run(
        self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Route:
        outcome, prompt = self._pending(value)
        classifier = self.classifier
        if prompt is None or classifier is None:
            return outcome.route
        return settle(outcome.route, lambda: classifier.invoke(prompt, _child(config, run_manager)))

    async def _arun(
        self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> Route:
        outcome, prompt = self._pending(value)
        if prompt is None or self.classifier is None:
            return outcome.route
        try:
            answer = await self.classifier.ainvoke(prompt, _child(config, run_manager))
        except Exception as exc:
            return classifier_failed(outcome.route, exc)
        return classified(outcome.route, answer)

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


def _child(config: RunnableConfig,
           run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun
           ) -> RunnableConfig:
    return patch_config(config, callbacks=run_manager.get_child())


__all__ = [
    "Analysis",
    "Evidence",
    "History",
    "HistoryItem",
    "LanguageChoice",
    "LanguageRouter",
    "analyse",
    "classifier_prompt",
    "normalise_history",
    "route",
]
