"""The chats of one JSON-RPC connection: the ``sessionId`` names a client uses, kept apart from
every other connection's and forgotten when the connection ends (docs/protocol.md, Sessions)."""

from __future__ import annotations

from azsdk_rag.server.connection import forget_session
from azsdk_rag.server.rpc_messages import INVALID_PARAMS, RpcError
from azsdk_rag.types import RagService


class Sessions:
    """A connection's chats: each ``sessionId`` a client names, namespaced so that clients never
    share history, and all forgotten when the connection ends.

        sessions = Sessions(rag, "4f1c...", limit=64)
        sessions.resolve("chat-7")   # "4f1c...:chat-7"; None is the connection's own session
    """

    def __init__(self, rag: RagService, connection_id: str, limit: int) -> None:
        self._rag = rag
        self._own = connection_id
        self._limit = limit
        self._named: dict[str, str] = {}
        self._used: set[str] = set()

    def resolve(self, key: str | None) -> str:
        """The RAG's session id for a client's (``-32602`` past the connection's limit)."""
        session = self._own if key is None else self._named.get(key)
        if session is None:
            assert key is not None
            if len(self._named) >= self._limit:
                raise RpcError(INVALID_PARAMS, "Too many sessions on this connection "
                               f"(max {self._limit}); reset one first.")
            session = self._named[key] = f"{self._own}:{key}"
        self._used.add(session)
        return session

    def reset(self, key: str | None) -> None:
        """Forget one session's history (a named one's name too)."""
        session = self._named.pop(key, None) if key is not None else self._own
        if session is not None:
            self._rag.reset(session)
            if key is not None:
                self._used.discard(session)

    def forget_all(self) -> None:
        for session in self._used:
            forget_session(self._rag, session)
        self._used.clear()
        self._named.clear()
