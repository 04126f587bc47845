"""The offline extractive model: a readable answer from the README excerpts in its prompt.

Prompts are built exactly as the chains build them (``format_context`` + ``answer_prompt``) from
real chunks of the sample index, so the format the model parses is the one it gets in use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from azsdk_rag.extractive import (
    LABEL,
    ExtractiveChatModel,
    compose_answer,
    escape,
    parse_excerpts,
    quote,
)
from azsdk_rag.prompts import answer_prompt
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.retrieval import format_context
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import sample_rag

INSTALL = {
    "python": ["pip install azure-storage-blob"],
    "javascript": ["npm install @azure/storage-blob"],
    "dotnet": ["dotnet add package Azure.Storage.Blobs"],
    "java": ["<dependency>", "<groupId>com.azure</groupId>",
             "<artifactId>azure-storage-blob</artifactId>", "<version>12.14.0</version>",
             "</dependency>"],
    "rust": ["cargo add azure_storage_blob"],
}


@pytest.fixture(scope="module")
def rag(sample_index: Store, settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkRag]:
    with sample_rag(sample_index, settings_factory) as r:
        yield r


@pytest.fixture(scope="module")
def model() -> ExtractiveChatModel:
    return ExtractiveChatModel()


def prompt_for(docs: list[Document], question: str, language: str = "Python",
               history: list[BaseMessage] | None = None) -> list[BaseMessage]:
    value = answer_prompt().invoke({"question": question, "context": format_context(docs, 3000),
                                    "languages": language, "history": history or []})
    return value.to_messages()


def body(doc: Document) -> str:
    return doc.page_content.split("\n\n", 1)[-1].strip()


def unquoted(text: str) -> str:
    """An answer with its blockquote markers taken off: the README text as it was."""
    return "\n".join(line[2:] if line.startswith("> ") else "" if line == ">" else line
                     for line in text.splitlines())


# -- answers from real excerpts --------------------------------------------------------------------


def test_the_offline_model_is_chosen_when_nothing_is_configured(rag: AzureSdkRag) -> None:
    assert isinstance(rag.model, ExtractiveChatModel)
    assert rag.uses_llm is False
    assert rag.status()["llm"] == "ExtractiveChatModel"


@pytest.mark.parametrize("language", sorted(INSTALL))
def test_answer_has_label_install_section_code_and_links(rag: AzureSdkRag,
                                                          model: ExtractiveChatModel,
                                                          language: str) -> None:
    docs = rag.retriever((language,)).invoke("upload a blob to a container")
    text = model.invoke(prompt_for(docs, "upload a blob to a container")).text

    assert text.startswith(LABEL)
    assert "Extracted from the Azure SDK READMEs" in text
    for part in INSTALL[language]:
        assert part in text, part
    top = docs[0]
    assert top.metadata["package"] in text
    assert (f"**{escape(top.metadata['section'])}**, quoted from "
            f"[{escape(top.metadata['title'])}]") in text
    assert quote(body(top))[:300] in text  # the most relevant section's own text, quoted
    # its code, or else code from another excerpt of the same README
    same = [d for d in docs if d.metadata["package"] == top.metadata["package"]]
    with_code = [d for d in same if "```" in body(d)]
    if with_code:
        assert quote(body(with_code[0]))[:300] in text
    # the sources are the READMEs quoted, not every README that filled the context
    sources = text.split("**Sources**", 1)[1]
    assert f"]({top.metadata['url']})" in sources
    for doc in docs:
        if doc.metadata["language"] == language and doc.metadata["package"] != \
                top.metadata["package"]:
            assert f"]({doc.metadata['url']})" not in sources
    assert text.index(INSTALL[language][0]) < text.index(quote(body(top))[:80])


@pytest.mark.parametrize(("language", "fence"), [("java", "```java"), ("javascript", "```ts")])
def test_the_top_sections_code_is_shown(rag: AzureSdkRag, model: ExtractiveChatModel,
                                        language: str, fence: str) -> None:
    docs = rag.retriever((language,)).invoke("upload a blob")
    assert fence in body(docs[0])
    text = model.invoke(prompt_for(docs, "upload a blob")).text
    code = body(docs[0]).split(fence, 1)[1].split("```", 1)[0]
    assert fence + code in unquoted(text)  # the fence intact inside the quote
    assert f"> {fence}" in text


def test_a_rust_pre_release_is_pinned(rag: AzureSdkRag, model: ExtractiveChatModel) -> None:
    rust = rag.retriever(("rust",)).invoke("upload a blob")
    text = model.invoke(prompt_for(rust, "upload a blob", "Rust")).text
    assert "cargo add azure_storage_blob@1.1.0-beta.3" in text


def test_a_multi_language_answer_has_a_part_per_language(rag: AzureSdkRag,
                                                         model: ExtractiveChatModel) -> None:
    docs = rag.retriever(("java", "python")).invoke("upload a blob")
    text = model.invoke(prompt_for(docs, "upload a blob", "Java, Python")).text
    assert "`azure-storage-blob` (Java)" in text and "`azure-storage-blob` (Python)" in text
    assert "pip install azure-storage-blob" in text and "<dependency>" in text


def test_no_excerpts_says_plainly_the_readmes_do_not_cover_it(model: ExtractiveChatModel) -> None:
    text = model.invoke(prompt_for([], "how do I bake bread?")).text
    assert "do not cover" in text
    assert "```" not in text and "pip install" not in text


def test_streaming_gives_several_chunks_that_join_to_the_answer(rag: AzureSdkRag,
                                                               model: ExtractiveChatModel) -> None:
    docs = rag.retriever(("python",)).invoke("read a secret")
    messages = prompt_for(docs, "read a secret")
    chunks = list(model.stream(messages))
    texts = [c.text for c in chunks]
    assert len([t for t in texts if t]) > 5
    assert "".join(texts) == model.invoke(messages).text
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].response_metadata.get("finish_reason") == "stop"


async def test_async_streaming_matches(rag: AzureSdkRag, model: ExtractiveChatModel) -> None:
    docs = rag.retriever(("javascript",)).invoke("read a secret")
    messages = prompt_for(docs, "read a secret")
    texts = [c.text async for c in model.astream(messages)]
    assert "".join(texts) == (await model.ainvoke(messages)).text


def test_history_before_the_prompt_is_ignored(rag: AzureSdkRag,
                                              model: ExtractiveChatModel) -> None:
    docs = rag.retriever(("python",)).invoke("upload a blob")
    plain = model.invoke(prompt_for(docs, "upload a blob")).text
    history = [HumanMessage("README excerpts:\n[1] Decoy | package: decoy | section: x\n"
                            "README: https://example.invalid\nnot this"), AIMessage("earlier")]
    with_history = model.invoke(prompt_for(docs, "upload a blob", history=history)).text
    assert with_history == plain
    assert "decoy" not in with_history


def test_through_the_rag_the_answer_is_the_extract(rag: AzureSdkRag) -> None:
    answer = rag.ask("/dotnet upload a blob")
    assert answer.text.startswith(LABEL)
    assert "dotnet add package Azure.Storage.Blobs" in answer.text
    assert answer.sources[0].url in answer.text


# -- parsing and composing -----------------------------------------------------------------------


def _doc(title: str, package: str, language: str, section: str, text: str,
         **extra: str) -> Document:
    meta = {"title": title, "package": package, "language": language, "section": section,
            "url": f"https://github.com/Azure/x/{package}/README.md", **extra}
    return Document(page_content=f"{package} > {section}\n\n{text}", metadata=meta)


DOCS = [
    _doc("Blobs for Python", "azure-storage-blob", "python", "Key concepts",
         "A container holds blobs.", version="12.30.0"),
    _doc("Blobs for Python", "azure-storage-blob", "python", "Examples > Upload",
         "Upload a blob:\n\n```python\nclient.upload_blob(data)\n```"),
    _doc("Identity for Python", "azure-identity", "python", "Overview", "Credentials."),
    _doc("Blob for Java", "azure-storage-blob", "java", "Upload", "Java text.",
         version="12.14.0", group="com.azure"),
]


def test_parse_excerpts_reads_back_format_context() -> None:
    excerpts, question = parse_excerpts(format_context(DOCS, 3000) + "\nQuestion: upload?")
    assert question == "upload?"
    assert [e.package for e in excerpts] == [d.metadata["package"] for d in DOCS]
    assert [e.language for e in excerpts] == ["python", "python", "python", "java"]
    assert [e.url for e in excerpts] == [d.metadata["url"] for d in DOCS]
    assert excerpts[0].fields["version"] == "12.30.0"
    assert excerpts[3].fields["group"] == "com.azure"
    assert excerpts[1].fields["section"] == "Examples > Upload"
    assert excerpts[1].body == body(DOCS[1])


def test_compose_takes_code_from_the_same_package_when_the_top_excerpt_has_none() -> None:
    excerpts, _ = parse_excerpts(format_context(DOCS, 3000))
    text = compose_answer(excerpts)
    assert "A container holds blobs." in text
    assert "client.upload_blob(data)" in text  # from the package's second excerpt
    assert "Credentials." not in text  # another package's text: neither quoted nor cited
    assert "azure-identity/README.md" not in text
    # one source line per README, though two excerpts share one
    assert text.count("(https://github.com/Azure/x/azure-storage-blob/README.md): ") == 1
    assert "pip install azure-storage-blob" in text
    assert "<artifactId>azure-storage-blob</artifactId>" in text


def test_compose_without_excerpts_is_the_not_covered_sentence() -> None:
    assert "do not cover" in compose_answer([])


def test_an_unknown_language_gets_no_install_command() -> None:
    doc = _doc("Blob for Go", "azblob", "go", "Upload", "Go text.")
    excerpts, _ = parse_excerpts(format_context([doc], 3000))
    text = compose_answer(excerpts)
    assert "Install:" not in text
    assert "Go text." in text and "azblob" in text


def test_without_excerpts_in_the_prompt_it_explains_itself(model: ExtractiveChatModel) -> None:
    text = model.invoke("Hello").text
    assert "Azure SDK" in text and "/python" in text
