"""One assembly of retrieval: ask, stream, retrieve, retrieve_context and eval all go through the
language chains, so what eval measures is what answers are built from.

Each test replaces a chain (or its retriever) of a real RAG over the sample index and checks that
every path sees the replacement; on the previous design ``retrieve`` and ``eval`` built a retriever
of their own per call and went on measuring the factory's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from pydantic import Field

from azsdk_rag.chains import LanguageChain
from azsdk_rag.evaluation import Question, evaluate_rag
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import RecordingChatModel, sample_rag

BLOB = Question("blob", "/python upload a file to a blob container", ("python",),
                ("azure-storage-blob",))


def chunk(package: str) -> Document:
    return Document(page_content=f"{package} | {package} (python) | Overview\n\nbody of {package}",
                    metadata={"language": "python", "package": package, "title": package,
                              "url": f"https://x/{package}/README.md", "section": "Overview",
                              "package_score": 1.0})


class FixedRetriever(BaseRetriever):
    """Always the same chunk; records the options it was called with."""

    package: str
    calls: list[dict[str, Any]] = Field(default_factory=list)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        self.calls.append({"query": query, **kwargs})
        return [chunk(self.package)]


@pytest.fixture(scope="module")
def shared_rag(sample_index: Store,
               settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    with sample_rag(sample_index, settings_factory) as r:
        yield r


@pytest.fixture
def rag(shared_rag: AzureSdkRag) -> Iterator[AzureSdkRag]:
    """The shared RAG; the Python chain a test replaces is put back after it."""
    python = shared_rag.chains["python"]
    yield shared_rag
    shared_rag.chains["python"] = python


def test_the_factory_chain_is_what_eval_and_retrieve_measure(rag: AzureSdkRag) -> None:
    assert isinstance(rag.chains["python"], LanguageChain)
    assert evaluate_rag(rag, [BLOB])["hit_at_1"] == 1.0
    route = rag.route(BLOB.question)
    inputs = {"question": route.query, "query": route.query, "history": []}
    answered = rag.chains["python"].invoke(inputs)["docs"]
    assert [d.metadata for d in rag.retrieve(route)] == [d.metadata for d in answered]
    assert rag.retriever(("python",)) is rag.chains["python"].retriever


def test_replacing_a_chain_changes_what_eval_measures_and_every_path(rag: AzureSdkRag) -> None:
    rag.chains["python"] = RunnableLambda(
        lambda x: {"docs": [chunk("azure-identity")], "answer": AIMessage("mine")})

    result = evaluate_rag(rag, [BLOB])
    assert result["hit_at_1"] == 0.0
    assert result["misses"][0]["retrieved"] == ["azure-identity"]
    route = rag.route(BLOB.question)
    assert [d.metadata["package"] for d in rag.retrieve(route)] == ["azure-identity"]
    context = rag.retrieve_context(BLOB.question)
    assert [s.package for s in context.sources] == ["azure-identity"]
    assert "body of azure-identity" in context.context
    answer = rag.ask(BLOB.question)
    assert answer.text == "mine" and [s.package for s in answer.sources] == ["azure-identity"]
    other = rag.route("/java upload a file to a blob container")
    assert {d.metadata["language"] for d in rag.retrieve(other)} == {"java"}  # its own chain


def test_replacing_the_retriever_changes_eval_and_the_model_is_not_called(
        rag: AzureSdkRag) -> None:
    model = RecordingChatModel()
    fixed = FixedRetriever(package="azure-keyvault-secrets")
    rag.chains["python"] = rag.factory.chain(["python"], retriever=fixed, model=model)

    result = evaluate_rag(rag, [BLOB], k=5)

    assert result["hit_at_1"] == 0.0
    assert result["misses"][0]["retrieved"] == ["azure-keyvault-secrets"]
    assert model.prompts == []  # eval runs the chain's steps before the model only
    assert fixed.calls[-1]["k"] == 10  # 2 * k chunks, as eval always asked for
    assert rag.retriever(("python",)) is fixed
    got = rag.retrieve(rag.route("/python read a secret"), package="azure-keyvault-secrets")
    assert fixed.calls[-1]["package"] == "azure-keyvault-secrets" and len(got) == 1
    assert rag.ask(BLOB.question).sources[0].package == "azure-keyvault-secrets"
    assert model.prompts  # ask does call it, with the same retriever's excerpts
    assert "body of azure-keyvault-secrets" in model.last_human


async def test_the_async_stream_uses_the_replaced_chain_too(rag: AzureSdkRag) -> None:
    rag.chains["python"] = RunnableLambda(
        lambda x: {"docs": [chunk("azure-identity")], "answer": AIMessage("mine")})
    answer = await rag.aask(BLOB.question)
    assert [s.package for s in answer.sources] == ["azure-identity"]
