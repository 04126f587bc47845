"""The language chains: retriever -> context -> prompt -> model, and the chain registry.

A recording chat model stands in for the LLM so the test can read the exact prompt each chain
built; retrieval runs on the shared sample index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from azsdk_rag.chains import ChainFactory, LanguageChains, build_chain
from azsdk_rag.languages import Installer, Language, registered
from azsdk_rag.prompts import CLOSE, HUMAN, OPEN
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.retrieval import AzureSdkRetriever
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from azsdk_rag.tokens import encoding
from support.answering import RecordingChatModel, sample_rag

GO = Language(id="go", name="Go", slash_commands=("/go",), fence_tags=("go",),
              installer=Installer("go get {package}"))


@pytest.fixture(scope="module")
def rag(sample_index: Store, settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    with sample_rag(sample_index, settings_factory) as r:
        yield r


@pytest.fixture
def model() -> RecordingChatModel:
    return RecordingChatModel()


@pytest.fixture
def factory(rag: AzureSdkRag, model: RecordingChatModel) -> ChainFactory:
    return ChainFactory(rag.factory.backend, rag.embedders, model, k=4)


def inputs(question: str, history: list[Any] | None = None) -> dict[str, Any]:
    return {"question": question, "query": question, "history": history or []}


# -- one chain -----------------------------------------------------------------------------------


def test_invoke_returns_docs_and_answer(factory: ChainFactory) -> None:
    out = factory.chain(["python"]).invoke(inputs("upload a blob"))
    assert {"question", "query", "history", "docs", "answer"} <= set(out)
    assert len(out["docs"]) == 4
    assert all(isinstance(d, Document) for d in out["docs"])
    assert out["docs"][0].metadata["package"] == "azure-storage-blob"
    assert isinstance(out["answer"], AIMessage)
    assert out["answer"].text == "recorded answer from the test model"


def test_the_query_is_searched_and_the_question_is_asked(factory: ChainFactory,
                                                         model: RecordingChatModel) -> None:
    """A follow-up searches with its rewritten query but shows the model the user's question."""
    out = factory.chain(["python"]).invoke({
        "question": "and how do I delete it?", "query": "delete a secret from key vault",
        "history": [],
    })
    assert out["docs"][0].metadata["package"] == "azure-keyvault-secrets"
    assert model.last_human.rstrip().endswith("Question: and how do I delete it?")
    assert "delete a secret from key vault" not in model.last_human


def test_the_prompt_holds_rules_languages_history_excerpts_and_question(
        factory: ChainFactory, model: RecordingChatModel) -> None:
    history = [HumanMessage("/python upload a blob"), AIMessage("Use BlobClient.upload_blob.")]
    out = factory.chain(["python"]).invoke(inputs("how do I list blobs?", history))

    roles = [m.type for m in model.prompts[-1]]
    assert roles == ["system", "human", "ai", "human"]
    system = model.last_system
    assert "Azure SDKs (Python)" in system
    assert "ONLY the README excerpts" in system and "do not" in system
    human = model.last_human
    assert human.startswith(HUMAN.split("{context}")[0] + "[1] ")  # the data block
    assert human.rstrip().endswith("Question: how do I list blobs?")
    for doc in out["docs"]:
        assert f"README: {doc.metadata['url']}" in human
    assert model.prompts[-1][1].text == "/python upload a blob"


def test_a_chain_for_no_language_names_them_all(factory: ChainFactory,
                                                model: RecordingChatModel) -> None:
    out = factory.chain([]).invoke(inputs("upload a blob"))
    assert len({d.metadata["language"] for d in out["docs"]}) >= 3
    for name in (".NET", "Java", "Python", "Rust"):
        assert name in model.last_system


def test_streaming_gives_docs_before_the_first_answer_chunk(factory: ChainFactory) -> None:
    chunks = list(factory.chain(["rust"]).stream(inputs("read a secret")))
    keys = [next(iter(c)) if len(c) == 1 else "input" for c in chunks]
    assert keys[0] == "input"
    assert keys.index("docs") < keys.index("answer")
    assert keys.count("docs") == 1
    answer = [c["answer"] for c in chunks if "answer" in c]
    assert len(answer) > 2
    assert "".join(a.text for a in answer) == "recorded answer from the test model"
    docs = next(c["docs"] for c in chunks if "docs" in c)
    assert {d.metadata["language"] for d in docs} == {"rust"}


async def test_async_stream_has_the_same_contract(factory: ChainFactory) -> None:
    chunks = [c async for c in factory.chain(["java"]).astream(inputs("read a secret"))]
    first_docs = next(i for i, c in enumerate(chunks) if "docs" in c)
    first_answer = next(i for i, c in enumerate(chunks) if "answer" in c)
    assert first_docs < first_answer


