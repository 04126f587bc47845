"""Sessions: token-bounded history, isolation, reset, and follow-up questions.

Without an LLM a follow-up keeps the previous route and borrows the previous question's key terms
for its search; with an LLM (AzureChatOpenAI against the loopback server) it is rewritten into a
standalone query first. What was searched is read from LangChain's retriever callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from azsdk_rag.history import SessionStore, count_tokens, key_terms, topic_terms
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from azsdk_rag.tokens import encoding
from support.answering import QuerySpy, RecordingChatModel, sample_rag, sample_settings
from support.azure_openai_server import AzureOpenAIServer, Reply, message_text

KEY = "sk-test-SECRET-123"
REWRITTEN = "list the blobs in a container with azure-storage-blob ContainerClient"


def words(n: int, word: str = "blob") -> str:
    return " ".join([word] * n)


def tokens(text: str) -> int:
    return len(encoding().encode(text))


# -- the session store -----------------------------------------------------------------------------


def test_a_long_chat_is_trimmed_oldest_turn_first() -> None:
    store = SessionStore(max_tokens=200)
    for n in range(20):
        store.add_turn("s", f"question {n} {words(10)}", f"answer {n} {words(20)}", ("python",))
    messages = store.get("s").messages
    assert count_tokens(messages) <= 200
    assert 2 <= len(messages) < 40 and len(messages) % 2 == 0
    assert [m.type for m in messages[:2]] == ["human", "ai"]
    assert messages[-2].text.startswith("question 19 ")
    assert messages[-1].text.startswith("answer 19 ")
    kept = [int(m.text.split()[1]) for m in messages[::2]]
    assert kept == list(range(20 - len(kept), 20))  # the newest turns, in order


def test_a_single_huge_answer_is_cut_to_the_budget() -> None:
    store = SessionStore(max_tokens=300)
    store.add_turn("s", "/python upload a blob", "x" + words(5000), ("python",))
    question, answer = store.get("s").messages
    assert question.text == "/python upload a blob"
    assert ("x" + words(5000)).startswith(answer.text) and 100 < tokens(answer.text) < 300
    assert count_tokens(store.get("s").messages) <= 300


@pytest.mark.parametrize("budget", [0, 200])
def test_a_single_huge_question_is_cut_to_the_budget(budget: int) -> None:
    store = SessionStore(max_tokens=budget)
    store.add_turn("s", "Traceback: " + words(3000, "frame"), "Check the stack trace.", ())
    assert count_tokens(store.get("s").messages) <= budget


def test_sessions_are_isolated_and_reset_forgets() -> None:
    store = SessionStore()
    store.add_turn("a", "/java read a secret", "Use SecretClient.", ("java",))
    store.add_turn("b", "/rust read a secret", "Use SecretClient::new.", ("rust",))
    assert [m.text for m in store.get("a").messages] == ["/java read a secret",
                                                         "Use SecretClient."]
    assert store.get("a").languages == ("java",) and store.get("b").languages == ("rust",)
    assert store.get("a").as_dicts() == [
        {"role": "user", "content": "/java read a secret"},
        {"role": "assistant", "content": "Use SecretClient."},
    ]
    store.reset("a")
    assert store.get("a").messages == [] and store.get("a").languages == ()
    assert len(store.get("b").messages) == 2
    store.reset("never-seen")  # no error


def test_the_least_recently_used_session_is_dropped_past_max_sessions() -> None:
    store = SessionStore(max_sessions=2)
    store.add_turn("a", "q", "a", ())
    store.add_turn("b", "q", "a", ())
    store.get("a")  # a is now the most recent
    store.add_turn("c", "q", "a", ())
    assert len(store) == 2
    assert store.get("a").messages and store.get("c").messages
    assert store.get("b").messages == []  # b was dropped (and now starts afresh)


def test_key_terms_keep_the_topic_words() -> None:
    assert key_terms("/python how do I upload a file to blob storage?") == \
        "upload file blob storage"
    assert key_terms("/js send messages to a Service Bus queue") == \
        "send messages Service Bus queue"
    assert key_terms("what is it") == ""
    assert key_terms("blob blob BlobClient blob") == "blob BlobClient"
    assert len(key_terms(" ".join(f"word{n}" for n in range(40))).split()) == 12


def test_topic_terms_walk_back_to_the_recent_topic() -> None:
    history = [HumanMessage("/java create a secret in key vault"),
               AIMessage("Create a SecretClient, then call setSecret.")]
    assert topic_terms(history) == "SecretClient create secret key vault"
    # a turn without a topic of its own ("thanks") lets the earlier ones supply it
    later = [*history, HumanMessage("thanks"), AIMessage("You're welcome.")]
    assert topic_terms(later) == "thanks SecretClient create secret key vault"
    # enough terms from the newest turn: older turns are not consulted
    busy = [*history, HumanMessage("/java list queues in service bus namespace quickly")]
    assert topic_terms(busy) == "list queues service bus namespace quickly"
    # at most max_turns turns back
    old = [HumanMessage("upload blob"), AIMessage("ok"), *[AIMessage("no topic")] * 8]
    assert topic_terms(old) == ""
    assert topic_terms([]) == ""


# -- follow-ups through the RAG, offline ------------------------------------------------------


@pytest.fixture
def spied_rag(sample_index: Store,
              settings_factory: Callable[..., Settings]) -> Iterator[tuple[AzureSdkRag, QuerySpy]]:
    spy = QuerySpy()
    with sample_rag(sample_index, settings_factory) as rag:
        for language in ("python", "java"):
            rag.chains[language] = rag.chains[language].with_config(callbacks=[spy])
        yield rag, spy


def test_offline_follow_up_keeps_the_route_and_borrows_key_terms(
        spied_rag: tuple[AzureSdkRag, QuerySpy]) -> None:
    rag, spy = spied_rag
    session = rag.new_session()
    first = rag.ask("/python upload a blob to a container", session_id=session)
    follow = rag.ask("and how do I list them?", session_id=session)

    assert first.route.languages == ("python",)
    assert follow.route.languages == ("python",) and follow.route.signal == "history"
    assert spy.queries[0] == "upload a blob to a container"
    searched = spy.queries[1]
    assert searched.startswith("and how do I list them? ")
    assert {"upload", "blob", "container"} <= set(searched.split())
    history = rag.sessions.get(session).messages[:2]
    assert searched == rag.search_query(follow.route, history)
    assert {s.language for s in follow.sources} == {"python"}
    assert follow.sources[0].package == "azure-storage-blob"


def test_search_query_adds_the_conversations_topic(rag_offline: AzureSdkRag) -> None:
    route = rag_offline.route("and then delete it?")
    history = [HumanMessage("/java create a secret in key vault"),
               AIMessage("Create a SecretClient, then call setSecret.")]
    assert rag_offline.search_query(route, []) == "and then delete it?"
    assert rag_offline.search_query(route, history) == \
        "and then delete it? SecretClient create secret key vault"
    # an LLM is not asked for when there is none, even if use_llm is left to the default
    assert rag_offline.search_query(route, history, use_llm=False) == \
        rag_offline.search_query(route, history)


def test_sessions_do_not_share_history_and_reset_forgets(
        spied_rag: tuple[AzureSdkRag, QuerySpy]) -> None:
    rag, spy = spied_rag
    a, b = rag.new_session(), rag.new_session()
    assert a != b
    rag.ask("/java read a secret from key vault", session_id=a)
    other = rag.ask("and how do I delete it?", session_id=b)
    assert other.route.languages == () and other.route.signal == "none"

    again = rag.ask("and how do I delete it?", session_id=a)
    assert again.route.languages == ("java",)
    assert spy.queries[-1].startswith("and how do I delete it? ")
    assert {"read", "secret", "key", "vault"} <= set(spy.queries[-1].split())

    rag.reset(a)
    after = rag.ask("and how do I delete it?", session_id=a)
    assert after.route.languages == ()
    assert len(spy.queries) == 2  # the java chain was not asked again


def test_no_session_means_no_history(spied_rag: tuple[AzureSdkRag, QuerySpy]) -> None:
    rag, _ = spied_rag
    rag.ask("/python upload a blob")
    assert rag.ask("and how do I list them?").route.languages == ()
    assert len(rag.sessions) == 0


def test_the_history_reaches_the_prompt_and_stays_within_budget(
        sample_index: Store, settings_factory: Callable[..., Settings]) -> None:
    model = RecordingChatModel(reply="Use upload_blob. " + words(400, "detail"))
    settings = sample_settings(settings_factory, sample_index, history_tokens=250)
    with sample_rag(sample_index, settings_factory, settings=settings, model=model) as rag:
        session = rag.new_session()
        rag.ask("/python upload a blob", session_id=session)
        rag.ask("and list them?", session_id=session)
        prompt = model.prompts[-1]
        assert [m.type for m in prompt] == ["system", "human", "ai", "human"]
        assert prompt[1].text == "/python upload a blob"
        assert prompt[2].text.startswith("Use upload_blob.")
        for n in range(5):
            rag.ask(f"question {n} about blobs?", session_id=session)
            assert count_tokens(rag.sessions.get(session).messages) <= 250
        assert rag.sessions.get(session).messages[-2].text == "question 4 about blobs?"


@pytest.fixture(scope="module")
def rag_offline(sample_index: Store,
                settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    with sample_rag(sample_index, settings_factory) as rag:
        yield rag


# -- follow-ups with an LLM ------------------------------------------------------------------------


def condense_or_echo(body: dict[str, Any]) -> str:
    """The loopback model: a standalone query for the condense prompt, else a short answer."""
    last = message_text(body["messages"][-1]["content"])
    if "rewrite the follow-up" in last:
        return REWRITTEN
    return "Create a ContainerClient and call upload_blob."


@pytest.fixture
def llm_server() -> Iterator[AzureOpenAIServer]:
    with AzureOpenAIServer(responder=condense_or_echo) as srv:
        yield srv
    assert not srv.errors, srv.errors


@pytest.fixture
def llm_rag(llm_server: AzureOpenAIServer, sample_index: Store,
            settings_factory: Callable[..., Settings]) -> Iterator[tuple[AzureSdkRag, QuerySpy]]:
    settings = sample_settings(settings_factory, sample_index, llm="azure",
                               azure_openai_endpoint=llm_server.endpoint,
                               azure_openai_api_key=KEY, max_retries=0, request_timeout=10)
    spy = QuerySpy()
    with sample_rag(sample_index, settings_factory, settings=settings) as rag:
        rag.chains["python"] = rag.chains["python"].with_config(callbacks=[spy])
        yield rag, spy


def test_with_an_llm_a_follow_up_is_rewritten_before_the_search(
        llm_rag: tuple[AzureSdkRag, QuerySpy], llm_server: AzureOpenAIServer) -> None:
    rag, spy = llm_rag
    assert rag.uses_llm
    session = rag.new_session()
    rag.ask("/python upload a blob", session_id=session)
    assert len(llm_server.chat_requests) == 1  # a first question is not condensed

    follow = rag.ask("and how do I list them?", session_id=session)

    condense, answer = llm_server.chat_requests[1:]
    turns = [(m["role"], message_text(m["content"])) for m in condense.body["messages"]]
    assert turns[0] == ("user", "/python upload a blob")
    assert turns[1] == ("assistant", "Create a ContainerClient and call upload_blob.")
    assert turns[2][0] == "user" and "standalone search query" in turns[2][1]
    assert turns[2][1].endswith("Follow-up question: and how do I list them?")

    assert spy.queries == ["upload a blob", REWRITTEN]
    assert follow.route.languages == ("python",)
    assert follow.sources[0].package == "azure-storage-blob"
    question = message_text(answer.body["messages"][-1]["content"])
    assert question.rstrip().endswith("Question: and how do I list them?")
    assert follow.text == "Create a ContainerClient and call upload_blob."


def test_a_failed_rewrite_falls_back_to_key_terms(llm_rag: tuple[AzureSdkRag, QuerySpy],
                                                  llm_server: AzureOpenAIServer) -> None:
    rag, spy = llm_rag
    session = rag.new_session()
    rag.ask("/python upload a blob to a container", session_id=session)
    llm_server.script(Reply.server_error(503))  # the condense request fails

    follow = rag.ask("and how do I list them?", session_id=session)

    assert len(llm_server.chat_requests) == 3
    history = rag.sessions.get(session).messages[:2]
    assert spy.queries[-1] == f"and how do I list them? {topic_terms(history)}"
    assert {"ContainerClient", "upload", "blob", "container"} <= set(spy.queries[-1].split())
    assert follow.text == "Create a ContainerClient and call upload_blob."


@pytest.mark.parametrize(("question", "leans"), [
    ("and list them?", True),
    ("how do I delete it?", True),
    ("same thing in TypeScript?", True),
    ("how do I start from the earliest event instead of only new ones", True),
    ("in rust?", True),
    ("compare blob upload in Java and in C#", False),
    ("how do I send a message to a service bus queue", False),
])
def test_only_questions_that_refer_back_take_the_last_topic(question: str, leans: bool) -> None:
    from azsdk_rag.history import leans_on_history

    assert leans_on_history(question) is leans
