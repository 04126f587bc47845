"""The offline answerer: a chat model that writes a markdown answer from the README excerpts alone.

It needs no network and no key. It reads the prompt it is given (the excerpts in the one format
of :mod:`azsdk_rag.context`, read back with :func:`~azsdk_rag.context.parse_context`), and answers
with the top package's install command, the most relevant section's text and code, and the links,
clearly labelled as extracted. Because
it is an ordinary LangChain chat model, the chains treat it exactly like Azure OpenAI.

README text is quoted, never voiced: every excerpt is a blockquote (code fences inside it intact)
under a source line naming its README, and titles and section names are escaped, so nothing a
README says ("Ignore previous instructions...") reads as the answer's own words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from .context import Excerpt, parse_context
from .languages import get_language
from .prompts import CLOSE, OPEN

LABEL = ("_Extracted from the Azure SDK READMEs "
         "(offline mode: no language model wrote this answer)._")
NOT_COVERED = ("The Azure SDK READMEs in the index do not cover this question. Try naming the "
               "Azure service and the language, e.g. `/python upload a blob`.")
FENCE_LINE = re.compile(r"^[ \t]*(`{3,}|~{3,})")


def parse_excerpts(text: str) -> tuple[list[Excerpt], str]:
    """The excerpts and the question from a prompt built by ``answer_prompt`` (or the bare
    context, as :func:`~azsdk_rag.context.format_context` gives it, with a question after it).

        excerpts, question = parse_excerpts(format_context(docs, 3000) + "\nQuestion: upload?")
    """
    question = ""
    if OPEN in text and CLOSE in text:  # prompts.HUMAN: the excerpts are the data block
        text, tail = text.split(OPEN, 1)[1].rsplit(CLOSE, 1)
        question = tail.split("Question:", 1)[1] if "Question:" in tail else ""
    elif "\nQuestion:" in text:  # the bare context, as format_context gives it
        text, question = text.rsplit("\nQuestion:", 1)
    return parse_context(text), question.strip()


_ESCAPE = re.compile(r"([\\`*\[\]<])")  # what could start a link, code, emphasis or HTML


def escape(text: str) -> str:
    """README text for one line of our own markdown: no link, emphasis, code span or HTML in it."""
    return _ESCAPE.sub(r"\\\1", " ".join(text.split()))


def quote(text: str) -> str:
    """README text as a markdown blockquote: every line quoted, so fences, HTML and headings in it
    stay inside the quote (a fence left open closes where the quote ends)."""
    return "\n".join(f"> {line}".rstrip() for line in text.strip("\n").splitlines())


def _has_code(text: str) -> bool:
    return any(FENCE_LINE.match(line) for line in text.splitlines())


def _install(excerpt: Excerpt) -> str:
    try:
        lang = get_language(excerpt.language)
    except Exception:
        return ""
    try:
        command = lang.install_command(excerpt.package, excerpt.version, excerpt.group)
    except ValueError:
        return ""
    return f"Install:\n\n```{lang.install_fence}\n{command}\n```\n"


def _display(language: str) -> str:
    try:
        return get_language(language).name
    except Exception:
        return language


def compose_answer(excerpts: list[Excerpt]) -> str:
    """The markdown answer: per language, the top package's install, best section and code,
    then the READMEs it quoted as its sources."""
    if not excerpts:
        return NOT_COVERED
    parts = [LABEL, ""]
    languages = list(dict.fromkeys(e.language for e in excerpts))[:3]
    quoted: list[Excerpt] = []
    for language in languages:
        mine = [e for e in excerpts if e.language == language]
        top = mine[0]
        quoted.append(top)
        same = [e for e in mine if e.package == top.package]
        parts.append(f"### `{top.package.replace('`', '')}` ({escape(_display(language))})\n")
        parts.append(_install(top))
        section = escape(top.section or "Overview")
        parts.append(f"**{section}**, quoted from [{escape(top.title)}]({_url(top.url)}):\n")
        parts.append(quote(top.body) + "\n")
        if not _has_code(top.body):
            code = next((e for e in same[1:] if _has_code(e.body)), None)
            if code:
                section = escape(code.section or "Example")
                parts.append(f"**{section}**, quoted from the same README:\n")
                parts.append(quote(code.body) + "\n")
    # Cite what is quoted: the READMEs that filled the rest of the context are not sources of
    # this answer (the same reason the API's sources leave out packages far below the best).
    parts.append("**Sources**\n")
    seen: set[str] = set()
    for e in quoted:
        if e.url in seen:
            continue
        seen.add(e.url)
        parts.append(f"- [{escape(e.title)}]({_url(e.url)}): `{e.package.replace('`', '')}` "
                     f"({escape(_display(e.language))})")
    return "\n".join(parts).strip() + "\n"


def _url(url: str) -> str:
    """A link target that cannot end the link early (spaces, parentheses, angle brackets)."""
    return re.sub(r"[\s()<>]", lambda m: f"%{ord(m.group()):02X}", url)


def _pieces(text: str) -> Iterator[str]:
    """Stream by line, the way a model streams tokens, keeping every character."""
    yield from text.splitlines(keepends=True)


class ExtractiveChatModel(BaseChatModel):
    """Offline, deterministic chat model that answers from the excerpts in its prompt."""

    model_name: str = "extractive"

    @property
    def _llm_type(self) -> str:
        return "azsdk-rag-extractive"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": "extractive"}

    def _answer(self, messages: list[BaseMessage]) -> str:
        prompt = next((m for m in reversed(messages) if m.type == "human"), None)
        text = prompt.text if prompt is not None else ""
        if OPEN in text and CLOSE in text:  # the data block of prompts.HUMAN
            data = text
        elif "README excerpts:" in text:  # a prompt of the earlier, untagged format
            data = text.split("README excerpts:", 1)[1]
        else:
            return ("I answer questions about the Azure SDKs from their READMEs, offline. "
                    "Ask about a package or task, e.g. `/python upload a blob`.")
        excerpts, _question = parse_excerpts(data)
        return compose_answer(excerpts)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        text = self._answer(messages)
        message = AIMessage(content=text, response_metadata={"model_name": "extractive"})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in _pieces(self._answer(messages)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", response_metadata={"model_name": "extractive", "finish_reason": "stop"},
            chunk_position="last"))
