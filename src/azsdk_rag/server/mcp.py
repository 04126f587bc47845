"""``azsdk-rag mcp``: the router and retrieval as a Model Context Protocol server for agents.

Built on the official MCP Python SDK's v1 API generation (``mcp.server.fastmcp.FastMCP``, MCP
protocol 2025-06-18 and later): four tools with output schemas, each returning markdown text and
``structuredContent``, and every README as a resource ``azsdk://{language}/{package}/readme``.
stdio by default; ``--http`` serves streamable HTTP at ``/mcp`` (see :mod:`.mcp_http`).

Every failure a client can cause comes back as a tool error of one sentence (or a JSON-RPC error
for resources), and the server keeps serving; unexpected failures are logged by type and place
only, never with their message or a traceback.
"""

# No ``from __future__ import annotations``: FastMCP reads the tools' annotations at runtime.

import asyncio
import logging
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, unquote

import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.shared.exceptions import McpError
from mcp.types import INVALID_PARAMS, CallToolResult, ErrorData, TextContent, ToolAnnotations
from mcp.types import Resource as MCPResource
from mcp.types import ResourceTemplate as MCPResourceTemplate
from mcp.types import Tool as MCPTool
from pydantic import AnyUrl, BaseModel, Field, ValidationError
from pydantic.json_schema import GenerateJsonSchema

from azsdk_rag.errors import AzsdkRagError
from azsdk_rag.languages import language_ids
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.server.framing import INTERNAL_ERROR, log_failure, one_line
from azsdk_rag.server.mcp_tools import (
    MAX_K,
    MAX_QUERY_CHARS,
    AskResult,
    AzureSdkTools,
    PackageList,
    ReadmeResult,
    SearchResult,
    ToolInputError,
    ask_text,
    check_session,
    packages_text,
    readme_text,
    search_text,
)

logger = logging.getLogger(__name__)

NAME = "azsdk-rag"
URI_SCHEME = "azsdk"
URI_TEMPLATE = "azsdk://{language}/{package}/readme"
README_MIME = "text/markdown"

INSTRUCTIONS = """\
Answers questions about the Azure SDKs (.NET, Java, JavaScript/TypeScript, Python, Rust) from the
SDKs' own README files. Use search_azure_sdk_docs before writing or fixing code that uses an Azure
client library; get_azure_sdk_readme for a whole README; list_azure_sdk_packages to find exact
package names; ask_azure_sdk for a written answer with sources. Every README is also a resource
azsdk://{language}/{package}/readme (the package name percent-encoded)."""

SEARCH = """\
Search the official Azure SDK README files (.NET, Java, JavaScript/TypeScript, Python, Rust) for \
how to install and use an Azure client library: package names, client classes, authentication, \
configuration and code samples. Call it before writing or fixing code that uses an Azure SDK, or \
when asked how to do something with an Azure service from code. The SDK language is taken from \
the query (a leading /python, /java, /js, /net or /rust; a language, tool or file named in the \
text; or code shown), else all languages are searched; pass `language` to force one and `package` \
to search a single package's README. Returns up to k README chunks, each with title, package, \
language, section, README URL, version and the excerpt in markdown, plus the route taken and why."""

README = """\
Return the whole README of one Azure SDK package in markdown, with its URL and version. Call it \
when search excerpts are not enough, e.g. to read a client library's full getting-started guide. \
Needs the package name as the index has it (azure-storage-blob, @azure/storage-blob, \
Azure.Storage.Blobs, azure_security_keyvault_secrets, com.azure:... names as listed by \
list_azure_sdk_packages) and its language; an unknown name comes back with the nearest names."""

ASK = """\
Get a written answer to a question about an Azure SDK, in markdown, with the README sources it \
used. Use it when a ready answer is wanted rather than raw excerpts. Pass the same `session` on \
follow-up questions to keep the conversation ("and how do I delete it?"). The answer comes from \
the server's configured language model; without one it is an extractive answer quoted from the \
READMEs, and `answered_by` says so."""

