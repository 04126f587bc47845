"""The old raw-text wire, byte-compatible with the first VS Code extension.

A client writes a question as raw UTF-8; the server writes back the whole markdown answer in one
write, with no framing. ``exit`` or ``end`` gets ``endchat`` and closes the chat. What the old
server got wrong is fixed without changing a byte the extension sees: a reply is never empty (the
extension waited forever for one), a question longer than one ``recv(1024)`` is one question, and a
failure is a one-line markdown error instead of silence. Each connection is one chat session.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

from azsdk_rag.server import connection
from azsdk_rag.server.admission import Slot
from azsdk_rag.server.connection import (
    ClientGone,
    Connection,
    answer_from,
    failure_message,
    forget_session,
)
from azsdk_rag.server.framing import (
    BUSY,
    IdleTimeout,
    Limits,
    MessageTooLarge,
    Stopped,
    Writer,
    one_line,
    read_legacy_message,
)
from azsdk_rag.types import RagService

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
    await connection.refuse(writer, message.encode("utf-8") + b"\n")


class LegacyConnection(Connection):
    """One chat with an old-style client: question in, whole answer out, until ``exit``."""

    wire = "legacy"

    def __init__(self, rag: RagService, reader: asyncio.StreamReader, writer: Writer, *,
                 limits: Limits, stop: asyncio.Future[None], peer: str = "?",
                 slot: Slot | None = None) -> None:
        """``slot`` is promoted to the main pool once the client has spoken."""
        super().__init__(rag, reader, writer, limits=limits, stop=stop, peer=peer, slot=slot)
        self._session = uuid.uuid4().hex
        self._asked = False

    async def _serve(self) -> None:
        """Answer messages one at a time until ``exit``, end of stream, idleness or shutdown."""
        try:
            first = True
            while True:
                wait = self._limits.idle_timeout
                if first:
                    wait = min(wait, self._first_message_wait())
                try:
                    data = await self._next(read_legacy_message(self._reader, self._limits), wait)
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

    async def _ended(self) -> None:
        if self._asked:
            forget_session(self._rag, self._session)

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
            return await self._answer(question), False
        except Exception as exc:
            return error_text(failure_message(exc, "legacy answer")), False

    async def _answer(self, question: str) -> str:
        """The whole answer text (never blank; see :func:`connection.answer_from`)."""
        self._asked = True
        stream = self._rag.astream(question, session_id=self._session)
        return (await answer_from(stream, question)).text

    async def _send(self, text: str) -> None:
        """The whole reply in one write, as the old extension reads one chunk as one answer."""
        await self._sender.send(text.encode("utf-8", "replace"))
