"""The optional LLM classifier's side of routing: its prompt, its answer read back, the route.

The rules consult a classifier only when they find nothing but weak hints (see
:class:`~azsdk_rag.router.LanguageRouter`); any answer shape a chat model or a structured-output
runnable gives is read, and one it cannot read leaves the rules' route standing.

    classifier_prompt("upload a blob", ["python"])  # "Which Azure SDK programming language(s) ..."
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from .languages import LANGUAGES, resolve_language
from .route_analysis import display
from .turns import message_text
from .types import Route

log = logging.getLogger(__name__)


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


def _raw_choice(output: Any) -> Iterable[Any]:
    """The items of a classifier's answer, whatever shape it came in."""
    if isinstance(output, BaseMessage):
        output = message_text(output.content)
    if isinstance(output, Route):
        return output.languages
    if isinstance(output, Mapping):
        return output.get("languages") or ()
    if hasattr(output, "languages"):
        return output.languages or ()
    if isinstance(output, str):
        return [w for w in re.split(r"[\s,;\[\]\"']+", output) if w]
    if isinstance(output, (list, tuple, set)):
        return output
    raise ValueError(f"unexpected classifier output {type(output).__name__}")


def parse_choice(output: Any) -> tuple[str, ...]:
    """The language ids a classifier answered with (sorted; names it does not know dropped)."""
    ids: list[str] = []
    for item in _raw_choice(output):
        if not isinstance(item, str):
            continue
        try:
            ids.append(resolve_language(item).id)
        except ValueError:
            continue
    return tuple(sorted(set(ids)))


def classified(fallback: Route, output: Any) -> Route:
    """The route a classifier's answer gives, or ``fallback`` (the rules') when unreadable."""
    try:
        languages = parse_choice(output)
    except ValueError as exc:
        log.warning("Language classifier answer ignored (%s); using the rules.", exc)
        return fallback
    reason = (
        f"classifier picked {display(languages)}"
        if languages
        else "classifier found no language: all languages"
    )
    return Route(languages, fallback.query, "llm", reason)


def classifier_failed(fallback: Route, exc: BaseException) -> Route:
    """The rules' route, when the classifier raised (logged without the message: it may hold
    a key or a prompt)."""
    log.warning("Language classifier failed (%s); using the rules.", type(exc).__name__)
    return fallback


def settle(fallback: Route, ask: Callable[[], Any]) -> Route:
    """The route the classifier's answer to ``ask()`` gives; the rules' when it raises."""
    try:
        answer = ask()
    except Exception as exc:  # the rules' answer is a fine fallback
        return classifier_failed(fallback, exc)
    return classified(fallback, answer)
