"""Answering: ``ask`` one question, ``chat``; the answer streamed to the terminal."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import AzsdkRagError
from .common import friendly, language_id, open_rag

_NO_HINT_HELP = "Ignore the manifests in the current directory (Cargo.toml, ...) when routing."
_RAW_HELP = "Print the answer's markdown as it is, without rendering it on the terminal."


def directory_hint(no_hint: bool) -> Any:
    """The current directory's manifest files as a router hint (``Cargo.toml``: Rust), if any.

    The router uses it only when the question names no language; ``--no-hint`` turns it off.
    """
    if no_hint:
        return None
    from ..languages import find_manifests
    from ..types import Hint

    manifests = find_manifests(Path.cwd())
    return Hint(None, manifests) if manifests else None


def stream_answer(rag: Any, question: str, session_id: str | None, language: str | None,
                  hint: Any = None, raw: bool = False) -> None:
    """Stream one answer: the route on stderr, the text as it comes (markdown rendered with
    rich on a terminal, as it is when piped or ``raw``), then the sources it does not link."""
    from ..events import AnswerSoFar
    from ..render import should_render
    from ..types import DeltaEvent, RouteEvent

    events: Iterable[Any] = rag.stream(question, session_id=session_id, language=language,
                                       hint=hint)
    # with -v or --debug, log lines on the same terminal would tear a live view: stay plain
    render = should_render(sys.stdout, raw or logging.getLogger().isEnabledFor(logging.INFO))
    seen = AnswerSoFar()
    with _answer_view(render) as show:
        for event in events:
            if not seen.take(event):
                continue
            if isinstance(event, RouteEvent):
                langs = ", ".join(event.route.languages) or "all languages"
                click.secho(f"({langs}: {event.route.reason})", dim=True, err=True)
            elif isinstance(event, DeltaEvent):
                show(event.text)
    answer = seen.done
    if answer is None:
        return
    if not render and not answer.text.endswith("\n"):
        click.echo()
    unlinked = [s for s in answer.sources if s.url not in answer.text]
    if unlinked:
        click.secho("\nSources:", bold=True, err=False)
        for s in unlinked:
            click.echo(f"  - [{s.language}] {s.package}: {s.url}")


@contextlib.contextmanager
def _answer_view(render: bool) -> Iterator[Callable[[str], None]]:
    """Where the answer's text goes as it streams: a live rich view (see render.py), or stdout."""
    if not render:
        yield lambda text: click.echo(text, nl=False)
        return
    from ..render import LiveAnswer, terminal_console

    with LiveAnswer(terminal_console()) as live:
        yield live.feed


@click.command()
@click.argument("question", nargs=-1, required=True)
@click.option("--language", "-l", help="Force a language (python, java, js, dotnet, rust...).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
@click.option("--raw", is_flag=True, help=_RAW_HELP)
@click.option("--no-hint", is_flag=True, help=_NO_HINT_HELP)
@click.pass_context
@friendly
def ask(ctx: click.Context, question: tuple[str, ...], language: str | None,
        as_json: bool, raw: bool, no_hint: bool) -> None:
    """Answer one question (streams; rendered on a terminal, plain markdown when piped)."""
    text = " ".join(question)
    language = language_id(language)
    hint = directory_hint(no_hint)
    with open_rag(ctx) as rag:
        if as_json:
            answer = rag.ask(text, language=language, hint=hint)
            click.echo(json.dumps(answer.to_dict(), indent=2))
        else:
            stream_answer(rag, text, None, language, hint, raw)


@click.command()
@click.option("--language", "-l", help="Force a language for the whole chat.")
@click.option("--raw", is_flag=True, help=_RAW_HELP)
@click.option("--no-hint", is_flag=True, help=_NO_HINT_HELP)
@click.pass_context
@friendly
def chat(ctx: click.Context, language: str | None, raw: bool, no_hint: bool) -> None:
    """An interactive chat with history; /python, /js, /java, /dotnet, /rust work; 'exit' ends."""
    language = language_id(language)
    hint = directory_hint(no_hint)
    with open_rag(ctx) as rag:
        session = rag.new_session()
        click.echo("Ask about the Azure SDKs. /reset forgets the chat; exit or Ctrl-D ends it.")
        while True:
            try:
                text = click.prompt(">", prompt_suffix=" ", default="", show_default=False)
            except (EOFError, click.Abort):
                click.echo()
                return
            if text.strip().lower() in ("exit", "end", "quit", "/exit", "/quit"):
                return
            if text.strip().lower() == "/reset":
                rag.reset(session)
                click.echo("(history cleared)")
                continue
            if not text.strip():
                continue
            try:
                stream_answer(rag, text, session, language, hint, raw)
            except AzsdkRagError as exc:  # keep the chat alive after a model error
                click.echo(f"error: {exc}", err=True)
