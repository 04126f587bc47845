"""The API's events: made from what the chains stream, and read back into one answer.

``AzureSdkRag.stream``/``astream`` feed every chunk of a language chain to an
:class:`EventCollector` and yield what it returns:

    collect = EventCollector()
    for chunk in chain.stream(inputs):
        yield from collect.feed(chunk)     # SourcesEvent, then DeltaEvents
    collect.text, collect.sources          # the whole answer

Every consumer of a stream (``ask``/``aask``, the socket wires, the CLI) reads it with an
:class:`AnswerSoFar`, so "the answer these events add up to" is worked out once.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator
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


class AnswerSoFar:
    """An answer's events read so far: the route, the sources, the text streamed, the ``done``.

        seen = AnswerSoFar()
        for event in rag.stream("/python upload a blob"):
            if seen.take(event):
                show(event)                # route, sources, non-empty deltas
        seen.answer("/python upload a blob")
    """

    def __init__(self) -> None:
        self.route: Route | None = None
        self.sources: list[Source] = []
        self.parts: list[str] = []
        self.done: Answer | None = None

    def take(self, event: Event) -> bool:
        """Note ``event``; True when it is one to show as it comes (route, sources, a non-empty
        delta), False for ``done`` and empty deltas."""
        if isinstance(event, DoneEvent):
            self.done = event.answer
            return False
        if isinstance(event, RouteEvent):
            self.route = event.route
        elif isinstance(event, SourcesEvent):
            self.sources = list(event.sources)
        elif isinstance(event, DeltaEvent) and event.text:
            self.parts.append(event.text)
        else:
            return False
        return True

    @property
    def streamed(self) -> str:
        """The deltas' text joined."""
        return "".join(self.parts)

    def answer(self, question: str = "") -> Answer:
        """The ``done`` event's answer; without one (a stream cut short), what was seen."""
        if self.done is not None:
            return self.done
        route = self.route or Route((), question, "none", "no route was reported")
        return Answer(self.streamed, route, self.sources)


def answer_of(events: Iterable[Event], question: str = "") -> Answer:
    """The whole answer a stream adds up to, read to its end.

        answer_of(rag.stream("/python upload a blob")).text
    """
    seen = AnswerSoFar()
    for event in events:
        seen.take(event)
    return seen.answer(question)


async def aanswer_of(events: AsyncIterable[Event], question: str = "") -> Answer:
    """The asynchronous twin of :func:`answer_of`.

        (await aanswer_of(rag.astream("/python upload a blob"))).text
    """
    seen = AnswerSoFar()
    async for event in events:
        seen.take(event)
    return seen.answer(question)
