"""A deterministic, scripted :class:`~azsdk_rag.types.RagService` for the socket adapters.

It streams exactly what the real RAG streams (route, sources, deltas, done) with a configurable
answer, number of deltas and delay per delta, keeps per-session history (the answer says which
turn of its session it is, so tests can see that sessions are separate) and records every call
and every stream it opened and closed. ``aretrieve_context`` (the JSON-RPC ``retrieve``) returns the
same route and sources with scripted messages. A few magic questions script the awkward cases.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from azsdk_rag.errors import ModelError
from azsdk_rag.types import (
    Answer,
    DeltaEvent,
    DoneEvent,
    Event,
    Hint,
    Retrieval,
    Role,
    Route,
    RouteEvent,
    Source,
    SourcesEvent,
    Turns,
)

ERROR_QUESTION = "please fail"
"""Raises :class:`ModelError` (a user-safe :class:`AzsdkRagError`) after the route."""
CRASH_QUESTION = "please crash"
"""Raises a ``RuntimeError`` whose message holds :data:`SECRET` (it must never reach a client)."""
EMPTY_QUESTION = "please say nothing"
"""Streams no delta and finishes with an empty answer."""
HANG_QUESTION = "please hang"
"""Streams the route, the sources and one delta, then waits until cancelled."""
PRINT_QUESTION = "please print"
"""Prints to stdout (which must not corrupt the stdio protocol), then answers."""
SECRET = "sk-test-SECRET-0123456789"
ERROR_MESSAGE = "The chat model is unavailable right now."
RETRIEVE_SYSTEM = "You are a fake Azure SDK assistant. Answer from the README excerpts."

_LANGUAGE_WORDS = {
    "dotnet": r"\.net|dotnet|c#",
    "java": r"java(?!script)",
    "javascript": r"javascript|typescript|node",
    "python": r"python",
    "rust": r"rust",
}


@dataclass(frozen=True)
class Call:
    question: str
    session_id: str | None
    language: str | None
    hint: Hint | None = None
    method: str = "astream"
    history: tuple[tuple[str, str], ...] | None = None


def default_answer(question: str, turn: int) -> str:
    return f"Answer {turn} to: {question}"


def split(text: str, pieces: int) -> list[str]:
    """``text`` in ``pieces`` nearly equal consecutive parts (fewer if the text is shorter)."""
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return [p for p in out if p]


class FakeRag:
    """Scripted answers; everything it is asked and every stream it opens is recorded."""

    def __init__(
        self,
        *,
        answer: str | Callable[[str, int], str] = default_answer,
        deltas: int = 3,
        delay: float = 0.0,
    ) -> None:
        self._answer = answer
        self.deltas = deltas
        self.delay = delay
        self.calls: list[Call] = []
        self.history: dict[str, list[str]] = {}
        self.resets: list[str] = []
        self.opened = 0
        self.closed = 0
        """Streams whose generator has ended, by finishing, failing or being closed."""
        self.aborted = 0
        """Streams closed before they sent their answer (a cancel or a vanished client)."""
        self.active = 0
        self.max_active = 0
        self.first_delta = asyncio.Event()
        """Set when any stream sends its first delta (tests wait for it before cancelling)."""

    # -- the RagService protocol -------------------------------------------------------------

    def astream(
        self,
        question: str,
        *,
        session_id: str | None = None,
        language: str | None = None,
        hint: Hint | None = None,
        history: Turns | None = None,
    ) -> AsyncIterator[Event]:
        """``history`` (the client's transcript) replaces the session's: the answer counts its
        user turns, and nothing is recorded."""
        turns = tuple(history) if history is not None else None
        self.calls.append(Call(question, session_id, language, hint, history=turns))
        return self._stream(question, session_id, language, turns)

    async def aretrieve_context(
        self,
        question: str,
        *,
        session_id: str | None = None,
        language: str | None = None,
        hint: Hint | None = None,
        history: Turns | None = None,
    ) -> Retrieval:
        """The route and sources ``astream`` would give, a context naming them, and the messages
        a model would get: system, the session's questions and answers so far, context + question.
        The magic questions fail the same way; the history is read, not extended."""
        turns = tuple(history) if history is not None else None
        self.calls.append(Call(question, session_id, language, hint, "retrieve", turns))
        route = self.route(question, language)
        if question == ERROR_QUESTION:
            raise ModelError(ERROR_MESSAGE)
        if question == CRASH_QUESTION:
            raise RuntimeError(f"upstream rejected api_key={SECRET}")
        if question == HANG_QUESTION:
            await asyncio.Event().wait()
        sources = self.sources(route)
        context = "\n".join(f"[{n}] {s.title} | package: {s.package}\nREADME: {s.url}\n"
                            for n, s in enumerate(sources, 1))
        messages: list[tuple[Role, str]] = [("system", RETRIEVE_SYSTEM)]
        if turns is not None:
            messages += list(turns)
        else:
            for turn, asked in enumerate(self.history.get(session_id or "", []), 1):
                messages += [("user", asked), ("assistant", self.answer_text(asked, turn))]
        messages.append(("user", f"README excerpts:\n{context}\nQuestion: {question}"))
        return Retrieval(route, sources, context, messages)

    def reset(self, session_id: str) -> None:
        self.resets.append(session_id)
        self.history.pop(session_id, None)

    def status(self) -> dict[str, Any]:
        return {"backend": "fake", "collection": "fake", "sessions": len(self.history)}

    # -- scripting ---------------------------------------------------------------------------

    def route(self, question: str, language: str | None) -> Route:
        if language:
            return Route((language,), question, "forced", f"language={language}")
        lowered = question.lower()
        found = tuple(
            sorted(lang for lang, words in _LANGUAGE_WORDS.items() if re.search(words, lowered))
        )
        return Route(found, question, "text" if found else "none", "fake router")

    def sources(self, route: Route) -> list[Source]:
        return [
            Source(lang, f"azure-fake-{lang}", f"{lang} README", f"https://x.test/{lang}", 1.0)
            for lang in route.languages
        ]

    def answer_text(self, question: str, turn: int) -> str:
        if callable(self._answer):
            return self._answer(question, turn)
        return self._answer

    async def _pause(self) -> None:
        await asyncio.sleep(self.delay)

    async def _stream(
        self, question: str, session_id: str | None, language: str | None,
        history: tuple[tuple[str, str], ...] | None = None,
    ) -> AsyncIterator[Event]:
        self.opened += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        finished = False
        try:
            route = self.route(question, language)
            yield RouteEvent(route)
            if question == ERROR_QUESTION:
                raise ModelError(ERROR_MESSAGE)
            if question == CRASH_QUESTION:
                raise RuntimeError(f"upstream rejected api_key={SECRET}")
            if question == PRINT_QUESTION:
                print("stray output from a library", flush=True)
                sys.stdout.flush()
            sources = self.sources(route)
            yield SourcesEvent(sources)
            key = session_id or ""
            if history is not None:
                turn = sum(1 for role, _ in history if role == "user") + 1
            else:
                turn = len(self.history.get(key, [])) + 1
            if question == EMPTY_QUESTION:
                text = ""
            elif question == HANG_QUESTION:
                yield DeltaEvent("thinking")
                self.first_delta.set()
                await asyncio.Event().wait()
                text = ""
            else:
                text = self.answer_text(question, turn)
            for piece in split(text, self.deltas) if text else []:
                await self._pause()
                yield DeltaEvent(piece)
                self.first_delta.set()
            yield DoneEvent(Answer(text, route, sources))
            finished = True
            # Like the real RAG, history is saved after "done": adapters must drain the stream.
            if history is None:
                self.history.setdefault(key, []).append(question)
        finally:
            self.active -= 1
            self.closed += 1
            if not finished:
                self.aborted += 1