PACKAGES = """\
List the Azure SDK packages this server has READMEs for, with title, service, plane (data: \
client library, mgmt: resource management), version and README URL. Filter by `language` and by \
`query` words matched against the package name, title and service (e.g. "storage blob", \
"key vault"). Use it to find the exact package name for get_azure_sdk_readme or for the \
`package` argument of search_azure_sdk_docs."""

LANGUAGE = ("SDK language: dotnet, java, javascript, python or rust (names such as C#, .NET, "
            "TypeScript, Node.js are accepted).")

T = TypeVar("T")
Opener = Callable[[], AzureSdkRag]


class RagHolder:
    """Opens the RAG on first use (in a worker thread) and keeps it; a failure is retried at the
    next call, so a server started before ``azsdk-rag ingest`` works once the index exists."""

    def __init__(self, open_rag: Opener) -> None:
        self._open = open_rag
        self._tools: AzureSdkTools | None = None
        self._lock = asyncio.Lock()

    async def tools(self) -> AzureSdkTools:
        if self._tools is None:
            async with self._lock:
                if self._tools is None:
                    rag = await anyio.to_thread.run_sync(self._open)
                    self._tools = AzureSdkTools(rag)
        return self._tools

    async def warm(self) -> None:
        """Load the models and the index now, so that the first call is fast; errors wait."""
        try:
            await self.tools()
        except AzsdkRagError as exc:
            logger.warning("%s", one_line(str(exc)))
        except Exception as exc:
            log_failure(logger, "opening the index", exc)

    def close(self) -> None:
        if self._tools is not None:
            self._tools.rag.close()
            self._tools = None


def _field(error: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ())) or "arguments"


_EXPECTED = {"string_type": "a string", "int_type": "a whole number",
             "int_parsing": "a whole number", "int_from_float": "a whole number"}


def validation_message(exc: ValidationError, tool: str) -> str:
    """The first argument error of a tool call as one sentence."""
    error = exc.errors()[0]
    name = _field(error)
    if error.get("type") == "missing":
        return f"'{name}' is required by {tool}."
    if name == "k":
        return f"'k' must be a whole number from 1 to {MAX_K}."
    expected = _EXPECTED.get(str(error.get("type")))
    if expected:
        return f"'{name}' must be {expected}."
    return f"'{name}' is not valid: {one_line(str(error.get('msg', 'bad value')), 200)}."


def tool_error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], isError=True)


def _result(model: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structuredContent=model.model_dump(mode="json"))


DRAFT_07 = "http://json-schema.org/draft-07/schema#"


class _NoFieldTitles(GenerateJsonSchema):
    """Pydantic's schemas without the ``title`` it derives from every field name."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema as a draft-07 document (``$schema`` names the dialect).

    Why: clients check every result against the tool's output schema, and the Python SDK's
    client first checks the schema itself against its dialect's metaschema, on every call. For
    2020-12, MCP's default dialect, that costs ~5 ms a call (dynamic references); for draft-07
    ~0.5 ms. Ajv, the TypeScript SDK's validator, speaks draft-07 natively. Pydantic's schemas use
    nothing draft-07 lacks: ``$ref`` reaches ``$defs`` by JSON pointer.
    """
    return {"$schema": DRAFT_07, **model.model_json_schema(schema_generator=_NoFieldTitles)}


def readme_uri(language: str, package: str) -> str:
    return f"{URI_SCHEME}://{language}/{quote(package, safe='')}/readme"


def parse_readme_uri(uri: str) -> tuple[str, str]:
    """(language, package) of ``azsdk://{language}/{package}/readme``; one sentence if not."""
    prefix = f"{URI_SCHEME}://"
    shape = f"README resources look like {readme_uri('python', 'azure-storage-blob')}."
    if not uri.startswith(prefix) or not uri.endswith("/readme"):
        raise ToolInputError(f"Unknown resource {uri[:120]!r}: {shape}")
    language, _, rest = uri[len(prefix):-len("/readme")].partition("/")
    package = unquote(rest)
    if not language or not package:
        raise ToolInputError(f"Unknown resource {uri[:120]!r}: {shape}")
    return language, package


