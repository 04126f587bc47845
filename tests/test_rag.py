"""The public API: ``AzureSdkRag`` construction, ask/aask/stream/astream, LCEL, and replacing parts.

Offline throughout (the extractive model answers), over the shared sample index; ``from_env`` runs
on a small index of its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableGenerator, RunnableLambda

from azsdk_rag.embeddings import Embedders
from azsdk_rag.errors import ConfigError, EmbedderMismatchError, EmptyIndexError
from azsdk_rag.events import EMPTY_QUESTION
from azsdk_rag.extractive import LABEL
from azsdk_rag.languages import Installer, Language, names, registered
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from azsdk_rag.types import (
    Answer,
    DeltaEvent,
    DoneEvent,
    EmbedderInfo,
    Event,
    Route,
    RouteEvent,
    SourcesEvent,
)
from support.answering import (
    RecordingChatModel,
    assert_one_sentence,
    build_small_index,
    sample_rag,
)

GO = Language(id="go", name="Go", slash_commands=("/go",), fence_tags=("go",),
              cues=(names("golang", "go get", "go.mod"),), installer=Installer("go get {package}"))


@pytest.fixture(scope="module")
def rag(sample_index: Store, settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    with sample_rag(sample_index, settings_factory) as r:
        yield r


@pytest.fixture
def fresh(sample_index: Store, settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    """A RAG of its own, for tests that replace its parts."""
    with sample_rag(sample_index, settings_factory) as r:
        yield r


@pytest.fixture(scope="module")
def tiny_index(sample_index: Store, settings_factory: Callable[..., Settings],
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_index(sample_index, tmp_path_factory.mktemp("tiny-index"),
                             settings_factory)


def check_events(events: list[Event], min_deltas: int = 2) -> Answer:
    """route, sources, delta..., done; done's text is the deltas joined. Returns the answer."""
    kinds = [e.type for e in events]
    assert kinds[:2] == ["route", "sources"], kinds
    assert kinds[-1] == "done"
    assert set(kinds[2:-1]) == {"delta"} and len(kinds) - 3 >= min_deltas
    route, sources, done = events[0], events[1], events[-1]
    assert isinstance(route, RouteEvent) and isinstance(sources, SourcesEvent)
    assert isinstance(done, DoneEvent)
    deltas = [e.text for e in events if isinstance(e, DeltaEvent)]
    assert all(deltas)
    assert done.answer.text == "".join(deltas)
    assert done.answer.route == route.route
    assert done.answer.sources == sources.sources
    for source in sources.sources:
        assert source.language and source.package and source.title
        assert source.url.startswith("https://github.com/Azure/") and source.score > 0
    return done.answer


# -- construction -------------------------------------------------------------------------------


