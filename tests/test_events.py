"""Reading a stream back into one answer: what ask/aask, the wires and the CLI all rely on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from azsdk_rag.events import AnswerSoFar, aanswer_of, answer_of
from azsdk_rag.types import (
    Answer,
    DeltaEvent,
    DoneEvent,
    Event,
    Route,
    RouteEvent,
    Source,
    SourcesEvent,
)

ROUTE = Route(("python",), "upload a blob", "slash", "/python")
SOURCE = Source("python", "azure-storage-blob", "Upload", "https://example.invalid/readme", 1.0)


def _events(done: bool) -> list[Event]:
    events: list[Event] = [RouteEvent(ROUTE), SourcesEvent([SOURCE]), DeltaEvent("Use "),
                           DeltaEvent(""), DeltaEvent("upload_blob.")]
    if done:
        events.append(DoneEvent(Answer("The whole answer.", ROUTE, [SOURCE])))
    return events


def test_the_done_events_answer_is_the_answer() -> None:
    assert answer_of(_events(done=True)).text == "The whole answer."


def test_a_stream_cut_short_adds_up_to_what_it_said() -> None:
    answer = answer_of(_events(done=False), "upload a blob")
    assert (answer.text, answer.route, answer.sources) == ("Use upload_blob.", ROUTE, [SOURCE])


def test_without_a_route_the_question_stands_in() -> None:
    answer = answer_of([DeltaEvent("hi")], "hello?")
    assert answer.route.query == "hello?" and answer.route.languages == ()


def test_only_route_sources_and_non_empty_deltas_are_shown() -> None:
    seen = AnswerSoFar()
    shown = [event.type for event in _events(done=True) if seen.take(event)]
    assert shown == ["route", "sources", "delta", "delta"]
    assert seen.streamed == "Use upload_blob." and seen.done is not None


def test_the_async_reader_matches_the_sync_one() -> None:
    async def stream() -> AsyncIterator[Event]:
        for event in _events(done=False):
            yield event

    assert asyncio.run(aanswer_of(stream(), "q")) == answer_of(_events(done=False), "q")
