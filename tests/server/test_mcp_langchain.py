"""A LangChain user's view: ``langchain-mcp-adapters`` loads our tools from ``azsdk-rag mcp``.

The tools are bound to a chat model as an agent would (``bind_tools``: their schemas in OpenAI's
tool format) and run from tool calls as the model would emit them; no model is called.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools
from langchain_openai import ChatOpenAI

from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import TINY_PACKAGES, build_small_index

pytestmark = pytest.mark.slow

EXE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "azsdk-rag"


@pytest.fixture(scope="module")
def tiny_index(sample_index: Store, settings_factory: Callable[..., Settings],
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_index(sample_index, tmp_path_factory.mktemp("lc-index"),
                             settings_factory, TINY_PACKAGES)


async def test_langchain_mcp_adapters_load_and_run_our_tools(tiny_index: Path,
                                                             model_dir: Path) -> None:
    env = {**os.environ, "AZSDK_RAG_QDRANT_PATH": str(tiny_index),
           "AZSDK_RAG_MODEL_DIR": str(model_dir), "HF_HUB_OFFLINE": "1"}
    client = MultiServerMCPClient(
        {"azsdk": {"transport": "stdio", "command": str(EXE), "args": ["mcp"], "env": env}})
    async with client.session("azsdk") as session:
        tools = await load_mcp_tools(session)
        by_name = {tool.name: tool for tool in tools}
        assert sorted(by_name) == ["ask_azure_sdk", "get_azure_sdk_readme",
                                   "list_azure_sdk_packages", "search_azure_sdk_docs"]
        search = by_name["search_azure_sdk_docs"]
        assert "README" in search.description
        assert set(search.args) == {"query", "language", "package", "k"}

        # an agent's model gets the tools' schemas; building the request calls nothing
        model = ChatOpenAI(model="gpt-4o-mini", api_key="not-used", base_url="http://127.0.0.1:9")
        bound = model.bind_tools(tools)
        specs = {spec["function"]["name"]: spec["function"] for spec in bound.kwargs["tools"]}
        assert set(specs) == set(by_name)
        assert specs["search_azure_sdk_docs"]["parameters"]["required"] == ["query"]
        assert "README" in specs["get_azure_sdk_readme"]["description"]

        calls = [
            {"name": "search_azure_sdk_docs", "id": "1",
             "args": {"query": "/python upload a file to a blob container", "k": 2}},
            {"name": "get_azure_sdk_readme", "id": "2",
             "args": {"package": "azure-keyvault-secrets", "language": "python"}},
            {"name": "search_azure_sdk_docs", "id": "3",
             "args": {"query": "blob", "language": "cobol"}},
        ]
        messages: list[ToolMessage] = [
            await by_name[call["name"]].ainvoke({**call, "type": "tool_call"}) for call in calls]
    assert [m.tool_call_id for m in messages] == ["1", "2", "3"]
    found, readme, bad = messages
    assert found.status == "success"
    assert found.artifact["structured_content"]["route"]["languages"] == ["python"]
    assert found.artifact["structured_content"]["results"][0]["package"] == "azure-storage-blob"
    assert "pip install azure-keyvault-secrets" in str(readme.content)
    assert bad.status == "error" and "known ones are dotnet" in str(bad.content)
