"""A conversation's turns as ``(role, text)`` pairs, whatever shape the caller keeps them in.

The router, the RAG and the CLI all take history as ``{"role", "content"}`` dicts, LangChain
messages or ``(role, text)`` pairs; this module reads any of them (and the router's input) once.

    normalise_history([{"role": "user", "content": "/py upload"}])  # [("user", "/py upload")]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

Role = Literal["user", "assistant"]
RouterInput = str | Mapping[str, Any]
HistoryItem = Mapping[str, Any] | BaseMessage | Sequence[str]
"""One turn: ``{"role", "content"}``, a LangChain message, or a ``(role, text)`` pair."""
History = Sequence[HistoryItem]
"""A conversation, oldest turn first, in any of those forms (what every history argument takes)."""

_ROLES: dict[str, Role] = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
}


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text of its content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)
    return ""


def _turn(i: int, item: Any) -> tuple[Role | None, str]:
    """One history item's role (None: a system or tool turn) and text; a bad item is an error."""
    if isinstance(item, BaseMessage):
        role: Role | None = (
            "user" if isinstance(item, HumanMessage)
            else ("assistant" if isinstance(item, AIMessage) else None)
        )
        return role, message_text(item.content)
    if isinstance(item, Mapping):
        raw_role, content = item.get("role"), item.get("content")
        if not isinstance(raw_role, str) or not isinstance(content, (str, list)):
            raise ValueError(f"history turn {i} needs a string 'role' and a string 'content'.")
        return _ROLES.get(raw_role.lower()), message_text(content)
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        raw_role, content = item
        if not isinstance(raw_role, str) or not isinstance(content, str):
            raise ValueError(f"history turn {i} must be a (role, content) pair of strings.")
        return _ROLES.get(raw_role.lower()), content
    raise ValueError(
        f"history turn {i} must be a {{'role', 'content'}} dict or a chat message, "
        f"not {type(item).__name__}."
    )


def normalise_history(history: Iterable[HistoryItem] | None) -> list[tuple[Role, str]]:
    """History as ``(role, text)`` pairs, oldest first; system and tool turns are dropped.

    Accepts ``{"role", "content"}`` dicts, LangChain messages and ``(role, content)`` pairs.
    """
    if history is None:
        return []
    if isinstance(history, (str, bytes, Mapping)):
        raise ValueError("history must be a list of turns, oldest first.")
    turns: list[tuple[Role, str]] = []
    for i, item in enumerate(history):
        role, text = _turn(i, item)
        if role is not None and text.strip():
            turns.append((role, text))
    return turns


def parse_router_input(value: Any) -> tuple[str, list[tuple[Role, str]], str | None, Any]:
    """``(question, history, forced language, hint)`` of the router's input: a question string,
    a message, or a ``{"question", "history"?, "language"?, "hint"?}`` mapping."""
    if isinstance(value, str):
        return value, [], None, None
    if isinstance(value, BaseMessage):
        return message_text(value.content), [], None, None
    if not isinstance(value, Mapping):
        raise ValueError(
            "The language router takes a question string or a dict with a 'question' string, "
            f"not {type(value).__name__}."
        )
    question = value.get("question")
    if not isinstance(question, str):
        raise ValueError("The language router's input needs a 'question' string.")
    language = value.get("language")
    if language is not None and not isinstance(language, str):
        raise ValueError("'language' must be a language id such as 'python'.")
    return question, normalise_history(value.get("history")), language or None, value.get("hint")
