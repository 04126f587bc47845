"""The old raw-text wire, byte-compatible with the first VS Code extension.

A client writes a question as raw UTF-8; the server writes back the whole markdown answer in one
write, with no framing. ``exit`` or ``end`` gets ``endchat`` and closes the chat. What the old
server got wrong is fixed without changing a byte the extension sees: a reply is never empty (the
extension waited forever for one), a question longer than one ``recv(1024)`` is one question, and a
failure is a one-line markdown error instead of silence. Each connection is one chat session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from azsdk_rag.errors import AzsdkRagError
from azsdk_rag.server.admission import Slot
from azsdk_rag.server.framing import (
    BUSY,
    INTERNAL_ERROR,
    NO_ANSWER,
    IdleTimeout,
    Limits,
    MessageTooLarge,
    Stopped,
    Writer,
    close_writer,
    log_failure,
    next_input,
    one_line,
    read_legacy_message,
)
from azsdk_rag.types import DeltaEvent, DoneEvent, RagService

logger = logging.getLogger(__name__)

END_CHAT = "endchat"
END_WORDS = frozenset({"exit", "end"})
EMPTY_QUESTION = (
    "Please type a question about the Azure SDKs, for example: *How do I upload a blob in "
    "Python?* Type `exit` to end the chat."
)
_HTTP_REQUEST = re.compile(rb"\A[A-Z]{3,7} \S+ HTTP/\d(\.\d)?\r?\n")


def error_text(message: str) -> str:
    """How a failure reads in the chat: one markdown line."""
    return f"**Error:** {one_line(message)}"


async def refuse(writer: Writer, message: str = BUSY) -> None:
    """Turn away a connection over the limit: one line of text, then close."""
    with contextlib.suppress(OSError, RuntimeError):
        writer.write(message.encode("utf-8") + b"\n")
    await close_writer(writer)


class ClientGone(Exception):
    """The client cannot be written to any more."""


class LegacyConnection:
    """One chat with an old-style client: question in, whole answer out, until ``exit``."""

    def __init__(
        self,
        rag: RagService,
        reader: asyncio.StreamReader,
        writer: Writer,
        *,
        limits: Limits,
        stop: asyncio.Future[None],
        peer: str = "?",
        slot: Slot | None = None,
    ) -> None:
        """``slot`` is promoted to the main pool once the client has spoken."""
        self._rag = rag
        self._slot = slot
        self._reader = reader
        self._writer = writer
        self._limits = limits
        self._stop = stop
        self._peer = peer
        self._session = uuid.uuid4().hex
        self._asked = False

    async def run(self) -> None:
        """Answer messages one at a time until ``exit``, end of stream, idleness or shutdown."""
        try:
            first = True
            while True:
                read = asyncio.ensure_future(read_legacy_message(self._reader, self._limits))
                wait = self._limits.idle_timeout
                if first:  # a socket that never speaks must not hold a slot for long
                    wait = min(wait, self._limits.first_message_timeout if self._slot is None
                               else self._slot.first_message_wait())
                try:
                    data = await next_input(read, self._stop, wait)
                except MessageTooLarge as exc:
                    await self._send(error_text(f"{exc} Please ask a shorter question."))
                    return
                if data is None:
                    return
                if first and self._slot is not None and not self._slot.promote():
                    logger.warning("refusing a legacy client %s: too many connections", self._peer)
                    await self._send(BUSY)
                    return
                first = False
                if _HTTP_REQUEST.match(data):
                    logger.warning("closing a legacy connection that spoke HTTP: %s", self._peer)
                    return
                reply, end = await self._reply(data)
                await self._send(reply)
                if end:
                    return
        except (Stopped, ClientGone, ConnectionError):
            pass
        except IdleTimeout:
            logger.info("closing idle legacy connection from %s", self._peer)
        except Exception as exc:  # a bug here must not take the server down
            log_failure(logger, "legacy connection", exc)
        finally:
            if self._asked:
                try:
                    self._rag.reset(self._session)
                except Exception as exc:
                    logger.debug("resetting a session failed: %s", type(exc).__name__)
            await close_writer(self._writer)

    async def _reply(self, data: bytes) -> tuple[str, bool]:
        """The text to send for one message, and whether the chat ends after it."""
        try:
            question = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            return error_text("The message is not UTF-8 text."), False
        if question.lower() in END_WORDS:
            return END_CHAT, True
        if not question:
            return EMPTY_QUESTION, False
        if len(question) > self._limits.max_question_chars:
            return error_text(
                f"The question is longer than {self._limits.max_question_chars} characters; "
                "please shorten it."
            ), False
        try:
            text = await self._answer(question)
        except AzsdkRagError as exc:
            return error_text(str(exc) or "The question could not be answered."), False
        except Exception as exc:
            log_failure(logger, "legacy answer", exc)
            return error_text(INTERNAL_ERROR), False
        return (text if text.strip() else NO_ANSWER), False

    async def _answer(self, question: str) -> str:
        """The whole answer text: the final answer's, else the deltas joined."""
        self._asked = True
        parts: list[str] = []
        final: str | None = None
        stream: AsyncIterator[Any] = self._rag.astream(question, session_id=self._session)
        try:
            async for event in stream:  # to the end: the RAG may save history after "done"
                if isinstance(event, DeltaEvent):
                    parts.append(event.text)
                elif isinstance(event, DoneEvent):
                    final = event.answer.text
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        return final or "".join(parts)

    async def _send(self, text: str) -> None:
        """The whole reply in one write, as the old extension reads one chunk as one answer."""
        if self._writer.is_closing():
            raise ClientGone
        self._writer.write(text.encode("utf-8", "replace"))
        try:
            await asyncio.wait_for(self._writer.drain(), self._limits.write_timeout)
        except asyncio.TimeoutError:
            logger.info("dropping a legacy client that stopped reading: %s", self._peer)
            transport = getattr(self._writer, "transport", None)
            if transport is not None:
                transport.abort()
            raise ClientGone from None
