"""Helpers for the answering tests: a RAG over the shared sample index, small indexes, spies.

Each test module builds its own ``AzureSdkRag`` once (a module-scoped fixture calling
:func:`sample_rag`), over the session's ``sample_index`` store (ingested once per session).
Small indexes for the CLI and ``from_env`` are made by copying points out of the sample index:
the same chunks and vectors an ingest of those READMEs would write, without embedding them
again (that costs ~0.1 s per chunk on two cores).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field
from qdrant_client import QdrantClient

from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.settings import Settings
from azsdk_rag.store import ServerStore, Store

# The READMEs of the small index: enough for "/python upload a blob", a follow-up, and a
# second language to route away from.
TINY_PACKAGES = frozenset({
    ("python", "azure-storage-blob"),
    ("python", "azure-keyvault-secrets"),
    ("javascript", "@azure/storage-blob"),
})
LANGUAGES = ("dotnet", "java", "javascript", "python", "rust")


# -- settings and RAG over the sample index -------------------------------------------------------


def sample_settings(settings_factory: Callable[..., Settings], sample_index: Store,
                    **overrides: Any) -> Settings:
    """Settings that describe the sample index (so messages name its real location)."""
    return settings_factory(qdrant_path=sample_index.settings.qdrant_path, **overrides)


def sample_rag(sample_index: Store, settings_factory: Callable[..., Settings],
               **kwargs: Any) -> AzureSdkRag:
    """An ``AzureSdkRag`` over the shared sample store; ``kwargs`` go to the constructor.

    Setting overrides go in ``settings=``; by default the offline (extractive) model answers.
    """
    settings = kwargs.pop("settings", None) or sample_settings(settings_factory, sample_index)
    return AzureSdkRag(settings, store=sample_index, **kwargs)


# -- copies of the sample index ----------------------------------------------------------------


def copy_points(source: Store, target: Store,
                keep: Callable[[dict[str, Any]], bool] = lambda _meta: True) -> int:
    """Copy the points whose metadata ``keep`` accepts (vectors, payload, ids) into ``target``.

    The target gets the source's embedder record, as ingest would.
    """
    record = source.record()
    assert record is not None, "the sample index has no embedder record"
    chosen = (p for p in source.points(vectors=True, batch=512) if keep(p.metadata))
    return target.import_points(record, chosen, origin="test copy")


def build_small_index(source: Store, path: Path, settings_factory: Callable[..., Settings],
                      packages: frozenset[tuple[str, str]] = TINY_PACKAGES) -> Path:
    """An embedded index at ``path`` holding only ``packages``; closed again, ready to open."""
    settings = settings_factory(qdrant_path=str(path))
    with Store.open(settings) as target:
        copied = copy_points(source, target,
                             lambda m: (m.get("language"), m.get("package")) in packages)
    assert copied > 0
    return path


def memory_copy(source: Store, settings_factory: Callable[..., Settings]) -> Store:
    """The whole sample index in an in-memory Qdrant (to drive Qdrant's own search code)."""
    store = ServerStore(QdrantClient(location=":memory:"), settings_factory(qdrant_path=":memory:"))
    copy_points(source, store)
    return store


# -- assertions -----------------------------------------------------------------------------------

_SENTENCE_BREAK = re.compile(r"[.!?]\s+[A-Z]")


def assert_one_sentence(message: str) -> None:
    """A user-facing error: one line, one sentence, ending with a full stop."""
    assert message, "empty message"
    assert "\n" not in message, message
    assert "Traceback" not in message, message
    assert message.rstrip().endswith("."), message
    assert not _SENTENCE_BREAK.search(message[:-1]), f"more than one sentence: {message!r}"


def packages(docs: Sequence[Document]) -> list[tuple[str, str]]:
    """(language, package) of each chunk, in order."""
    return [(d.metadata["language"], d.metadata["package"]) for d in docs]


def distinct(items: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


# -- spies and stand-ins -------------------------------------------------------------------------


class QuerySpy(BaseCallbackHandler):
    """Records what every retriever in a run was asked (LangChain's retriever callbacks)."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def on_retriever_start(self, serialized: dict[str, Any], query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self.queries.append(query)


class RecordingChatModel(BaseChatModel):
    """Answers with a fixed text (streamed word by word) and keeps every prompt it was given."""

    reply: str = "recorded answer from the test model"
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording-test-model"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        self.prompts.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.reply))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        self.prompts.append(list(messages))
        for word in re.findall(r"\S+\s*", self.reply):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))

    @property
    def last_human(self) -> str:
        return next(m.text for m in reversed(self.prompts[-1]) if m.type == "human")

    @property
    def last_system(self) -> str:
        return next((m.text for m in self.prompts[-1] if m.type == "system"), "")
