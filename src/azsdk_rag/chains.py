"""One factory for the language chains: retriever -> context -> prompt -> model, all Runnables.

A chain takes ``{"question", "query", "history"}`` and returns ``{"docs", "answer"}``; streamed, it
yields ``{"docs": [...]}`` as soon as retrieval is done and then ``{"answer": chunk}`` per model
chunk, which is what lets the API announce sources before the first word of the answer.
Any Runnable with that contract can replace a language's chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from .context import format_context
from .embeddings import Embedders
from .languages import get_language, language_ids
from .prompts import answer_prompt, as_data
from .retrieval import AzureSdkRetriever
from .search import SearchBackend


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


def build_chain(retriever: BaseRetriever, model: BaseChatModel,
                prompt: ChatPromptTemplate | None = None, *, languages: Sequence[str] = (),
                context_tokens: int = 3000) -> Runnable[dict[str, Any], dict[str, Any]]:
    """retriever -> formatted context (within ``context_tokens``) -> prompt -> model."""
    prompt = prompt or answer_prompt()
    inputs = prompt_variables(languages, context_tokens)
    return (
        RunnablePassthrough.assign(docs=itemgetter("query") | retriever)
        | RunnablePassthrough.assign(answer=inputs | prompt | model)
    ).with_config(run_name=f"chain[{','.join(languages) or 'all'}]")


def build_context_chain(retriever: BaseRetriever, prompt: ChatPromptTemplate | None = None, *,
                        languages: Sequence[str] = (),
                        context_tokens: int = 3000) -> Runnable[dict[str, Any], dict[str, Any]]:
    """:func:`build_chain` without the model: the same retriever, variables and prompt, adding
    ``"docs"``, ``"variables"`` (``context`` among them) and ``"prompt"`` (the prompt value:
    exactly the messages the model would be sent)."""
    prompt = prompt or answer_prompt()
    return (
        RunnablePassthrough.assign(docs=itemgetter("query") | retriever)
        | RunnablePassthrough.assign(variables=prompt_variables(languages, context_tokens))
        | RunnablePassthrough.assign(prompt=itemgetter("variables") | prompt)
    ).with_config(run_name=f"context[{','.join(languages) or 'all'}]")


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
        return AzureSdkRetriever(backend=self.backend, embedders=self.embedders,
                                 languages=tuple(languages), k=self.k, mode=self.mode,
                                 evidence=self.evidence)

    def context_chain(self, languages: Sequence[str] = (), *,
                      retriever: BaseRetriever | None = None,
                      prompt: ChatPromptTemplate | None = None) -> Runnable[dict[str, Any],
                                                                             dict[str, Any]]:
        """The chain's steps before the model (what the JSON-RPC ``retrieve`` returns)."""
        return build_context_chain(retriever or self.retriever(languages), prompt or self.prompt,
                                   languages=languages, context_tokens=self.context_tokens)

    def chain(self, languages: Sequence[str] = (), *, retriever: BaseRetriever | None = None,
              prompt: ChatPromptTemplate | None = None,
              model: BaseChatModel | None = None) -> Runnable[dict[str, Any], dict[str, Any]]:
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
        self._contexts: dict[tuple[str, ...], Runnable] = {}
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

    def context_for(self, languages: Sequence[str]) -> Runnable:
        """The steps before the model for these languages: retrieval, context, prompt."""
        key = tuple(sorted(languages))
        if key not in self._contexts:
            self._contexts[key] = self.factory.context_chain(key)
        return self._contexts[key]