def test_from_env_reads_the_environment(tiny_index: Path, model_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZSDK_RAG_QDRANT_PATH", str(tiny_index))
    monkeypatch.setenv("AZSDK_RAG_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("AZSDK_RAG_TOP_K", "3")

    with AzureSdkRag.from_env(history_tokens=123) as rag:
        assert rag.settings.qdrant_path == str(tiny_index)
        assert rag.settings.top_k == 3 and rag.settings.history_tokens == 123
        answer = rag.ask("/python upload a blob")
        status = rag.status()

    assert answer.route.languages == ("python",)
    assert answer.sources[0].package == "azure-storage-blob"
    assert {s.language for s in answer.sources} == {"python"}
    assert status["location"] == str(tiny_index) and status["exists"]
    assert set(status["languages"]) == {"python", "javascript"}
    # closed: the folder can be opened again (the embedded store's lock was released)
    with Store.open(Settings(qdrant_path=str(tiny_index))) as store:
        assert store.count() == status["points"]


@pytest.mark.parametrize("where", ["memory", "missing"])
def test_from_env_without_an_index_is_one_clear_sentence(
        where: str, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ":memory:" if where == "memory" else str(tmp_path / "nothing-here")
    monkeypatch.setenv("AZSDK_RAG_QDRANT_PATH", path)
    monkeypatch.setenv("AZSDK_RAG_MODEL_DIR", str(model_dir))

    with pytest.raises(EmptyIndexError) as info:
        AzureSdkRag.from_env()

    message = str(info.value)
    assert_one_sentence(message)
    assert path in message and "azsdk-rag ingest" in message
    if where == "missing":  # the failed start released the folder
        with Store.open(Settings(qdrant_path=path)) as store:
            assert store.count() == 0


def test_a_failed_start_releases_the_index(tiny_index: Path, model_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZSDK_RAG_QDRANT_PATH", str(tiny_index))
    monkeypatch.setenv("AZSDK_RAG_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("AZSDK_RAG_LLM", "azure")  # but no AZURE_OPENAI_ENDPOINT

    with pytest.raises(ConfigError) as info:
        AzureSdkRag.from_env()

    try:
        assert_one_sentence(str(info.value))
        monkeypatch.setenv("AZSDK_RAG_LLM", "extractive")
        with AzureSdkRag.from_env() as rag:  # the corrected retry, while the error is held
            assert rag.ask("/python upload a blob").sources
    finally:
        del info  # whatever happened, let the failed instance (and its lock) go


def test_an_empty_collection_is_one_clear_sentence(tmp_path: Path, rag: AzureSdkRag,
                                                   settings_factory: Callable[..., Settings]
                                                   ) -> None:
    settings = settings_factory(qdrant_path=str(tmp_path / "empty"))
    with Store.open(settings) as store:
        store.import_points(rag.embedders.info, [])  # a version with no points
    with pytest.raises(EmptyIndexError) as info:
        AzureSdkRag(settings)
    assert_one_sentence(str(info.value))
    assert "empty" in str(info.value) and "azsdk-rag ingest" in str(info.value)


class TinyEmbeddings(Embeddings):
    """Eight-dimensional vectors: not what the sample index was built with."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[1.0] * 8 for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0] * 8


def test_an_embedder_that_does_not_match_the_index_is_refused(
        rag: AzureSdkRag, sample_index: Store, settings_factory: Callable[..., Settings]) -> None:
    other = Embedders(TinyEmbeddings(), rag.embedders.sparse,
                      EmbedderInfo("tiny-test-model", 8, "Qdrant/bm25"))

    with pytest.raises(EmbedderMismatchError) as info:
        sample_rag(sample_index, settings_factory, embedders=other)

    message = str(info.value)
    assert_one_sentence(message)
    assert "tiny-test-model (8-d)" in message
    assert "all-MiniLM-L6-v2 (384-d)" in message
    assert sample_index.count() > 0  # a store passed in is not closed on failure


# -- answering -------------------------------------------------------------------------------------


def test_ask_returns_text_route_and_sources(rag: AzureSdkRag) -> None:
    answer = rag.ask("/python upload a blob")
    assert isinstance(answer, Answer)
    assert answer.text.startswith(LABEL)
    assert answer.route == Route(("python",), "upload a blob", "slash", "slash command /python")
    assert answer.sources and answer.sources[0].package == "azure-storage-blob"
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["route"]["languages"] == ["python"]
    assert set(data["sources"][0]) == {"language", "package", "title", "url", "score", "section"}


def test_stream_events_come_in_order(rag: AzureSdkRag) -> None:
    answer = check_events(list(rag.stream("how do I send messages to a service bus queue in C#?")))
    assert answer.route.languages == ("dotnet",)
    assert answer.sources[0].package == "Azure.Messaging.ServiceBus"


async def test_astream_events_come_in_order(rag: AzureSdkRag) -> None:
    events = [e async for e in rag.astream("read a secret from key vault with cargo")]
    answer = check_events(events)
    assert answer.route.languages == ("rust",)
    assert answer.sources[0].package == "azure_security_keyvault_secrets"


async def test_aask_equals_ask(rag: AzureSdkRag) -> None:
    question = "/java upload a blob"
    assert await rag.aask(question) == rag.ask(question)


async def test_concurrent_questions_keep_their_own_sessions(fresh: AzureSdkRag) -> None:
    sessions = {lang: fresh.new_session() for lang in ("python", "java", "rust")}
    await asyncio.gather(*(fresh.aask(f"/{lang} upload a blob", session_id=s)
                           for lang, s in sessions.items()))
    follow_ups = await asyncio.gather(*(fresh.aask("and list them?", session_id=s)
                                        for s in sessions.values()))
    assert [a.route.languages for a in follow_ups] == [("python",), ("java",), ("rust",)]


def test_an_empty_question_gets_a_hint_not_a_search(rag: AzureSdkRag) -> None:
    events = list(rag.stream("   "))
    assert [e.type for e in events] == ["route", "done"]
    answer = events[-1].answer  # type: ignore[union-attr]
    assert answer.text == EMPTY_QUESTION and answer.sources == []


def test_language_argument_forces_the_route(rag: AzureSdkRag) -> None:
    answer = rag.ask("upload a blob", language="C#")
    assert answer.route.languages == ("dotnet",) and answer.route.signal == "forced"
    assert {s.language for s in answer.sources} == {"dotnet"}
    with pytest.raises(ValueError, match="Unknown language 'klingon'"):
        rag.ask("upload a blob", language="klingon")


def test_status_describes_index_and_model(rag: AzureSdkRag) -> None:
    status = rag.status()
    assert status["exists"] and status["points"] == rag.store.count()
    assert set(status["languages"]) == {"dotnet", "java", "javascript", "python", "rust"}
    assert status["llm"] == "ExtractiveChatModel" and status["retrieval_mode"] == "hybrid"
    assert status["languages_available"] == ["dotnet", "java", "javascript", "python", "rust"]


# -- LCEL --------------------------------------------------------------------------------------


def test_runnable_invoke(rag: AzureSdkRag) -> None:
    out = rag.runnable.invoke({"question": "/javascript upload a blob"})
    assert out["route"].languages == ("javascript",)
    assert {d.metadata["language"] for d in out["docs"]} == {"javascript"}
    assert isinstance(out["answer"], AIMessage) and "npm install @azure/storage-blob" in \
        out["answer"].text
    assert rag.runnable.invoke("/rust upload a blob")["route"].languages == ("rust",)


def test_runnable_stream_gives_route_then_docs_then_answer_chunks(rag: AzureSdkRag) -> None:
    history = [{"role": "user", "content": "/java read a secret"},
               {"role": "assistant", "content": "Use SecretClient."}]
    chunks = list(rag.runnable.stream({"question": "and delete it?", "history": history}))
    assert "route" in chunks[0] and chunks[0]["route"].languages == ("java",)
    assert chunks[0]["route"].signal == "history"
    kinds = ["docs" if "docs" in c else "answer" if "answer" in c else "other"
             for c in chunks[1:]]
    assert kinds[0] == "docs" and kinds.count("docs") == 1
    assert set(kinds[1:]) == {"answer"} and len(kinds) > 3
    text = "".join(c["answer"].text for c in chunks if "answer" in c)
    assert text.startswith(LABEL)


def test_runnable_composes_with_lcel(rag: AzureSdkRag) -> None:
    pipeline = rag.runnable | RunnableLambda(lambda out: (out["route"].languages,
                                                          out["answer"].text))
    results = pipeline.batch(["/python upload a blob", {"question": "upload a blob",
                                                        "language": "java"}])
    assert [r[0] for r in results] == [("python",), ("java",)]
    assert all(r[1].startswith(LABEL) for r in results)


# -- replacing parts -------------------------------------------------------------------------------


def _doc() -> Document:
    return Document(page_content="h\n\nbody", metadata={
        "language": "python", "package": "my-package", "title": "My README",
        "url": "https://github.com/Azure/example/README.md", "package_score": 0.5})


def test_a_replaced_language_chain_is_used(fresh: AzureSdkRag) -> None:
    seen: list[dict[str, Any]] = []

    def mine(x: dict[str, Any]) -> dict[str, Any]:
        seen.append(x)
        return {"docs": [_doc()], "answer": f"custom: {x['question']}"}

    fresh.chains["python"] = RunnableLambda(mine)
    answer = check_events(list(fresh.stream("/python say hi")), min_deltas=1)
    assert answer.text == "custom: say hi"
    assert [(s.package, s.url) for s in answer.sources] == [
        ("my-package", "https://github.com/Azure/example/README.md")]
    assert seen[0]["query"] == "say hi" and seen[0]["history"] == []
    # other languages keep the built-in chain
    assert fresh.ask("/java upload a blob").text.startswith(LABEL)


def test_a_replaced_chain_can_stream(fresh: AzureSdkRag) -> None:
    def chunks(inputs: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for _ in inputs:
            pass
        yield {"docs": [_doc()]}
        for word in ("one ", "two ", "three"):
            yield {"answer": word}

    fresh.chains["python"] = RunnableGenerator(chunks)
    events = list(fresh.stream("/python count"))
    assert [e.text for e in events if isinstance(e, DeltaEvent)] == ["one ", "two ", "three"]
    assert check_events(events).text == "one two three"


def test_model_prompt_and_router_can_be_replaced(sample_index: Store,
                                                 settings_factory: Callable[..., Settings]
                                                 ) -> None:
    model = RecordingChatModel(reply="answer from my model")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "MY RULES for {languages}"), ("human", "CTX:\n{context}\nQ: {question}")])
    router = RunnableLambda(lambda x: Route(("rust",), x["question"], "forced", "my router"))

    with sample_rag(sample_index, settings_factory, model=model, prompt=prompt,
                    router=router) as rag:
        answer = rag.ask("upload a blob")

    assert answer.text == "answer from my model"
    assert answer.route.reason == "my router"
    assert {s.language for s in answer.sources} == {"rust"}
    assert model.last_system == "MY RULES for Rust"
    assert model.last_human.startswith("CTX:\n[1] ") and model.last_human.endswith(
        "Q: upload a blob")
    assert "azure_storage_blob" in model.last_human


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit-chain", "chain-on-first-use"])
def test_a_language_added_from_user_code(fresh: AzureSdkRag, explicit: bool) -> None:
    with registered(GO):
        if explicit:
            fresh.chains["go"] = fresh.factory.chain(["go"])
        answer = fresh.ask("/go upload a blob")
        routed = fresh.ask("how do I upload a blob with golang?")
    assert answer.route.languages == ("go",) and answer.route.signal == "slash"
    assert routed.route.languages == ("go",)
    assert answer.sources == []  # no Go READMEs in the index
    assert "do not cover" in answer.text
    assert "go" in fresh.chains


async def test_a_transcript_sent_with_the_question_is_the_history_and_is_kept_nowhere(
    fresh: AzureSdkRag,
) -> None:
    """Issue 14.4: a client that keeps its own transcript (a restarted server, many windows)
    gets follow-ups answered in context, without the server keeping a session."""
    history = [("user", "/rust read a secret"), ("assistant", "Use SecretClient.")]
    session = fresh.new_session()
    events = [e async for e in fresh.astream("and delete it?", session_id=session,
                                             history=history)]
    answer = events[-1].answer  # type: ignore[union-attr]
    assert answer.route.languages == ("rust",) and answer.route.signal == "history"
    assert fresh.sessions.get(session).messages == []  # recorded nowhere
    retrieval = await fresh.aretrieve_context("and delete it?", history=history)
    assert [role for role, _ in retrieval.messages][1:3] == ["user", "assistant"]
    assert retrieval.route.languages == ("rust",)