class AzureSdkMcp(FastMCP):
    """FastMCP with our error rule and the README resources read from the index."""

    def __init__(self, holder: RagHolder, **kwargs: Any) -> None:
        super().__init__(NAME, instructions=INSTRUCTIONS, log_level="WARNING", **kwargs)
        self.holder = holder
        self.output_schemas: dict[str, dict[str, Any]] = {}

    async def list_tools(self) -> list[MCPTool]:
        """FastMCP's listing with our draft-07 output schemas (see :func:`output_schema`)."""
        tools = await super().list_tools()
        for tool in tools:
            tool.outputSchema = self.output_schemas.get(tool.name, tool.outputSchema)
        return tools

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        try:
            return await super().call_tool(name, arguments)
        except ToolError as exc:
            return tool_error(self._message(name, exc))
        except Exception as exc:  # never seen in practice: FastMCP wraps tool failures
            log_failure(logger, f"tool {name[:60]!r}", exc)
            return tool_error(INTERNAL_ERROR)

    def _message(self, name: str, exc: ToolError) -> str:
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            return validation_message(cause, name)
        if isinstance(cause, AzsdkRagError):
            return one_line(str(cause)) or INTERNAL_ERROR
        if cause is None and str(exc).startswith("Unknown tool"):
            names = ", ".join(tool.name for tool in self._tool_manager.list_tools())
            return f"Unknown tool {name[:60]!r}; the tools are {names}."
        if cause is not None:
            log_failure(logger, f"tool {name[:60]!r}", cause)
        else:
            logger.error("tool %.60r failed without a cause", name)
        return INTERNAL_ERROR

    async def list_resources(self) -> list[MCPResource]:
        try:
            tools = await self.holder.tools()
            infos = await anyio.to_thread.run_sync(tools.catalogue.packages)
        except AzsdkRagError as exc:  # no index yet: nothing to list, and say why in the log
            logger.warning("%s", one_line(str(exc)))
            return []
        return [MCPResource(uri=AnyUrl(readme_uri(i.language, i.package)), name=f"{i.package} "
                            f"({i.language})", title=i.title, mimeType=README_MIME,
                            description=f"README of {i.package} {i.version} for "
                                        f"{i.language}".replace("  ", " "))
                for i in infos]

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        return [MCPResourceTemplate(
            uriTemplate=URI_TEMPLATE, name="readme", title="Azure SDK package README",
            mimeType=README_MIME,
            description="The whole README of a package; language is one of "
                        f"{', '.join(language_ids())}, package is percent-encoded "
                        "(@azure/storage-blob -> %40azure%2Fstorage-blob).")]

    async def read_resource(self, uri: Any) -> Iterable[ReadResourceContents]:
        try:
            language, package = parse_readme_uri(str(uri))
            tools = await self.holder.tools()
            result = await anyio.to_thread.run_sync(tools.readme, package, language)
        except AzsdkRagError as exc:
            raise McpError(ErrorData(code=INVALID_PARAMS, message=one_line(str(exc)))) from None
        except Exception as exc:
            log_failure(logger, "reading a resource", exc)
            raise McpError(ErrorData(code=INVALID_PARAMS, message=INTERNAL_ERROR)) from None
        return [ReadResourceContents(content=result.markdown, mime_type=README_MIME)]


ToolSpec = tuple[Callable[..., Any], type[BaseModel], str, str, ToolAnnotations]
"""A tool as registered: function, result model (output schema), title, description, hints."""
READONLY = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)


_WORKERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = \
    weakref.WeakKeyDictionary()


def _workers() -> anyio.CapacityLimiter:
    """As many tool calls compute at once as there are cores (one limiter per event loop).

    A search is CPU-bound (the query embedding): twenty at once on two cores are each slower, and
    every extra thread grows its own ONNX and allocator buffers. The others wait their turn.
    """
    loop = asyncio.get_running_loop()
    limiter = _WORKERS.get(loop)
    if limiter is None:
        limiter = _WORKERS[loop] = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
    return limiter


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args, limiter=_workers())


