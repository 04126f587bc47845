"""``azsdk-rag mcp`` through the MCP Python SDK's own ``ClientSession``.

Over stdio and over streamable HTTP, the real command runs over a small index and one script
checks every tool, the README resources and every bad input. In process (the SDK's memory
transport) the failures that need a special RAG: an empty index, a model failure, a crash whose
message holds a key.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatResult
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError
from mcp.shared.memory import create_connected_server_and_client_session
from mcp.types import CallToolResult

from azsdk_rag.errors import EmptyIndexError, ModelError
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.server.framing import INTERNAL_ERROR
from azsdk_rag.server.mcp import RagHolder, build_server
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import assert_one_sentence, build_small_index, sample_rag

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "azsdk-rag"
SECRET = "sk-test-SECRET-0123456789"
PACKAGES = frozenset({("python", "azure-storage-blob"), ("python", "azure-keyvault-secrets"),
                      ("java", "azure-storage-blob"), ("javascript", "@azure/storage-blob")})
TOOLS = ["ask_azure_sdk", "get_azure_sdk_readme", "list_azure_sdk_packages",
         "search_azure_sdk_docs"]


@pytest.fixture(scope="module")
def mcp_index(sample_index: Store, settings_factory: Callable[..., Settings],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_index(sample_index, tmp_path_factory.mktemp("mcp-index"),
                             settings_factory, PACKAGES)


@pytest.fixture
def server_env(mcp_index: Path, model_dir: Path) -> dict[str, str]:
    return {**os.environ, "AZSDK_RAG_QDRANT_PATH": str(mcp_index),
            "AZSDK_RAG_MODEL_DIR": str(model_dir), "AZSDK_RAG_LLM": "extractive",
            "HF_HUB_OFFLINE": "1"}


def text(result: CallToolResult) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


async def call(client: ClientSession, tool: str, /, **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments)


async def error(client: ClientSession, tool: str, /, **arguments: Any) -> str:
    result = await call(client, tool, **arguments)
    assert result.isError, (tool, arguments)
    message = text(result)
    assert_one_sentence(message)
    return message


async def exercise(session: ClientSession) -> None:
    """Every tool, the resources and every bad input; the server keeps serving throughout."""
    listed = await session.list_tools()
    assert sorted(t.name for t in listed.tools) == TOOLS
    for tool in listed.tools:
        assert tool.outputSchema and tool.outputSchema["type"] == "object", tool.name
        assert tool.description and len(tool.description) > 200, tool.name
        assert tool.annotations and tool.annotations.readOnlyHint
    schema = {t.name: t.inputSchema for t in listed.tools}["search_azure_sdk_docs"]
    assert schema["required"] == ["query"]
    assert schema["properties"]["k"]["maximum"] == 20

    found = await call(session, "search_azure_sdk_docs",
                       query="/python upload a file to a blob container", k=3)
    assert not found.isError, text(found)
    data = found.structuredContent
    assert data["route"]["languages"] == ["python"] and data["route"]["signal"] == "slash"
    assert [r["package"] for r in data["results"]][:1] == ["azure-storage-blob"]
    assert len(data["results"]) == 3
    assert set(data["results"][0]) == {"title", "package", "language", "section", "url",
                                       "version", "score", "excerpt"}
    assert "azure-storage-blob" in text(found) and text(found).startswith("Route: python")

    java = await call(session, "search_azure_sdk_docs", query="upload a blob",
                      language="java", package="azure-storage-blob", k=2)
    assert {(r["language"], r["package"]) for r in java.structuredContent["results"]} == {
        ("java", "azure-storage-blob")}

    readme = await call(session, "get_azure_sdk_readme", package="@azure/storage-blob",
                        language="javascript")
    assert not readme.isError, text(readme)
    assert readme.structuredContent["exact"] is True
    assert "npm install @azure/storage-blob" in readme.structuredContent["markdown"]

    packages = await call(session, "list_azure_sdk_packages", query="blob")
    assert {(p["language"], p["package"]) for p in packages.structuredContent["packages"]} == {
        ("python", "azure-storage-blob"), ("java", "azure-storage-blob"),
        ("javascript", "@azure/storage-blob")}

    first = await call(session, "ask_azure_sdk", question="/python upload a blob", session="c")
    assert not first.isError, text(first)
    assert first.structuredContent["extractive"] is True
    assert "offline" in first.structuredContent["answered_by"]
    assert first.structuredContent["sources"][0]["package"] == "azure-storage-blob"
    follow = await call(session, "ask_azure_sdk", question="and how do I list them?",
                        session="c")
    assert follow.structuredContent["route"]["signal"] == "history"

    resources = await session.list_resources()
    uris = {str(r.uri) for r in resources.resources}
    assert "azsdk://python/azure-storage-blob/readme" in uris
    assert "azsdk://javascript/%40azure%2Fstorage-blob/readme" in uris
    read = await session.read_resource("azsdk://javascript/%40azure%2Fstorage-blob/readme")
    assert read.contents[0].text == readme.structuredContent["markdown"]
    assert read.contents[0].mimeType == "text/markdown"
    templates = await session.list_resource_templates()
    assert [t.uriTemplate for t in templates.resourceTemplates] == [
        "azsdk://{language}/{package}/readme"]

    assert (await error(session, "search_azure_sdk_docs", query="blob", language="cobol")) == (
        "Unknown language 'cobol'; the known ones are dotnet, java, javascript, python, rust.")
    assert "azure-storage-blob" in await error(session, "get_azure_sdk_readme",
                                               package="azure-storage-blop", language="python")
    assert "'query' is empty" in await error(session, "search_azure_sdk_docs", query="  ")
    assert "at most 16,000" in await error(session, "search_azure_sdk_docs", query="q" * 100_000)
    for k in (0, 99, "three"):
        assert (await error(session, "search_azure_sdk_docs", query="blob", k=k)) == (
            "'k' must be a whole number from 1 to 20.")
    assert (await error(session, "search_azure_sdk_docs")) == (
        "'query' is required by search_azure_sdk_docs.")
    assert "the tools are" in await error(session, "no_such_tool")
    with pytest.raises(McpError, match="Unknown package 'nope' for Python"):
        await session.read_resource("azsdk://python/nope/readme")
    with pytest.raises(McpError, match="README resources look like"):
        await session.read_resource("azsdk://python/azure-storage-blob")
    again = await call(session, "list_azure_sdk_packages")
    assert again.structuredContent["count"] == 4


async def test_stdio_client_session(server_env: dict[str, str], tmp_path: Path) -> None:
    params = StdioServerParameters(command=str(EXE), args=["mcp"], env=server_env)
    with open(tmp_path / "stderr.txt", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            await exercise(session)
    log = (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in log


@asynccontextmanager
async def http_process(env: dict[str, str], *args: str) -> AsyncIterator[str]:
    proc = subprocess.Popen([str(EXE), "mcp", "--http", "--port", "0", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stderr.readline), 120)
        found = re.search(r"streamable HTTP at (http://\S+)", line)
        assert found, line
        yield found.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_streamable_http_client_session(server_env: dict[str, str]) -> None:
    async with http_process(server_env) as url:
        assert url.endswith("/mcp") and url.startswith("http://127.0.0.1:")
        async with streamablehttp_client(url) as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            await exercise(session)


def test_off_loopback_without_a_token_refuses_to_start(server_env: dict[str, str]) -> None:
    done = subprocess.run([str(EXE), "mcp", "--http", "--host", "0.0.0.0", "--port", "0"],
                          env=server_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: Refusing to serve MCP on 0.0.0.0")
    assert "AZSDK_RAG_TOKEN" in done.stderr and "Traceback" not in done.stderr


# -- in process: failures that need a special RAG ----------------------------------------------


class BrokenModel(BaseChatModel):
    """A chat model that fails: with a user-safe ModelError, or with a crash quoting a key."""

    crash: bool = False

    @property
    def _llm_type(self) -> str:
        return "broken-test-model"

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        if self.crash:
            raise RuntimeError(f"upstream said no to api_key={SECRET}")
        raise ModelError("The chat model is unavailable right now; try again later.")


@pytest.fixture
def rag_with(sample_index: Store,
             settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., AzureSdkRag]]:
    made: list[AzureSdkRag] = []

    def make(**kwargs: Any) -> AzureSdkRag:
        made.append(sample_rag(sample_index, settings_factory, **kwargs))
        return made[-1]

    yield make
    for rag in made:
        rag.close()


@asynccontextmanager
async def in_memory(holder: RagHolder) -> AsyncIterator[ClientSession]:
    async with create_connected_server_and_client_session(build_server(holder)) as session:
        yield session


async def test_a_model_failure_is_one_sentence_and_the_server_goes_on(
        rag_with: Callable[..., AzureSdkRag]) -> None:
    rag = rag_with(model=BrokenModel())
    async with in_memory(RagHolder(lambda: rag)) as session:
        message = await error(session, "ask_azure_sdk", question="/python upload a blob")
        assert message == "The chat model is unavailable right now; try again later."
        found = await call(session, "search_azure_sdk_docs", query="/python upload a blob")
        assert not found.isError  # search needs no model


async def test_a_crash_never_shows_its_message_or_a_traceback(
        rag_with: Callable[..., AzureSdkRag], caplog: pytest.LogCaptureFixture) -> None:
    rag = rag_with(model=BrokenModel(crash=True))
    caplog.set_level(logging.DEBUG)
    async with in_memory(RagHolder(lambda: rag)) as session:
        result = await call(session, "ask_azure_sdk", question="/python upload a blob")
        assert result.isError and text(result) == INTERNAL_ERROR
        assert SECRET not in str(result.model_dump())
        assert not (await call(session, "list_azure_sdk_packages")).isError
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in logged and "Traceback" not in logged
    assert "RuntimeError" in logged


async def test_an_empty_index_is_a_tool_error_until_the_index_exists(
        rag_with: Callable[..., AzureSdkRag]) -> None:
    attempts: list[int] = []

    def opener() -> AzureSdkRag:
        attempts.append(1)
        if len(attempts) == 1:
            raise EmptyIndexError("The index 'AzureSDKs' at /x is empty; build it with "
                                  "'azsdk-rag ingest'.")
        return rag_with()

    async with in_memory(RagHolder(opener)) as session:
        for name, args in (("search_azure_sdk_docs", {"query": "blob"}),):
            message = await error(session, name, **args)
            assert message.endswith("build it with 'azsdk-rag ingest'.")
        assert (await session.list_tools()).tools
        assert not (await call(session, "search_azure_sdk_docs", query="blob")).isError
    assert len(attempts) == 2


def test_the_server_module_imports_without_side_effects() -> None:
    done = subprocess.run([sys.executable, "-c", "import azsdk_rag.server.mcp"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
