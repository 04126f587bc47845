"""``retrieve_context``: what ``ask`` would send to the model, from the same code path.

A recording model keeps the messages ``ask`` really sent; ``retrieve_context`` must return exactly
those (system, history, excerpts + question), the same route and the same sources.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableLambda

from azsdk_rag.events import prompt_messages
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from azsdk_rag.types import Hint, Route
from support.answering import RecordingChatModel, sample_rag

_ROLE = {"system": "system", "human": "user", "ai": "assistant"}


def _recorded(model: RecordingChatModel) -> list[tuple[str, str]]:
    return [(_ROLE[m.type], m.text) for m in model.prompts[-1]]


def test_messages_are_exactly_what_ask_sends_to_the_model_with_history(
        sample_index: Store, settings_factory: Callable[..., Settings]) -> None:
    model = RecordingChatModel(reply="Use BlobClient.upload_blob.")
    with sample_rag(sample_index, settings_factory, model=model) as rag:
        rag.ask("/python upload a file to a blob container", session_id="s")
        follow_up = "and how do I download it again?"
        retrieved = rag.retrieve_context(follow_up, session_id="s")
        answer = rag.ask(follow_up, session_id="s")

    assert retrieved.messages == _recorded(model)
    roles = [role for role, _ in retrieved.messages]
    assert roles == ["system", "user", "assistant", "user"]  # system, history, context+question
    assert retrieved.messages[2][1] == "Use BlobClient.upload_blob."
    last = retrieved.messages[-1][1]
    assert retrieved.context and retrieved.context in last
    assert last.endswith(f"Question: {follow_up}")
    assert retrieved.route == answer.route
    assert retrieved.route.languages == ("python",)
    assert retrieved.sources == answer.sources
    assert retrieved.sources[0].package == "azure-storage-blob"


def test_retrieve_reads_the_session_but_does_not_extend_it(
        sample_index: Store, settings_factory: Callable[..., Settings]) -> None:
    with sample_rag(sample_index, settings_factory) as rag:
        rag.retrieve_context("/rust read a secret from key vault", session_id="s")
        assert rag.sessions.get("s").as_dicts() == []
        first = rag.retrieve_context("/java list blobs")
    assert [role for role, _ in first.messages] == ["system", "user"]
    data = first.to_dict()
    assert set(data) == {"route", "sources", "context", "messages"}
    assert data["messages"][0]["role"] == "system"
    assert data["route"]["languages"] == ["java"]


def test_an_empty_question_retrieves_nothing(
        sample_index: Store, settings_factory: Callable[..., Settings]) -> None:
    with sample_rag(sample_index, settings_factory) as rag:
        empty = rag.retrieve_context("   ")
    assert (empty.sources, empty.context, empty.messages) == ([], "", [])
    assert empty.route.reason == "empty question"


def test_the_hint_reaches_the_router_on_ask_stream_and_retrieve(
        sample_index: Store, settings_factory: Callable[..., Settings]) -> None:
    seen: list[Any] = []

    def router(value: dict[str, Any]) -> Route:
        seen.append(value.get("hint"))
        return Route(("python",), value["question"], "forced", "test router")

    hint = Hint("python", ("pyproject.toml",))
    with sample_rag(sample_index, settings_factory, router=RunnableLambda(router)) as rag:
        rag.ask("upload a blob", hint=hint)
        rag.retrieve_context("upload a blob", hint=hint)
        list(rag.stream("upload a blob"))
    assert seen == [hint, hint, None]


async def test_the_async_twin_gives_the_same_result(
        sample_index: Store, settings_factory: Callable[..., Settings]) -> None:
    with sample_rag(sample_index, settings_factory) as rag:
        sync = rag.retrieve_context("/python upload a file to a blob container")
        async_ = await rag.aretrieve_context("/python upload a file to a blob container")
    assert sync == async_


def test_prompt_messages_maps_langchain_roles() -> None:
    from langchain_core.prompts import ChatPromptTemplate

    value = ChatPromptTemplate.from_messages(
        [("system", "S"), ("human", "H"), ("ai", "A")]).invoke({})
    assert prompt_messages(value) == [("system", "S"), ("user", "H"), ("assistant", "A")]