def _lookup_tools(server: AzureSdkMcp) -> list[ToolSpec]:
    """The three read-only lookups: search, one README, the package list."""

    async def search_azure_sdk_docs(
        query: Annotated[str, Field(description="What to look for, in words or code; a leading "
                                    "slash command (/python, /java, /js, /net, /rust) picks the "
                                    "language.", json_schema_extra={"maxLength": MAX_QUERY_CHARS})],
        language: Annotated[str | None, Field(description=LANGUAGE + " Wins over routing.")] = None,
        package: Annotated[str | None, Field(description="Search only this package's README "
                                             "(an exact name from list_azure_sdk_packages).")]
        = None,
        k: Annotated[int, Field(description="How many chunks to return.",
                                json_schema_extra={"minimum": 1, "maximum": MAX_K})] = 5,
    ) -> Annotated[CallToolResult, SearchResult]:
        tools = await server.holder.tools()
        result = await _in_thread(tools.search, query, language, package, k)
        return _result(result, search_text(result))

    async def get_azure_sdk_readme(
        package: Annotated[str, Field(description="The package name, e.g. azure-storage-blob, "
                                      "@azure/storage-blob, Azure.Storage.Blobs.")],
        language: Annotated[str, Field(description=LANGUAGE)],
    ) -> Annotated[CallToolResult, ReadmeResult]:
        tools = await server.holder.tools()
        result = await _in_thread(tools.readme, package, language)
        return _result(result, readme_text(result))

    async def list_azure_sdk_packages(
        language: Annotated[str | None, Field(description=LANGUAGE)] = None,
        query: Annotated[str | None, Field(description="Words that the package name, title or "
                                           "service must contain, e.g. 'storage blob'.")] = None,
    ) -> Annotated[CallToolResult, PackageList]:
        tools = await server.holder.tools()
        result = await _in_thread(tools.packages, language, query)
        return _result(result, packages_text(result))

    return [(search_azure_sdk_docs, SearchResult, "Search Azure SDK docs", SEARCH, READONLY),
            (get_azure_sdk_readme, ReadmeResult, "Get an Azure SDK README", README, READONLY),
            (list_azure_sdk_packages, PackageList, "List Azure SDK packages", PACKAGES, READONLY)]


def _ask_tool(server: AzureSdkMcp) -> ToolSpec:
    """The answering tool; each client's sessions are its own (keyed by its MCP session)."""
    sessions: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    async def ask_azure_sdk(
        question: Annotated[str, Field(description="The developer's question; a leading slash "
                                       "command picks the language.",
                                       json_schema_extra={"maxLength": MAX_QUERY_CHARS})],
        ctx: Context,
        language: Annotated[str | None, Field(description=LANGUAGE + " Wins over routing.")] = None,
        session: Annotated[str | None, Field(description="A conversation name of your choice; "
                                             "pass it again on follow-up questions.")] = None,
    ) -> Annotated[CallToolResult, AskResult]:
        name = check_session(session)
        client = sessions.setdefault(ctx.session, f"mcp-{id(ctx.session):x}")
        tools = await server.holder.tools()
        result = await tools.ask(question, language, f"{client}:{name}" if name else None)
        result.session = name
        return _result(result, ask_text(result))

    return (ask_azure_sdk, AskResult, "Ask about an Azure SDK", ASK,
            ToolAnnotations(readOnlyHint=True, idempotentHint=False, openWorldHint=False))


def build_server(holder: RagHolder, **kwargs: Any) -> AzureSdkMcp:
    """The MCP server over ``holder``'s RAG; ``kwargs`` go to FastMCP (host, port, ...)."""
    server = AzureSdkMcp(holder, **kwargs)
    search, readme, packages = _lookup_tools(server)
    for fn, model, title, description, annotations in (search, readme, _ask_tool(server),
                                                       packages):
        server.add_tool(fn, title=title, description=description, annotations=annotations,
                        structured_output=True)
        server.output_schemas[fn.__name__] = output_schema(model)
    return server


async def run_stdio(holder: RagHolder) -> None:
    """Serve one client on stdin/stdout until it closes stdin."""
    from azsdk_rag.server.mcp_stdio import protocol_streams

    server = build_server(holder)
    warm = asyncio.ensure_future(holder.warm())
    try:
        async with protocol_streams() as (read, write):
            low = server._mcp_server
            await low.run(read, write, low.create_initialization_options())
    finally:
        warm.cancel()