def test_context_tokens_bound_the_excerpts(rag: AzureSdkRag, model: RecordingChatModel) -> None:
    small = ChainFactory(rag.factory.backend, rag.embedders, model, k=8, context_tokens=200)
    small.chain(["python"]).invoke(inputs("upload a blob"))
    excerpts = model.last_human.split(OPEN + "\n", 1)[1].rsplit("\n" + CLOSE, 1)[0]
    assert 0 < len(encoding().encode(excerpts)) <= 200


def test_chain_parts_can_be_replaced(rag: AzureSdkRag, factory: ChainFactory,
                                     model: RecordingChatModel) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("human", "LANGS={languages}\nCTX={context}\nQ={question}")])
    other = RecordingChatModel(reply="other model")
    fixed = RunnableLambda(lambda q: [Document(page_content="x\n\nbody text",
                                               metadata={"package": "pkg", "url": "u"})])
    out = factory.chain(["java"], retriever=fixed, prompt=prompt, model=other).invoke(
        inputs("q?"))
    assert out["answer"].text == "other model"
    assert other.last_human.startswith("LANGS=Java\nCTX=[1]")
    assert "body text" in other.last_human and other.last_human.endswith("Q=q?")
    assert model.prompts == []
    direct = build_chain(fixed, other, prompt, languages=["rust"]).invoke(inputs("r?"))
    assert direct["docs"][0].metadata["package"] == "pkg"
    assert "LANGS=Rust" in other.last_human


def test_factory_retriever_carries_the_settings(factory: ChainFactory) -> None:
    retriever = factory.retriever(["java", "python"])
    assert isinstance(retriever, AzureSdkRetriever)
    assert retriever.languages == ("java", "python")
    assert retriever.k == 4 and retriever.mode == "hybrid"


# -- the registry ----------------------------------------------------------------------------------


def test_one_chain_per_language_and_combined_chains_on_demand(factory: ChainFactory) -> None:
    chains = LanguageChains(factory)
    assert set(chains) == {"dotnet", "java", "javascript", "python", "rust"}
    assert len(chains) == 5
    assert chains.for_languages(["python"]) is chains["python"]
    both = chains.for_languages(["python", "java"])
    assert both is chains.for_languages(["java", "python"])
    assert both is not chains["python"]
    assert chains.for_languages([]) is chains.for_languages(())
    assert len(chains) == 5  # combined chains are not languages


def test_replacing_a_language_chain(factory: ChainFactory) -> None:
    chains = LanguageChains(factory)
    mine = RunnableLambda(lambda x: {"docs": [], "answer": "mine"})
    chains["python"] = mine
    assert chains["python"] is mine
    assert chains.for_languages(["python"]) is mine
    assert chains.for_languages(["python"]).invoke(inputs("q"))["answer"] == "mine"


def test_unknown_language_is_a_key_error(factory: ChainFactory) -> None:
    chains = LanguageChains(factory)
    with pytest.raises(KeyError):
        chains["cobol"]
    assert "cobol" not in chains


def test_a_registered_language_gets_a_chain_on_first_use(factory: ChainFactory,
                                                         model: RecordingChatModel) -> None:
    chains = LanguageChains(factory)
    with registered(GO):
        assert "go" not in list(chains)
        out = chains["go"].invoke(inputs("upload a blob"))
        assert "go" in list(chains)
    assert out["docs"] == []  # no Go READMEs in the index
    assert "Azure SDKs (Go)" in model.last_system
    assert model.last_human.startswith(HUMAN.split("{context}")[0] + "\n" + CLOSE)


def test_chains_for_a_subset_of_languages(factory: ChainFactory) -> None:
    chains = LanguageChains(factory, languages=["python"])
    assert list(chains) == ["python"]
    assert chains["rust"] is chains["rust"]  # built once on demand, then kept
    assert list(chains) == ["python", "rust"]


def test_retrieval_runs_the_retriever_in_the_callers_thread(factory: ChainFactory) -> None:
    # What retrieve and eval measure: no thread pool per question around the one retriever call.
    import threading

    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.retrievers import BaseRetriever

    threads: list[int] = []

    class Where(BaseRetriever):

        def _get_relevant_documents(self, query: str, *,
                                    run_manager: CallbackManagerForRetrieverRun,
                                    **kwargs: Any) -> list[Document]:
            threads.append(threading.get_ident())
            return [Document(page_content=query, metadata={"k": kwargs.get("k")})]

    where = Where()
    chains = LanguageChains(factory)
    chains["python"] = factory.chain(["python"], retriever=where)
    docs = chains.retrieval_for(["python"]).invoke({**inputs("upload a blob"), "k": 3})
    assert [d.page_content for d in docs] == ["upload a blob"]
    assert docs[0].metadata["k"] == 3
    assert threads == [threading.get_ident()]
