"""What the MCP tools do, apart from MCP: check the arguments, run the RAG, shape the results.

Each tool returns a pydantic model (its ``structuredContent``, whose JSON schema is the tool's
output schema) and a markdown rendering of it (its text content, for agents that read only
text). Bad input raises :class:`ToolInputError` with one sentence that says what to send instead.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel, Field

from azsdk_rag import context
from azsdk_rag.errors import AzsdkRagError
from azsdk_rag.extractive import ExtractiveChatModel
from azsdk_rag.languages import language_ids, resolve_language
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.readmes import Catalogue, PackageInfo
from azsdk_rag.types import Answer, Route, Source

MAX_K = 20
MAX_QUERY_CHARS = 16_000
MAX_SESSION_CHARS = 200
MAX_PACKAGE_CHARS = 214  # npm's limit on a package name, the longest of the five ecosystems

EXTRACTIVE = ("extractive (offline: no language model is configured; the text is quoted from "
              "the READMEs)")


class ToolInputError(AzsdkRagError):
    """An argument a tool cannot use; the message says what to send instead."""


# -- result models (the output schemas) ----------------------------------------------------------


class RouteOut(BaseModel):
    """Which SDK language(s) the search was restricted to, and why."""

    languages: list[str] = Field(description="Language ids searched; empty: all languages.")
    query: str = Field(description="The text searched with (a slash command removed).")
    signal: str = Field(description="What decided: forced (the language argument), slash, text, "
                                    "code, history, llm, hint (the editor), or none (no "
                                    "language: all searched).")
    reason: str = Field(description="The evidence, in words.")

    @classmethod
    def of(cls, route: Route) -> RouteOut:
        return cls(languages=list(route.languages), query=route.query, signal=route.signal,
                   reason=route.reason)


class Excerpt(BaseModel):
    """One README chunk."""

    title: str
    package: str
    language: str
    section: str = Field(description="The heading path of the chunk within its README.")
    url: str = Field(description="The README's URL.")
    version: str
    score: float = Field(description="Fused relevance (higher is better).")
    excerpt: str = Field(description="The chunk's markdown, code samples included.")


class SearchResult(BaseModel):
    route: RouteOut
    results: list[Excerpt]


class ReadmeResult(BaseModel):
    language: str
    package: str
    title: str
    service: str
    plane: str = Field(description="data (client library) or mgmt (resource management).")
    url: str
    version: str
    exact: bool = Field(description="False when the README was rebuilt from the index's chunks.")
    markdown: str = Field(description="The whole README.")


class SourceOut(BaseModel):
    language: str
    package: str
    title: str
    url: str
    section: str
    score: float

    @classmethod
    def of(cls, source: Source) -> SourceOut:
        return cls(language=source.language, package=source.package, title=source.title,
                   url=source.url, section=source.section, score=source.score)


class AskResult(BaseModel):
    answer: str = Field(description="The answer in markdown, citing READMEs.")
    answered_by: str = Field(description="The model that wrote the answer, or 'extractive ...' "
                                         "when the text is quoted from READMEs without a model.")
    extractive: bool
    session: str | None = Field(description="The conversation this turn was added to.")
    route: RouteOut
    sources: list[SourceOut]


class PackageList(BaseModel):
    language: str | None
    query: str | None
    count: int
    packages: list[PackageInfo]  # the catalogue's own records (a dataclass pydantic reads)


# -- argument checks -------------------------------------------------------------------------------


def check_text(value: Any, name: str, limit: int, *,
               what: str = "a question or search text") -> str:
    if not isinstance(value, str):
        raise ToolInputError(f"'{name}' must be a string.")
    text = value.strip()
    if not text:
        raise ToolInputError(f"'{name}' is empty: send {what}, e.g. 'upload a blob in Python'.")
    if len(value) > limit:
        raise ToolInputError(f"'{name}' is {len(value):,} characters long; send at most "
                             f"{limit:,}.")
    return text


def check_language(value: str | None, *, required: bool = False) -> str | None:
    """A language id from an id, a name or a slash command; unknown ones list the known ids."""
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise ToolInputError(f"'language' is required: one of {', '.join(language_ids())}.")
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ToolInputError(f"'language' must be one of {', '.join(language_ids())}.")
    try:
        return resolve_language(value).id
    except ValueError:
        raise ToolInputError(f"Unknown language {value.strip()[:40]!r}; the known ones are "
                             f"{', '.join(language_ids())}.") from None


def check_k(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_K:
        raise ToolInputError(f"'k' must be a whole number from 1 to {MAX_K}.")
    return value


def check_session(value: Any) -> str | None:
    if value is None:
        return None
    return check_text(value, "session", MAX_SESSION_CHARS, what="a conversation name")


def _language_name(language: str | None) -> str:
    return resolve_language(language).name if language else "any language"


# -- the tools -------------------------------------------------------------------------------------


class AzureSdkTools:
    """The four tools over one RAG and its catalogue of READMEs."""

    def __init__(self, rag: AzureSdkRag, catalogue: Catalogue | None = None) -> None:
        self.rag = rag
        self.catalogue = catalogue or Catalogue(rag.store)

    def _package(self, package: Any, language: str | None) -> list[PackageInfo]:
        """The READMEs named ``package``; an unknown name suggests the nearest ones."""
        name = check_text(package, "package", MAX_PACKAGE_CHARS, what="a package name")
        found = self.catalogue.find(name, language)
        if found:
            return found
        elsewhere = self.catalogue.find(name) if language else []
        if elsewhere:
            langs = ", ".join(info.language for info in elsewhere)
            raise ToolInputError(f"The package {name!r} is not a {_language_name(language)} "
                                 f"package here, but exists for {langs}.")
        if not self.catalogue.packages():
            raise ToolInputError("The index holds no READMEs yet; build it with "
                                 "'azsdk-rag ingest'.")
        near = self.catalogue.nearest(name, language)
        tail = f"; the nearest names are {', '.join(near)}." if near else \
            "; list_azure_sdk_packages shows the names."
        raise ToolInputError(f"Unknown package {name[:80]!r} for {_language_name(language)}{tail}")

    def search(self, query: Any, language: Any = None, package: Any = None,
               k: Any = 5) -> SearchResult:
        text = check_text(query, "query", MAX_QUERY_CHARS)
        lang = check_language(language)
        k = check_k(k)
        route = self.rag.route(text, language=lang)
        if package is None or (isinstance(package, str) and not package.strip()):
            docs = self.rag.retrieve(route, k=k)
        else:
            infos = self._package(package, lang)
            name = infos[0].package
            langs = sorted({info.language for info in infos})
            chosen = tuple(lang for lang in langs if lang in route.languages) or tuple(langs)
            if chosen != route.languages:
                route = Route(chosen, route.query, "forced",
                              f"the package {name} is {', '.join(chosen)}")
            docs = self.rag.retrieve(replace(route, query=route.query or text), k=k,
                                     package=name)
        results = [Excerpt(
            title=ex.title, package=ex.package, language=ex.language, section=ex.section,
            url=ex.url, version=ex.version, score=float(doc.metadata.get("score", 0.0) or 0.0),
            excerpt=ex.body.strip(),
        ) for doc in docs for ex in [context.Excerpt.of(doc)]]
        return SearchResult(route=RouteOut.of(route), results=results)

    def readme(self, package: Any, language: Any) -> ReadmeResult:
        lang = check_language(language, required=True)
        infos = self._package(package, lang)
        readme = self.catalogue.readme(infos[0].language, infos[0].package)
        if readme is None:  # gone between the two reads (a re-ingest)
            raise ToolInputError(f"The README of {infos[0].package!r} is no longer in the index.")
        info = readme.info
        return ReadmeResult(language=info.language, package=info.package, title=info.title,
                            service=info.service, plane=info.plane, url=info.url,
                            version=info.version, exact=readme.exact, markdown=readme.text)

    async def ask(self, question: Any, language: Any = None,
                  session: str | None = None) -> AskResult:
        text = check_text(question, "question", MAX_QUERY_CHARS)
        lang = check_language(language)
        answer: Answer = await self.rag.aask(text, session_id=session, language=lang)
        extractive = isinstance(self.rag.model, ExtractiveChatModel)
        return AskResult(answer=answer.text, answered_by=EXTRACTIVE if extractive else
                         _model_name(self.rag.model), extractive=extractive, session=None,
                         route=RouteOut.of(answer.route),
                         sources=[SourceOut.of(s) for s in answer.sources])

    def packages(self, language: Any = None, query: Any = None) -> PackageList:
        lang = check_language(language)
        words = None
        if query is not None and not (isinstance(query, str) and not query.strip()):
            words = check_text(query, "query", 200, what="words of a package or service name")
        found = self.catalogue.search(words, lang) if words else self.catalogue.packages(lang)
        if not found and not self.catalogue.packages():
            raise ToolInputError("The index holds no READMEs yet; build it with "
                                 "'azsdk-rag ingest'.")
        return PackageList(language=lang, query=words, count=len(found),
                           packages=list(found))


def _model_name(model: Any) -> str:
    for name in ("deployment_name", "model_name", "model"):
        value = getattr(model, name, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


# -- text renderings (the tools' text content) ------------------------------------------------


def _route_line(route: RouteOut) -> str:
    langs = ", ".join(route.languages) or "all languages"
    return f"Route: {langs} ({route.signal}: {route.reason})"


def search_text(result: SearchResult) -> str:
    lines = [_route_line(result.route), ""]
    if not result.results:
        lines.append("No README chunk matched; try other words or another language.")
    for n, ex in enumerate(result.results, 1):
        version = f" {ex.version}" if ex.version else ""
        lines += [f"## [{n}] {ex.title}: {ex.package}{version} ({ex.language})",
                  f"Section: {ex.section} | README: {ex.url}", "", ex.excerpt, ""]
    return "\n".join(lines).rstrip() + "\n"


def readme_text(result: ReadmeResult) -> str:
    version = f" {result.version}" if result.version else ""
    note = "" if result.exact else " (rebuilt from the index's chunks; re-ingest for the original)"
    return (f"README of {result.package}{version} ({result.language}): {result.url}{note}\n\n"
            f"{result.markdown}")


def ask_text(result: AskResult) -> str:
    lines = [result.answer.rstrip(), "", f"Answered by: {result.answered_by}",
             _route_line(result.route)]
    if result.sources:
        lines += ["Sources:"] + [f"- [{s.package} ({s.language})]({s.url})"
                                 for s in result.sources]
    return "\n".join(lines) + "\n"


def packages_text(result: PackageList) -> str:
    scope = result.language or "all languages"
    head = f"{result.count} package(s) in {scope}" + (
        f" matching {result.query!r}" if result.query else "")
    lines = [head + ":"] if result.packages else [head + "."]
    lines += [f"- {p.package} ({p.language}, {p.plane}, {p.service or 'no service'}): {p.title}"
              for p in result.packages]
    return "\n".join(lines) + "\n"
