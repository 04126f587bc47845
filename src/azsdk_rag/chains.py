"""One factory for the language chains: retriever -> context -> prompt -> model, all Runnables.

A chain takes ``{"question", "query", "history"}`` and returns ``{"docs", "answer"}``; streamed, it
yields ``{"docs": [...]}`` as soon as retrieval is done and then ``{"answer": chunk}`` per model
chunk, which is what lets the API announce sources before the first word of the answer.
Any Runnable with that contract can replace a language's chain. The input may also carry ``k`` and
``package``, which a factory-built chain passes to its retriever.

Every path goes through these chains: ``ask`` and ``stream`` run them, and ``retrieve``,
``retrieve_context``, ``eval`` and the benchmarks run their steps before the model
(:meth:`LanguageChains.retrieval_for`, :meth:`LanguageChains.context_for`), so replacing
``rag.chains["python"]`` (or its retriever) changes what eval measures as well as the answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnablePassthrough,
    RunnableSequence,
)

from .context import format_context
from .embeddings import Embedders
from .languages import get_language, language_ids
from .prompts import answer_prompt, as_data
from .retrieval import AzureSdkRetriever
from .search import SearchBackend

RETRIEVAL_OPTIONS = ("k", "package")
"""Keys of a chain's input passed on to its retriever: ``{"query": ..., "k": 10}``."""


def _language_label(languages: Sequence[str]) -> str:
    names = []
    for lang in languages or language_ids():
        try:
            names.append(get_language(lang).name)
        except ValueError:
            names.append(lang)
    return ", ".join(names)


def prompt_variables(languages: Sequence[str] = (),
                     context_tokens: int = 3000) -> Runnable[dict[str, Any], dict[str, Any]]:
    """``{"question", "history", "docs"}`` -> the prompt's variables, the context formatted
    within ``context_tokens`` (as data: see :func:`~azsdk_rag.prompts.as_data`): the one step
    between retrieval and the prompt."""
    label = _language_label(languages)
    return RunnableLambda(lambda x: {
        "question": x["question"],
        "history": x.get("history") or [],
        "context": as_data(format_context(x["docs"], context_tokens)),
        "languages": label,
    }, name="format_context")


def _options(value: dict[str, Any]) -> dict[str, Any]:
    """The per-call retrieval options a chain's input may carry (``k``, ``package``)."""
    return {key: value[key] for key in RETRIEVAL_OPTIONS if value.get(key) is not None}


def retrieval_step(retriever: Runnable[str, list[Document]]
                   ) -> Runnable[dict[str, Any], dict[str, Any]]:
    """Adds ``"docs"``: the retriever's chunks for the input's ``"query"``, with its ``k`` and
    ``package`` when given to a ``BaseRetriever`` (one that takes no options ignores them;
    any other Runnable gets the query alone)."""
    return RunnablePassthrough.assign(docs=RetrieverCall(retriever))


class RetrieverCall(Runnable[dict[str, Any], list[Document]]):
    """The retriever's chunks for an input's ``"query"`` (with its ``k`` and ``package`` when the
    retriever is a ``BaseRetriever``; any other Runnable gets the query alone).

    A thin adapter with no run of its own: a call costs the retriever's own callbacks and
    nothing else (as a ``RunnableLambda`` it added a second run, about 0.15 ms a question).

        RetrieverCall(retriever).invoke({"query": "upload a blob", "k": 3})
    """

    name = "retrieve"

    def __init__(self, retriever: Runnable[str, list[Document]]):
        self.retriever = retriever
        self._takes_options = isinstance(retriever, BaseRetriever)

    def _options(self, value: dict[str, Any]) -> dict[str, Any]:
        return _options(value) if self._takes_options else {}

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None,
               **kwargs: Any) -> list[Document]:
        return self.retriever.invoke(input["query"], config, **self._options(input))

    async def ainvoke(self, input: dict[str, Any], config: RunnableConfig | None = None,
                      **kwargs: Any) -> list[Document]:
        return await self.retriever.ainvoke(input["query"], config, **self._options(input))


def context_steps(prompt: ChatPromptTemplate, languages: Sequence[str] = (),
                  context_tokens: int = 3000) -> list[Runnable[dict[str, Any], dict[str, Any]]]:
    """From ``"docs"`` on: add ``"variables"`` (``context`` among them) and ``"prompt"`` (the
    prompt value: exactly the messages the model is sent)."""
    return [RunnablePassthrough.assign(variables=prompt_variables(languages, context_tokens)),
            RunnablePassthrough.assign(prompt=itemgetter("variables") | prompt)]


class LanguageChain(RunnableSequence):
    """A chain the factory built: retrieval, then the answer (context, prompt, model).

    It runs like any RunnableSequence; :attr:`retrieval` and :attr:`context` run its steps
    before the model alone, which is how ``retrieve``, ``eval`` and ``retrieve_context`` see
    exactly what its answers are built from without calling the model.

        chain = factory.chain(["python"])
        chain.retrieval.invoke({"query": "upload a blob", "k": 10})["docs"]
    """

    retriever: Any = None
    """The retriever of its first step."""
    prepare: Any = None
    """Its steps from ``"docs"`` to ``"prompt"`` (:func:`context_steps`), run by the answer."""

    @property
    def retrieval(self) -> Runnable[dict[str, Any], dict[str, Any]]:
        """The first step alone: the input with ``"docs"`` added."""
        return self.first

    @property
    def context(self) -> Runnable[dict[str, Any], dict[str, Any]]:
        """Every step but the model: ``"docs"``, ``"variables"`` and ``"prompt"`` added."""
        return RunnableSequence(self.first, self.prepare, name=f"context:{self.name}")


