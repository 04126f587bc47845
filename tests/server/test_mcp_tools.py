"""The MCP tools' logic over the real RAG and the sample index: results, routes, READMEs, errors.

The MCP wire itself (the SDK's clients over stdio and streamable HTTP) is in test_mcp_sdk.py;
here each tool is called directly, so every case is cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document

from azsdk_rag.ingest.chunking import README_KEY
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.readmes import Catalogue, rebuild
from azsdk_rag.server.mcp_tools import (
    EXTRACTIVE,
    AzureSdkTools,
    ToolInputError,
    ask_text,
    packages_text,
    readme_text,
    search_text,
)
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import assert_one_sentence, sample_rag


@pytest.fixture(scope="module")
def tools(sample_index: Store,
          settings_factory: Callable[..., Settings]) -> Iterator[AzureSdkTools]:
    with sample_rag(sample_index, settings_factory) as rag:
        yield AzureSdkTools(rag)


def corpus_readme(sample_dir: Path, language: str, package: str) -> str:
    for line in (sample_dir / f"{language}.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["package"] == package:
            return record["text"]
    raise KeyError(package)


def error_of(call: Callable[[], object]) -> str:
    with pytest.raises(ToolInputError) as caught:
        call()
    message = str(caught.value)
    assert_one_sentence(message)
    return message


# -- search ----------------------------------------------------------------------------------------


def test_search_routes_by_slash_command_and_returns_chunks_with_their_metadata(
        tools: AzureSdkTools) -> None:
    result = tools.search("/python upload a file to a blob container", k=3)
    assert result.route.languages == ["python"] and result.route.signal == "slash"
    assert len(result.results) == 3
    top = result.results[0]
    assert (top.package, top.language, top.version) == ("azure-storage-blob", "python", "12.30.0")
    assert top.title == "Azure Storage Blobs client library for Python"
    assert top.url.startswith("https://github.com/Azure/azure-sdk-for-python/")
    assert top.section and top.score > 0
    assert not top.excerpt.startswith(top.title)  # the chunk's header line is not repeated
    text = search_text(result)
    assert text.startswith("Route: python (slash:")
    assert ("## [1] Azure Storage Blobs client library for Python: azure-storage-blob 12.30.0"
            in text)


def test_output_schemas_are_draft_07_and_check_what_the_tools_return(tools: AzureSdkTools) -> None:
    """Clients check every result against the schema (the Python SDK's in the schema's dialect)."""
    from jsonschema import Draft7Validator, validators

    from azsdk_rag.server.mcp import output_schema
    from azsdk_rag.server.mcp_tools import AskResult, PackageList, ReadmeResult, SearchResult

    for model in (SearchResult, ReadmeResult, AskResult, PackageList):
        assert validators.validator_for(output_schema(model)) is Draft7Validator
        Draft7Validator.check_schema(output_schema(model))
    validator = Draft7Validator(output_schema(SearchResult))
    good = tools.search("/python upload a file to a blob container", k=2).model_dump(mode="json")
    assert not list(validator.iter_errors(good))
    bad = json.loads(json.dumps(good))
    bad["results"][1]["score"] = "high"
    del bad["route"]["signal"]
    assert {tuple(e.path) for e in validator.iter_errors(bad)} == {("results", 1, "score"),
                                                                    ("route",)}


def test_search_routes_by_text_and_by_code_and_says_why(tools: AzureSdkTools) -> None:
    named = tools.search("send a message to a service bus queue with Node.js")
    assert named.route.languages == ["javascript"] and named.route.signal == "text"
    code = tools.search("let client = SecretClient::new(url, credential, None)?;")
    assert code.route.languages == ["rust"] and code.route.signal == "code", code.route
    nothing = tools.search("upload a file to blob storage")
    assert nothing.route.languages == [] and nothing.route.signal == "none"
    assert {r.language for r in nothing.results} > {"python"}


def test_an_explicit_language_wins_over_routing(tools: AzureSdkTools) -> None:
    result = tools.search("/python upload a blob", language="C#")
    assert result.route.languages == ["dotnet"] and result.route.signal == "forced"
    assert {r.language for r in result.results} == {"dotnet"}
    assert result.results[0].package == "Azure.Storage.Blobs"


def test_a_package_restricts_the_search_to_its_readme(tools: AzureSdkTools) -> None:
    result = tools.search("authenticate with a connection string", package="@azure/storage-blob",
                          k=4)
    assert [r.package for r in result.results] == ["@azure/storage-blob"] * 4
    assert result.route.languages == ["javascript"]
    # azure-storage-blob is a Python and a Java package: routing picks which one
    java = tools.search("upload a blob in Java", package="azure-storage-blob", k=2)
    assert {(r.language, r.package) for r in java.results} == {("java", "azure-storage-blob")}
    both = tools.search("upload a blob", package="azure-storage-blob", k=6)
    assert both.route.languages == ["java", "python"] and both.route.signal == "forced"
    assert both.route.reason == "the package azure-storage-blob is java, python"
    assert {r.package for r in both.results} == {"azure-storage-blob"}


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"query": ""}, "'query' is empty"),
    ({"query": "   \n"}, "'query' is empty"),
    ({"query": "x" * 100_000}, "'query' is 100,000 characters long; send at most 16,000."),
    ({"query": 42}, "'query' must be a string."),
    ({"query": "blob", "k": 0}, "'k' must be a whole number from 1 to 20."),
    ({"query": "blob", "k": 21}, "'k' must be a whole number from 1 to 20."),
    ({"query": "blob", "k": True}, "'k' must be a whole number from 1 to 20."),
    ({"query": "blob", "language": "cobol"},
     "Unknown language 'cobol'; the known ones are dotnet, java, javascript, python, rust."),
    ({"query": "blob", "package": "azure-storage-blop"},
     "Unknown package 'azure-storage-blop' for any language; the nearest names are"),
    ({"query": "blob", "package": "storage-blob", "language": "js"},
     "Unknown package 'storage-blob' for JavaScript/TypeScript; the nearest names are "
     "@azure/storage-blob."),
    ({"query": "blob", "package": "Azure.Storage.Blobs", "language": "python"},
     "The package 'Azure.Storage.Blobs' is not a Python package here, but exists for dotnet."),
])
def test_bad_search_input_is_one_sentence(tools: AzureSdkTools, kwargs: dict,
                                          expected: str) -> None:
    assert error_of(lambda: tools.search(**kwargs)).startswith(expected)


def test_unknown_package_suggests_the_nearest_names(tools: AzureSdkTools) -> None:
    message = error_of(lambda: tools.readme("azure-storage-blop", "python"))
    assert "azure-storage-blob" in message
    message = error_of(lambda: tools.readme("keyvault-secret", "rust"))
    assert "azure_security_keyvault_secrets" in message


# -- readme ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "package"), [
    ("python", "azure-storage-blob"), ("javascript", "@azure/storage-blob"),
    ("dotnet", "Azure.Storage.Blobs"), ("rust", "azure_security_keyvault_secrets")])
def test_readme_is_the_whole_readme_exactly_as_ingested(tools: AzureSdkTools, sample_dir: Path,
                                                        language: str, package: str) -> None:
    result = tools.readme(package, language)
    assert result.exact
    assert result.markdown == corpus_readme(sample_dir, language, package)
    assert (result.language, result.package) == (language, package)
    assert result.url.startswith("https://")
    version = f" {result.version}" if result.version else ""
    assert readme_text(result).startswith(f"README of {package}{version} ({language}): ")


def test_readme_names_are_matched_ignoring_case_and_language_is_required(
        tools: AzureSdkTools) -> None:
    assert tools.readme("AZURE-IDENTITY", "Python").package == "azure-identity"
    assert error_of(lambda: tools.readme("azure-identity", None)).startswith(
        "'language' is required")


def test_readme_of_an_index_without_readme_text_is_rebuilt_from_chunks() -> None:
    readme = ("# Title\n\nIntro paragraph that is long enough to overlap the next chunk.\n\n"
              "## Install\n\npip x")
    texts = ["Title | x (python) | Overview\n\n# Title\n\nIntro paragraph that is long enough "
             "to overlap the next chunk.",
             "Title | x (python) | Install\n\nlong enough to overlap the next chunk."
             "\n\n## Install",
             "Title | x (python) | Install\n\npip x"]
    meta = {"title": "Title", "package": "x", "language": "python"}
    # an index of chunker version 1: the body is the text after the header line
    assert rebuild(Document(page_content=t, metadata=meta) for t in texts) == readme
    # from version 2 on the body is in the metadata, whatever the text holds
    bodies = [t.split("\n\n", 1)[1] for t in texts]
    assert rebuild(Document(page_content="?", metadata={**meta, "body": b})
                   for b in bodies) == readme


def test_only_the_first_chunk_carries_the_readme_and_search_hits_never_do(
        tools: AzureSdkTools) -> None:
    result = tools.rag.retrieve(tools.rag.route("/python upload a blob"), k=5)
    assert all(README_KEY not in doc.metadata for doc in result)


# -- list ------------------------------------------------------------------------------------------


def test_list_packages_by_language_and_query(tools: AzureSdkTools) -> None:
    everything = tools.packages()
    assert everything.count == 29 == len(everything.packages)
    python = tools.packages(language="python")
    assert [p.package for p in python.packages] == sorted(p.package for p in python.packages)
    assert {p.plane for p in python.packages} == {"data", "mgmt"}
    blob = tools.packages(query="storage blob")
    assert {(p.language, p.package) for p in blob.packages} == {
        ("dotnet", "Azure.Storage.Blobs"), ("java", "azure-storage-blob"),
        ("javascript", "@azure/storage-blob"), ("python", "azure-storage-blob"),
        ("rust", "azure_storage_blob")}
    text = packages_text(blob)
    assert text.startswith("5 package(s) in all languages matching 'storage blob':")
    assert "- azure-storage-blob (python, data, storage): Azure Storage Blobs" in text
    none = tools.packages(query="quantum teleport")
    assert none.count == 0 and packages_text(none).endswith("matching 'quantum teleport'.\n")
    assert error_of(lambda: tools.packages(language="klingon")).startswith("Unknown language")


# -- ask -------------------------------------------------------------------------------------------


async def test_ask_answers_with_sources_labelled_extractive_and_keeps_a_session(
        tools: AzureSdkTools) -> None:
    first = await tools.ask("/python upload a file to a blob container", session="s1")
    assert first.extractive and first.answered_by == EXTRACTIVE
    assert "pip install azure-storage-blob" in first.answer
    assert first.sources[0].package == "azure-storage-blob"
    follow = await tools.ask("and how do I list the blobs?", session="s1")
    assert follow.route.languages == ["python"] and follow.route.signal == "history"
    fresh = await tools.ask("and how do I list the blobs?", session="s2")
    assert fresh.route.languages == []
    text = ask_text(first)
    assert f"Answered by: {EXTRACTIVE}" in text and "Sources:\n- [azure-storage-blob (python)](" \
        in text


async def test_ask_rejects_bad_input_in_one_sentence(tools: AzureSdkTools) -> None:
    for kwargs in ({"question": ""}, {"question": "y" * 100_000},
                   {"question": "blob", "language": "fortran"}):
        with pytest.raises(ToolInputError) as caught:
            await tools.ask(**kwargs)
        assert_one_sentence(str(caught.value))


def test_a_new_index_generation_is_read_again(sample_index: Store) -> None:
    catalogue = Catalogue(sample_index)
    before = catalogue.packages()
    catalogue._generation = -1  # as after a write; the catalogue reads the index again
    assert catalogue.packages() == before
    assert catalogue._generation == sample_index.generation


def test_an_empty_index_is_one_sentence(settings_factory: Callable[..., Settings],
                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    from azsdk_rag.errors import EmptyIndexError

    settings = settings_factory(qdrant_path=str(tmp_path_factory.mktemp("empty")))
    with pytest.raises(EmptyIndexError) as caught:
        AzureSdkRag(settings)
    assert_one_sentence(str(caught.value))
