"""What the chains stream, as the API's events: sources, answer deltas, and the whole text.

``AzureSdkRag.stream``/``astream`` feed every chunk of a language chain to an
:class:`EventCollector` and yield what it returns:

    collect = EventCollector()
    for chunk in chain.stream(inputs):
        yield from collect.feed(chunk)     # SourcesEvent, then DeltaEvents
    collect.text, collect.sources          # the whole answer
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.prompt_values import PromptValue

from .retrieval import to_sources
from .types import (
    Answer,
    DeltaEvent,
    DoneEvent,
    Event,
    Role,
    Route,
    RouteEvent,
    Source,
    SourcesEvent,
)

EMPTY_QUESTION = "Ask a question about an Azure SDK, e.g. `/python upload a file to blob storage`."
EMPTY_ROUTE = Route((), "", "none", "empty question")

_ROLES: dict[str, Role] = {"system": "system", "human": "user", "ai": "assistant"}


def prompt_messages(prompt: PromptValue) -> list[tuple[Role, str]]:
    """A prompt value as (role, text) pairs: system, history, then excerpts and question."""
    return [(_ROLES.get(message.type, "user"), message.text)
            for message in prompt.to_messages()]


def empty_question() -> Iterator[Event]:
    yield RouteEvent(EMPTY_ROUTE)
    yield DoneEvent(Answer(EMPTY_QUESTION, EMPTY_ROUTE, []))


class EventCollector:
    """Turns a chain's streamed ``{"docs"}`` / ``{"answer"}`` chunks into events and a whole."""

    def __init__(self) -> None:
        self.sources: list[Source] = []
        self.parts: list[str] = []
        self.response_metadata: dict[str, Any] = {}

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        if "docs" in chunk:
            self.sources = to_sources(chunk["docs"])
            events.append(SourcesEvent(self.sources))
        if "answer" in chunk:
            piece = chunk["answer"]
            text = piece if isinstance(piece, str) else getattr(piece, "text", str(piece))
            self.response_metadata.update(getattr(piece, "response_metadata", None) or {})
            if text:
                self.parts.append(text)
                events.append(DeltaEvent(text))
        return events

    @property
    def text(self) -> str:
        return "".join(self.parts)