def build_chain(retriever: Runnable[str, list[Document]], model: BaseChatModel,
                prompt: ChatPromptTemplate | None = None, *, languages: Sequence[str] = (),
                context_tokens: int = 3000) -> LanguageChain:
    """retriever -> formatted context (within ``context_tokens``) -> prompt -> model."""
    steps = context_steps(prompt or answer_prompt(), languages, context_tokens)
    prepare: Runnable[dict[str, Any], dict[str, Any]] = RunnableSequence(*steps)
    chain = LanguageChain(
        first=retrieval_step(retriever), middle=[],
        last=RunnablePassthrough.assign(answer=prepare | itemgetter("prompt") | model),
        name=f"chain[{','.join(languages) or 'all'}]")
    chain.retriever, chain.prepare = retriever, prepare
    return chain


def retrieval_of(chain: Runnable) -> Runnable[dict[str, Any], list[Document]]:
    """What a language chain retrieves for an input, as it answers: a factory-built chain's
    first step alone (no model call); any other Runnable is run whole and its ``"docs"`` read.

    The first step's retriever is called directly, in the caller's thread: the step itself (an
    ``assign``) runs its one key in a new thread pool per call, which cost 10-25 ms per question
    on a loaded machine (measured: route + retrieve p50 63 -> 39 ms at load 18)."""
    if isinstance(chain, LanguageChain) and chain.retriever is not None:
        return RetrieverCall(chain.retriever)
    first = chain.retrieval if isinstance(chain, LanguageChain) else chain
    return first | RunnableLambda(lambda out: list(out.get("docs") or []), name="docs")


class ChainFactory:
    """Builds the retriever and chain for any set of languages from shared parts."""

    def __init__(self, backend: SearchBackend, embedders: Embedders, model: BaseChatModel,
                 prompt: ChatPromptTemplate | None = None, *, k: int = 5,
                 mode: str = "hybrid", context_tokens: int = 3000, evidence: Any = None):
        self.backend = backend
        self.embedders = embedders
        self.model = model
        self.prompt = prompt or answer_prompt()
        self.k = k
        self.mode = mode
        self.context_tokens = context_tokens
        self.evidence = evidence  # the index's identifier table (azsdk_rag.evidence)

    def retriever(self, languages: Sequence[str] = ()) -> AzureSdkRetriever:
        """A new retriever restricted to ``languages`` (none: all of them)."""
        return AzureSdkRetriever(backend=self.backend, embedders=self.embedders,
                                 languages=tuple(languages), k=self.k, mode=self.mode,
                                 evidence=self.evidence)

    def chain(self, languages: Sequence[str] = (), *,
              retriever: Runnable[str, list[Document]] | None = None,
              prompt: ChatPromptTemplate | None = None,
              model: BaseChatModel | None = None) -> LanguageChain:
        """The chain for ``languages``: the factory's parts, or those given.

            rag.chains["python"] = rag.factory.chain(["python"], retriever=my_retriever)
        """
        return build_chain(retriever or self.retriever(languages), model or self.model,
                           prompt or self.prompt, languages=languages,
                           context_tokens=self.context_tokens)


class LanguageChains(Mapping[str, Runnable]):
    """The chain per language, plus chains built on demand for several or no languages.

    ``chains["python"] = my_runnable`` replaces one language's chain; a language registered in
    :mod:`azsdk_rag.languages` after start-up gets a chain from the factory on first use.
    """

    def __init__(self, factory: ChainFactory, languages: Sequence[str] | None = None):
        self.factory = factory
        self._chains: dict[str, Runnable] = {}
        self._combined: dict[tuple[str, ...], Runnable] = {}
        for lang in languages if languages is not None else language_ids():
            self._chains[lang] = factory.chain([lang])

    def __getitem__(self, language: str) -> Runnable:
        if language not in self._chains:
            if language not in language_ids():
                raise KeyError(language)
            self._chains[language] = self.factory.chain([language])
        return self._chains[language]

    def __setitem__(self, language: str, chain: Runnable) -> None:
        self._chains[language] = chain

    def __iter__(self) -> Iterator[str]:
        return iter(self._chains)

    def __len__(self) -> int:
        return len(self._chains)

    def for_languages(self, languages: Sequence[str]) -> Runnable:
        """One language: its chain; several or none: a chain that searches across them."""
        if len(languages) == 1:
            return self[languages[0]]
        key = tuple(sorted(languages))
        if key not in self._combined:
            self._combined[key] = self.factory.chain(key)
        return self._combined[key]

    def retrieval_for(self, languages: Sequence[str]) -> Runnable[dict[str, Any], list[Document]]:
        """What the chain for these languages retrieves (:func:`retrieval_of`): what ``ask``
        answers from is what ``retrieve`` and ``eval`` measure."""
        return retrieval_of(self.for_languages(languages))

    def context_for(self, languages: Sequence[str]) -> Runnable[dict[str, Any], dict[str, Any]]:
        """The steps before the model for these languages: retrieval, context, prompt. A chain
        of one's own is run whole for its ``"docs"``; the factory's prompt is then built."""
        chain = self.for_languages(languages)
        if isinstance(chain, LanguageChain):
            return chain.context
        steps = context_steps(self.factory.prompt, languages, self.factory.context_tokens)
        return RunnableSequence(RunnablePassthrough.assign(docs=retrieval_of(chain)), *steps)

    def retriever_for(self, languages: Sequence[str]) -> Runnable[str, list[Document]]:
        """The retriever of the chain for these languages (a chain of one's own has none known:
        then a new one from the factory)."""
        chain = self.for_languages(languages)
        if isinstance(chain, LanguageChain) and chain.retriever is not None:
            return chain.retriever
        return self.factory.retriever(languages)
