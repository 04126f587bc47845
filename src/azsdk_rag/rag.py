"""``AzureSdkRag``: the entry point. Route a question, run its language chain, stream the answer.

    rag = AzureSdkRag.from_env()
    answer = rag.ask("/python upload a file to blob storage")
    print(answer.text, answer.route.reason, [s.url for s in answer.sources])

Every part is replaceable: pass your own ``router``, ``model`` or ``prompt``, set
``rag.chains["python"] = my_chain``, or register a language and it gets a chain on first use.
``rag.runnable`` is the whole pipeline as a LangChain Runnable for LCEL composition.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from .chains import ChainFactory, LanguageChains
from .embeddings import Embedders, make_embedders
from .errors import EmptyIndexError, ModelError
from .events import (
    EMPTY_ROUTE,
    EventCollector,
    aanswer_of,
    answer_of,
    empty_question,
    prompt_messages,
)
from .evidence import EvidenceSource, PackageEvidence, evidence_path, from_chunks
from .extractive import ExtractiveChatModel
from .history import Session, SessionStore, leans_on_history, topic_terms
from .languages import language_ids
from .llms import make_chat_model
from .model_errors import finish_reason_error, model_errors
from .prompts import condense_prompt
from .retrieval import to_sources
from .router import History, LanguageChoice, LanguageRouter, normalise_history
from .search import make_backend
from .settings import Settings
from .store import Store, store_errors
from .types import Answer, DoneEvent, Event, Hint, Retrieval, Route, RouteEvent, Turns


class AzureSdkRag:
    """Router + five language chains + sessions, over one index.

        with AzureSdkRag(Settings(qdrant_path="./index")) as rag:
            answer = rag.ask("/python upload a file to a blob container")

    Pass ``router``, ``model`` or ``prompt`` to replace a part; ``store`` and ``embedders`` to
    share them with another object (the caller then closes the store). Every method that takes
    a conversation takes a :data:`~azsdk_rag.router.History`: ``(role, text)`` pairs,
    ``{"role", "content"}`` dicts or LangChain messages, oldest first.
    """

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None,
                 embedders: Embedders | None = None, router: Runnable | None = None,
                 model: BaseChatModel | None = None, prompt: ChatPromptTemplate | None = None):
        self.settings = settings or Settings()
        self._own_store = store is None
        self.store = store or Store.open(self.settings)
        try:
            self.embedders = embedders or make_embedders(self.settings)
            with store_errors(self.settings):
                self.store.check_compatible(self.embedders.info)
                empty = self.store.count() == 0
            if empty:
                raise EmptyIndexError(
                    f"The index '{self.store.collection}' at {self.settings.location} is empty; "
                    "build it with 'azsdk-rag ingest'.")
            self.model: BaseChatModel = model or make_chat_model(self.settings) \
                or ExtractiveChatModel()
            self.uses_llm = not isinstance(self.model, ExtractiveChatModel)
            self.evidence = self._evidence_source()
            self.router: Runnable = router or self._default_router()
            self.factory = ChainFactory(
                make_backend(self.store, self.embedders), self.embedders, self.model, prompt,
                k=self.settings.top_k, mode=self.settings.retrieval_mode,
                context_tokens=self.settings.context_tokens, evidence=self.evidence)
        except BaseException:  # a failed start must not keep the embedded store locked
            self.close()
            raise
        self.chains = LanguageChains(self.factory)
        self.sessions = SessionStore(self.settings.history_tokens)

    def _evidence_source(self) -> EvidenceSource:
        """The index's identifier table: its file beside the embedded index, else (a server,
        ``:memory:``, an index ingested before the table existed) built from the chunks."""
        path = None if self.settings.uses_server else evidence_path(
            self.settings.qdrant_path, self.settings.collection)

        def from_index() -> PackageEvidence:
            with store_errors(self.settings):
                return from_chunks(
                    ((p.payload or {}).get("metadata", {}).get("language", ""),
                     (p.payload or {}).get("metadata", {}).get("package", ""),
                     (p.payload or {}).get("page_content", ""))
                    for p in self.store.scroll_payloads(["page_content", "metadata.language",
                                                         "metadata.package"]))
        return EvidenceSource(path, from_index)

    def _default_router(self) -> LanguageRouter:
        """Rules (with the index's identifier table); with an LLM, an LLM classifier for the
        inputs the rules find ambiguous."""
        if not self.uses_llm:
            return LanguageRouter(evidence=self.evidence)
        try:
            return LanguageRouter(classifier=self.model.with_structured_output(LanguageChoice),
                                  evidence=self.evidence)
        except NotImplementedError:
            return LanguageRouter(evidence=self.evidence)

    @classmethod
    def from_env(cls, **overrides: Any) -> AzureSdkRag:
        """Settings from the environment (``AZSDK_RAG_*``, ``AZURE_OPENAI_*``) and kwargs.

            rag = AzureSdkRag.from_env(top_k=8, llm="extractive")
        """
        return cls(Settings(**overrides))

    def close(self) -> None:
        """Release the index (the embedded store admits one process at a time).

            rag.close()   # or: with AzureSdkRag.from_env() as rag: ...
        """
        if self._own_store:
            self.store.close()

    def __enter__(self) -> AzureSdkRag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the pieces ----------------------------------------------------------------------------
    def route(self, question: str, history: History | None = None,
              language: str | None = None, hint: Hint | None = None) -> Route:
        """The language(s) of a question, and why; ``language`` forces one.

        ``hint`` (the editor's language and manifests) is passed to the router, which may use it
        when the text names no language.

            rag.route("/js list blobs").languages            # ('javascript',)
            rag.route("and in Java?", [("user", "/python upload a blob")]).signal
        """
        value: dict[str, Any] = {"question": question, "history": history or []}
        if language:
            value["language"] = language
        if hint:
            value["hint"] = hint
        return self.router.invoke(value)

    def retriever(self, languages: tuple[str, ...] = ()) -> Runnable:
        """The retriever of the chain for ``languages`` (none: all of them).

            docs = rag.retriever(("python",)).invoke("upload a blob", k=3)
        """
        return self.chains.retriever_for(languages)

    def search_query(self, route: Route, history: History | None = None,
                     use_llm: bool | None = None) -> str:
        """The query to search with: a follow-up gets its topic back from the conversation.

        With an LLM the follow-up is rewritten into a standalone query; without one (or with
        ``use_llm=False``) the conversation's key terms are added to it, when the question
        refers back or is too short to stand alone.

            rag.search_query(rag.route("and delete it?"), [("user", "/python upload a blob")])
        """
        history = as_messages(history)
        if not history:
            return route.query
        if self.uses_llm if use_llm is None else use_llm:
            try:
                with model_errors(self.settings):
                    chain = condense_prompt() | self.model | StrOutputParser()
                    rewritten = chain.invoke({"question": route.query, "history": history})
                if rewritten.strip():
                    return rewritten.strip()
            except ModelError:
                pass  # fall back to the rule below; the answer step reports a real outage
        if not leans_on_history(route.query):
            return route.query  # a question of its own: the last topic would pull it off course
        return f"{route.query} {topic_terms(history)}".strip()

    def retrieve(self, route: Route, history: History | None = None, k: int | None = None,
                 use_llm: bool | None = None, package: str | None = None) -> list[Document]:
        """Retrieval alone (what ``eval`` measures): what the routed languages' chain retrieves
        for a question, without calling the model; ``package`` keeps only that README's chunks.

            docs = rag.retrieve(rag.route("/python upload a blob"), k=3)
            docs[0].metadata["package"]   # 'azure-storage-blob'
        """
        messages = as_messages(history)
        inputs = {"question": route.query, "query": self.search_query(route, messages, use_llm),
                  "history": messages, "k": k or self.settings.top_k, "package": package}
        return self.chains.retrieval_for(route.languages).invoke(inputs)

    def _prepare(self, question: str, session_id: str | None, language: str | None,
                 hint: Hint | None = None, history: Turns | None = None,
                 ) -> tuple[Route, dict[str, Any], Runnable]:
        if history is not None:  # the client's transcript, instead of the session's
            session: Session | None = self.sessions.scratch(history)
        else:
            session = self.sessions.get(session_id) if session_id else None
        history_dicts = session.as_dicts() if session else []
        route = self.route(question, history_dicts, language, hint)
        messages = list(session.messages) if session else []
        inputs = {"question": route.query or question,
                  "query": self.search_query(route, messages), "history": messages}
        return route, inputs, self.chains.for_languages(route.languages)

    def retrieve_context(self, question: str, *, session_id: str | None = None,
                         language: str | None = None, hint: Hint | None = None,
                         history: Turns | None = None) -> Retrieval:
        """What :meth:`ask` would send to the model, without calling it.

        The same route, follow-up query, retriever, context and prompt as ``ask`` (the chain's
        steps before the model), so a client can send ``messages`` to a model of its own. The
        session's history is read, not extended.

            got = rag.retrieve_context("/python upload a blob")
            got.messages   # [(role, text), ...]: system, history, excerpts and question
        """
        question = question.strip()
        if not question:
            return Retrieval(EMPTY_ROUTE, [], "", [])
        route, inputs, _chain = self._prepare(question, session_id, language, hint, history)
        out = self.chains.context_for(route.languages).invoke(inputs)
        return Retrieval(route, to_sources(out["docs"]), out["variables"]["context"],
                         prompt_messages(out["prompt"]))

    async def aretrieve_context(self, question: str, *, session_id: str | None = None,
                                language: str | None = None, hint: Hint | None = None,
                                history: Turns | None = None) -> Retrieval:
        """The asynchronous twin of :meth:`retrieve_context` (runs in a worker thread).

            got = await rag.aretrieve_context("/python upload a blob")
        """
        return await asyncio.to_thread(self.retrieve_context, question, session_id=session_id,
                                       language=language, hint=hint, history=history)

    # -- answering -----------------------------------------------------------------------------
    async def astream(self, question: str, *, session_id: str | None = None,
                      language: str | None = None, hint: Hint | None = None,
                      history: Turns | None = None) -> AsyncIterator[Event]:
        """Events: the route, the sources, answer deltas, then done with the whole Answer.

        ``history`` (``(role, text)`` turns, oldest first) is the conversation so far as the
        client keeps it: used instead of the session's, and the turn is recorded nowhere.

            async for event in rag.astream("/python upload a blob", session_id="s1"):
                if isinstance(event, DeltaEvent):
                    print(event.text, end="")
        """
        question = question.strip()
        if not question:
            for event in empty_question():
                yield event
            return
        route, inputs, chain = await asyncio.to_thread(self._prepare, question, session_id,
                                                       language, hint, history)
        yield RouteEvent(route)
        collect = EventCollector()
        with model_errors(self.settings):
            async for chunk in chain.astream(inputs):
                for event in collect.feed(chunk):
                    yield event
        yield DoneEvent(self._finish(question, route, collect,
                                     session_id if history is None else None))

    def stream(self, question: str, *, session_id: str | None = None,
               language: str | None = None, hint: Hint | None = None,
               history: Turns | None = None) -> Iterator[Event]:
        """The synchronous twin of :meth:`astream`.

            for event in rag.stream("/python upload a blob"):
                print(event.type)   # route, sources, delta..., done
        """
        question = question.strip()
        if not question:
            yield from empty_question()
            return
        route, inputs, chain = self._prepare(question, session_id, language, hint, history)
        yield RouteEvent(route)
        collect = EventCollector()
        with model_errors(self.settings):
            for chunk in chain.stream(inputs):
                yield from collect.feed(chunk)
        yield DoneEvent(self._finish(question, route, collect,
                                     session_id if history is None else None))

    def _finish(self, question: str, route: Route, collect: EventCollector,
                session_id: str | None) -> Answer:
        error = finish_reason_error(collect.response_metadata)
        if error:
            raise error
        text = collect.text
        if not text.strip():
            text = "The model returned an empty answer; please rephrase the question."
        if session_id:
            self.sessions.add_turn(session_id, question, text, route.languages)
        return Answer(text, route, collect.sources)

    async def aask(self, question: str, *, session_id: str | None = None,
                   language: str | None = None, hint: Hint | None = None) -> Answer:
        """The whole answer, asynchronously (the last event of :meth:`astream`).

            answer = await rag.aask("/net read a secret from Key Vault")
        """
        return await aanswer_of(self.astream(question, session_id=session_id,
                                             language=language, hint=hint), question)

    def ask(self, question: str, *, session_id: str | None = None,
            language: str | None = None, hint: Hint | None = None) -> Answer:
        """The whole answer: text, route and sources. A ``session_id`` keeps the conversation.

            answer = rag.ask("/python upload a blob", session_id="s1")
            rag.ask("and delete it?", session_id="s1")   # a follow-up: same language and topic
        """
        return answer_of(self.stream(question, session_id=session_id, language=language,
                                     hint=hint), question)

    def new_session(self) -> str:
        """A fresh session id, for callers that do not name their conversations.

            sid = rag.new_session()
            rag.ask("/python upload a blob", session_id=sid)
        """
        return uuid.uuid4().hex

    def reset(self, session_id: str) -> None:
        """Forget a session's history (an unknown id is fine).

            rag.reset("s1")
        """
        self.sessions.reset(session_id)

    def index_version(self) -> int | None:
        """A cheap identity of the index's contents: the embedded index's version (one small file
        read); None on a server (no versions): the server then reuses :meth:`status` briefly.

            rag.index_version()  # 3: v3 is current; after the next ingest, 4
        """
        return self.store.version

    def status(self) -> dict[str, Any]:
        """The index (location, collection, points per language), the model and the languages.

            rag.status()["points"]
        """
        data = self.store.stats()
        data["llm"] = type(self.model).__name__
        data["retrieval_mode"] = self.settings.retrieval_mode
        data["languages_available"] = list(language_ids())
        return data

    # -- LCEL ----------------------------------------------------------------------------------
    @property
    def runnable(self) -> Runnable[dict[str, Any], dict[str, Any]]:
        """``{"question", "history"?, "language"?}`` -> ``{"route", "docs", "answer", ...}``.

        Streams like a chain: ``{"route"}``, then ``{"docs"}``, then ``{"answer": chunk}``s.

            chain = rag.runnable | (lambda out: out["answer"])
            chain.invoke({"question": "/rust create a blob client"})
        """

        def prepare(value: dict[str, Any] | str) -> dict[str, Any]:
            if isinstance(value, str):
                value = {"question": value}
            history = value.get("history") or []
            route = self.route(value["question"], history, value.get("language"))
            messages = as_messages(history)
            return {"question": route.query or value["question"], "route": route,
                    "query": self.search_query(route, messages), "history": messages}

        return RunnableLambda(prepare, name="route") | RunnableLambda(
            lambda value: self.chains.for_languages(value["route"].languages), name="dispatch")


def as_messages(history: History | None) -> list[BaseMessage]:
    """Any :data:`~azsdk_rag.router.History` as LangChain messages: user and assistant turns.

        as_messages([{"role": "user", "content": "hi"}, ("assistant", "hello")])
    """
    return [HumanMessage(text) if role == "user" else AIMessage(text)
            for role, text in normalise_history(history)]
