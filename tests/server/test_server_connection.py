"""What both wires share (server/connection.py): one answer read from the RAG's event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from azsdk_rag.server.connection import answer_from
from azsdk_rag.server.framing import NO_ANSWER
from azsdk_rag.types import Answer, DeltaEvent, DoneEvent, Route, RouteEvent, Source, SourcesEvent

ROUTE = Route(("python",), "q", "text", "names Python")
SOURCE = Source("python", "azure-storage-blob", "Blobs", "https://example.test/blob", 0.8)


class Stream:
    """The RAG's stream: yields ``events`` (raising ``fail`` after them) and records its close."""

    def __init__(self, *events: Any, fail: Exception | None = None) -> None:
        self.events, self.fail, self.closed, self.read_to_end = events, fail, False, False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._run()

    async def _run(self) -> AsyncIterator[Any]:
        for event in self.events:
            yield event
        if self.fail is not None:
            raise self.fail
        self.read_to_end = True

    async def aclose(self) -> None:
        self.closed = True


async def collect(stream: Stream) -> tuple[Answer, list[Any]]:
    seen: list[Any] = []

    async def on_event(event: Any) -> None:
        seen.append(event)

    return await answer_from(stream, "q", on_event), seen  # type: ignore[arg-type]


async def test_events_are_forwarded_and_the_final_answer_returned() -> None:
    final = Answer("Use upload_blob.", ROUTE, [SOURCE])
    stream = Stream(RouteEvent(ROUTE), SourcesEvent([SOURCE]), DeltaEvent("Use "),
                    DeltaEvent(""), DeltaEvent("upload_blob."), DoneEvent(final), "unknown")
    answer, seen = await collect(stream)
    assert answer == final
    assert [type(e).__name__ for e in seen] == ["RouteEvent", "SourcesEvent", "DeltaEvent",
                                                "DeltaEvent"]  # the empty delta is not sent
    assert stream.read_to_end and stream.closed  # read past "done": the RAG saves history then


async def test_a_blank_final_answer_is_replaced_by_the_deltas() -> None:
    answer, _ = await collect(Stream(DeltaEvent("streamed"), DoneEvent(Answer("  ", ROUTE))))
    assert answer == Answer("streamed", ROUTE)


async def test_without_done_the_route_and_sources_seen_make_the_answer() -> None:
    answer, _ = await collect(Stream(RouteEvent(ROUTE), SourcesEvent([SOURCE]), DeltaEvent("x")))
    assert answer == Answer("x", ROUTE, [SOURCE])
    answer, _ = await collect(Stream(DeltaEvent("x")))
    assert answer.route == Route((), "q", "none", "no route was reported")


async def test_an_empty_answer_is_never_blank_and_the_deltas_add_up() -> None:
    answer, seen = await collect(Stream(RouteEvent(ROUTE), DoneEvent(Answer("", ROUTE))))
    assert answer == Answer(NO_ANSWER, ROUTE)
    assert seen[-1] == DeltaEvent(NO_ANSWER)
    assert (await answer_from(Stream(), "q")).text == NO_ANSWER  # no listener: just the text


async def test_the_stream_is_closed_when_it_fails() -> None:
    stream = Stream(DeltaEvent("x"), fail=RuntimeError("model down"))
    with pytest.raises(RuntimeError):
        await collect(stream)
    assert stream.closed
