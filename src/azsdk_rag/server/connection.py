"""What both socket wires share: sending under a deadline, refusing, and one answer's stream.

The legacy wire and JSON-RPC differ in how a message looks, not in how a connection behaves: a
client that stops reading is dropped after ``Limits.write_timeout``, a connection over the limit
gets one message and a close, the RAG's stream is read to its end and closed whatever happens,
and a connection's sessions are forgotten when it ends. Those rules live here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from azsdk_rag.errors import AzsdkRagError
from azsdk_rag.events import AnswerSoFar
from azsdk_rag.server.admission import Slot
from azsdk_rag.server.framing import (
    INTERNAL_ERROR,
    NO_ANSWER,
    Limits,
    Writer,
    close_writer,
    log_failure,
    next_input,
    one_line,
)
from azsdk_rag.types import Answer, DeltaEvent, RagService, RouteEvent, SourcesEvent

logger = logging.getLogger(__name__)

StreamEvent = RouteEvent | SourcesEvent | DeltaEvent
OnEvent = Callable[[StreamEvent], Awaitable[None]]
T = TypeVar("T")


class ClientGone(Exception):
    """The client cannot be written to any more (closed, reset, or not reading)."""


async def refuse(writer: Writer, payload: bytes) -> None:
    """Turn away a connection over a limit: one message (the wire's own shape), then close."""
    with contextlib.suppress(OSError, RuntimeError):
        writer.write(payload)
    await close_writer(writer)


class Sender:
    """Writes whole messages to one client; waits (bounded) only when the client is behind.

        sender = Sender(writer, limits.write_timeout, peer="127.0.0.1:50123", wire="json-rpc")
        await sender.send(frame)   # ClientGone once the client cannot take it
    """

    def __init__(self, writer: Writer, write_timeout: float, *, peer: str, wire: str) -> None:
        self._writer = writer
        self._timeout = write_timeout
        self._peer = peer
        self._wire = wire
        self._lock = asyncio.Lock()  # concurrent answers wait for the same drain in turn

    async def send(self, data: bytes) -> None:
        """Write ``data`` in one write; raise :class:`ClientGone` when the client is gone or has
        read nothing for ``write_timeout`` seconds (then the connection is aborted)."""
        if self._writer.is_closing():
            raise ClientGone
        try:
            self._writer.write(data)
        except OSError:
            raise ClientGone from None
        transport = getattr(self._writer, "transport", None)
        if transport is None or not transport.get_write_buffer_size():
            return  # the kernel took it all (or the writer blocks): nothing to wait for
        async with self._lock:
            try:
                await asyncio.wait_for(self._writer.drain(), self._timeout)
            except asyncio.TimeoutError:
                logger.info("dropping a %s client that stopped reading: %s", self._wire,
                            self._peer)
                transport.abort()
                raise ClientGone from None
            except (ConnectionError, RuntimeError):
                raise ClientGone from None

    async def send_quietly(self, data: bytes) -> None:
        """Send a last word (an error before closing) to a client that may already be gone."""
        with contextlib.suppress(ClientGone, ConnectionError, OSError):
            await self.send(data)


class Connection:
    """One client on either wire: :meth:`run` serves it (a subclass's :meth:`_serve`) until it or
    the server is done, and whatever happens ends it (:meth:`_ended`) and closes the socket.

    ``stop`` is the server's shutdown future; ``slot`` the connection's place (see admission.py).
    """

    wire = "socket"
    """The wire's name in the log."""

    def __init__(self, rag: RagService, reader: asyncio.StreamReader, writer: Writer, *,
                 limits: Limits, stop: asyncio.Future[None], peer: str = "?",
                 slot: Slot | None = None) -> None:
        self._rag, self._reader, self._writer = rag, reader, writer
        self._limits, self._stop, self._peer, self._slot = limits, stop, peer, slot
        self._sender = Sender(writer, limits.write_timeout, peer=peer, wire=self.wire)

    async def run(self) -> None:
        """Serve the client; a bug here is logged (type and place) and never takes the server
        down."""
        try:
            await self._serve()
        except Exception as exc:
            self._failed(exc)
        finally:
            await self._ended()
            await close_writer(self._writer)

    async def _serve(self) -> None:
        raise NotImplementedError

    def _failed(self, exc: Exception) -> None:
        log_failure(logging.getLogger(type(self).__module__), f"{self.wire} connection", exc)

    async def _ended(self) -> None:
        """The connection is over: free what it held (before the socket closes)."""

    def _first_message_wait(self) -> float:
        """How long a new connection may stay silent (a socket that never speaks must not
        hold a slot for long); counted from the accept when it has a slot."""
        if self._slot is None:
            return self._limits.first_message_timeout
        return self._slot.first_message_wait()

    async def _next(self, read: Coroutine[Any, Any, T], timeout: float | None,
                    busy: Callable[[], bool] | None = None) -> T:
        """What ``read`` reads, unless the server stops or the connection idles first (see
        :func:`framing.next_input`)."""
        result: T = await next_input(asyncio.ensure_future(read), self._stop, timeout, busy)
        return result


def failure_message(exc: Exception, what: str) -> str:
    """What a client is told when its request failed: the RAG's own error (one sentence fit to
    show), or for anything unexpected a generic line, the type and place only in the log (an
    exception's message may name an endpoint or hold a key)."""
    if isinstance(exc, AzsdkRagError):
        return one_line(str(exc)) or "The question could not be answered."
    log_failure(logger, what, exc)
    return INTERNAL_ERROR


async def close_stream(stream: AsyncIterator[Any]) -> None:
    """Close the RAG's stream (an async generator's ``finally`` runs) without masking our error."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception as exc:
        logger.debug("closing the answer stream failed: %s", type(exc).__name__)


def forget_session(rag: RagService, session: str) -> None:
    """Drop a session's history; a RAG that fails at it must not fail the connection's end."""
    try:
        rag.reset(session)
    except Exception as exc:
        logger.debug("resetting a session failed: %s", type(exc).__name__)


async def answer_from(
    stream: AsyncIterator[Any], question: str, on_event: OnEvent | None = None
) -> Answer:
    """Read one answer's events to the end (the RAG may save history after ``done``) and return
    the whole answer, which is never blank.

    ``on_event`` sees the route, the sources and every non-empty delta as they come, and a last
    delta of :data:`NO_ANSWER` when the answer would otherwise be empty, so the deltas it saw
    always add up to the answer's text. When the final answer's text is blank the deltas joined
    stand in for it; without a ``done`` event, the route and sources seen so far.

        answer = await answer_from(rag.astream("/python upload a blob"), "upload a blob")
    """
    seen = AnswerSoFar()
    try:
        async for event in stream:
            if seen.take(event) and on_event is not None:
                await on_event(event)
    finally:
        await close_stream(stream)
    answer = seen.answer(question)
    if answer.text.strip():
        return answer
    if seen.streamed.strip():
        return Answer(seen.streamed, answer.route, answer.sources)
    if on_event is not None:  # never leave the client with nothing to show
        await on_event(DeltaEvent(NO_ANSWER))
    return Answer(NO_ANSWER, answer.route, answer.sources)
