"""Plain result types shared by the router, the chains, the API and the socket adapters.

They sit at the bottom of the layers so that every module can speak them; each has ``to_dict`` for
JSON (the CLI's ``--json`` and the JSON-RPC protocol use exactly these shapes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, Union

Signal = Literal["forced", "slash", "text", "code", "history", "llm", "hint", "none"]


@dataclass(frozen=True)
class Route:
    """The languages a question is about, and why.

    ``languages`` is sorted; empty means "no language named: search them all".
    ``query`` is the text to search with (a leading slash command stripped).
    """

    languages: tuple[str, ...]
    query: str
    signal: Signal
    reason: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = list(self.languages)
        return data


@dataclass(frozen=True)
class Source:
    """One README an answer drew on."""

    language: str
    package: str
    title: str
    url: str
    score: float
    section: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """A whole answer: the markdown text, the route that chose the READMEs, and the READMEs."""

    text: str
    route: Route
    sources: list[Source] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "route": self.route.to_dict(),
            "sources": [s.to_dict() for s in self.sources],
        }


@dataclass(frozen=True)
class Hint:
    """What the client's editor knows when the question names no language.

    ``language_id`` is the active editor's language id (VS Code's ``languageId``: ``python``,
    ``csharp``, ``typescriptreact``, ...); ``manifests`` are the workspace's manifest file names
    (``pyproject.toml``, ``Cargo.toml``, ...). The router may use it; the text always wins.
    """

    language_id: str | None = None
    manifests: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"manifests": list(self.manifests)}
        if self.language_id is not None:
            data["languageId"] = self.language_id
        return data

    def __bool__(self) -> bool:
        return bool(self.language_id) or bool(self.manifests)


Role = Literal["system", "user", "assistant"]
Turns = Sequence[tuple[Literal["user", "assistant"], str]]
"""A conversation as a client keeps it: ``(role, text)`` turns, oldest first."""


@dataclass(frozen=True)
class Retrieval:
    """What an answer is built from, without the model call: the route, the sources, the context
    text, and exactly the chat messages (system, history, excerpts and question) a model gets."""

    route: Route
    sources: list[Source]
    context: str
    messages: list[tuple[Role, str]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route.to_dict(),
            "sources": [s.to_dict() for s in self.sources],
            "context": self.context,
            "messages": [{"role": role, "content": text} for role, text in self.messages],
        }


@dataclass(frozen=True)
class RouteEvent:
    """First of every stream: the languages the question was routed to, and why."""

    route: Route
    type: Literal["route"] = "route"


@dataclass(frozen=True)
class SourcesEvent:
    """The READMEs the answer draws on, as soon as retrieval is done: before the answer's first
    word, so a client can show them while the model writes."""

    sources: list[Source]
    type: Literal["sources"] = "sources"


@dataclass(frozen=True)
class DeltaEvent:
    """The next piece of the answer's text, as the model writes it; the pieces joined are the
    answer's text. An empty question or a model error sends none.

    Its ``text`` may be any length: a token, a line, or the whole answer."""

    text: str
    type: Literal["delta"] = "delta"


@dataclass(frozen=True)
class DoneEvent:
    """Last of every stream: the whole answer (text, route and sources), also when its text came
    in pieces before; a session records its turn from it, and a client that does not stream
    reads only this one."""

    answer: Answer
    type: Literal["done"] = "done"


Event = Union[RouteEvent, SourcesEvent, DeltaEvent, DoneEvent]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class EmbedderInfo:
    """What built a collection; recorded in it so a mismatched embedder is refused, not misused.

    The store records it and the embedders produce it, so it sits here, below both.
    """

    dense_model: str
    dense_dim: int
    sparse_model: str

    def to_dict(self) -> dict[str, Any]:
        return {"dense_model": self.dense_model, "dense_dim": self.dense_dim,
                "sparse_model": self.sparse_model}

    def describe(self) -> str:
        return f"{self.dense_model} ({self.dense_dim}-d) + {self.sparse_model}"


class RagService(Protocol):
    """What the socket adapters need of the RAG: the contract :class:`AzureSdkRag` fulfils."""

    def astream(
        self, question: str, *, session_id: str | None = None, language: str | None = None,
        hint: Hint | None = None, history: Turns | None = None,
    ) -> AsyncIterator[Event]:
        """Stream route, sources, answer deltas, then done (``history``: the client's own
        transcript, used instead of the session's and recorded nowhere)."""
        ...

    async def aretrieve_context(
        self, question: str, *, session_id: str | None = None, language: str | None = None,
        hint: Hint | None = None, history: Turns | None = None,
    ) -> Retrieval:
        """Route and retrieve as ``astream`` would, and return what the model would be sent."""
        ...

    def reset(self, session_id: str) -> None:
        """Forget a session's history."""
        ...

    def status(self) -> dict[str, Any]:
        """Index location, collection, model and counts, as JSON-able data."""
        ...
