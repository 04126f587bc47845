"""The ``azsdk-rag`` command line: ingest | status | index | ask | chat | eval | serve | mcp."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import AzsdkRagError
from .settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("azsdk_rag")


def friendly(func: F) -> F:
    """Expected failures print one line and exit 1; anything else exits 2 without a traceback
    (with --debug the traceback is logged, through the secret mask)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AzsdkRagError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `azsdk-rag ask ... | head`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
            sys.exit(141)  # as a process stopped by SIGPIPE
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                # the traceback through logging, so the secret mask applies to it too
                log.critical("unexpected %s", type(exc).__name__, exc_info=exc)
                sys.exit(2)
            click.echo(f"error: unexpected {type(exc).__name__}; run with --debug for details.",
                       err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    from pydantic import ValidationError

    from .redact import install, settings_secrets

    base = {k: v for k, v in ctx.obj.items() if v is not None}
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**base)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        click.echo(f"error: setting {where}: {first['msg']}", err=True)
        sys.exit(1)
    install(settings_secrets(settings))  # before anything can log a key (see redact.py)
    return settings


@click.group()
@click.version_option(__version__, prog_name="azsdk-rag")
@click.option("--qdrant-path", help="Embedded store folder (or :memory:).")
@click.option("--qdrant-url", help="Qdrant server URL (wins over the path).")
@click.option("--collection", help="Collection name.")
@click.option("--model-dir", type=click.Path(path_type=Path), help="Local model folders.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress.")
@click.option("--debug", is_flag=True, help="Log everything; show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, qdrant_path: str | None, qdrant_url: str | None,
        collection: str | None, model_dir: Path | None, verbose: bool, debug: bool) -> None:
    """Answers questions about the Azure SDKs from their READMEs."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if not debug:
        for noisy in ("httpx", "openai", "fastembed", "qdrant_client"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    from .redact import install

    install()  # every record of every logger and handler goes through the secret mask
    ctx.obj = {"qdrant_path": qdrant_path, "qdrant_url": qdrant_url, "collection": collection,
               "model_dir": model_dir}


@cli.command()
@click.option("--corpus", "corpus", multiple=True, type=click.Path(path_type=Path),
              help="A *.jsonl[.gz] file or a folder of them (repeatable).")
@click.option("--repo", "repos", multiple=True, type=click.Path(path_type=Path),
              help="A local azure-sdk-for-* checkout (repeatable).")
@click.option("--github", is_flag=True, help="Clone the five SDK repositories (sparse, shallow).")
@click.option("--prune", is_flag=True, help="Remove READMEs that are gone from the source.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@friendly
def ingest(ctx: click.Context, corpus: tuple[Path, ...], repos: tuple[Path, ...], github: bool,
           prune: bool, as_json: bool) -> None:
    """Index Azure SDK READMEs (corpus files, a local checkout, or GitHub)."""
    from .ingest.pipeline import ingest as run

    settings = settings_from(ctx)
    report = run(settings, corpus=corpus, repos=repos, github=github, prune=prune)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(f"{report.summary()} -> {settings.collection} at {settings.location}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@friendly
def status(ctx: click.Context, as_json: bool) -> None:
    """Where the index is, what built it, and what it holds."""
    from .store import Store, store_errors

    settings = settings_from(ctx)
    with Store.open(settings) as store, store_errors(settings):
        data = store.stats()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"location:   {data['location']} ({data['backend']})")
    click.echo(f"collection: {data['collection']}" + ("" if data["exists"] else " (not created)"))
    if data.get("legacy"):
        click.echo("            written by an older azsdk-rag: 'azsdk-rag ingest' moves it")
    if data.get("version") is not None:
        click.echo(f"version:    v{data['version']} ({data.get('origin') or 'ingest'}, "
                   f"{data.get('created') or 'unknown time'})")
    if data.get("embeddings"):
        e = data["embeddings"]
        click.echo(f"embeddings: {e['dense_model']} ({e['dense_dim']}-d) + {e['sparse_model']}")
    click.echo(f"points:     {data['points']}")
    for lang, entry in data.get("languages", {}).items():
        click.echo(f"  {lang:<11} {entry['packages']:>4} packages {entry['points']:>6} points")


@cli.group()
def index() -> None:
    """Move an index: export, import, pull from a Qdrant server (vectors included)."""


@index.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
@friendly
def index_export(ctx: click.Context, file: Path) -> None:
    """Write the current index, embedder record included, to FILE (gzip, JSON lines)."""
    from .store.transfer import export_index

    header = export_index(settings_from(ctx), file)
    version = f" (v{header['version']})" if header.get("version") else ""
    click.echo(f"exported {header['points']} points{version} to {file}")


@index.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
@friendly
def index_import(ctx: click.Context, file: Path) -> None:
    """Make an exported FILE (checked first) the embedded index's new version."""
    from .store.transfer import import_index

    done = import_index(settings_from(ctx), file)
    click.echo(f"imported {done['points']} points from {file} -> v{done['version']} at "
               f"{done['location']}")


@index.command("pull")
@click.pass_context
@friendly
def index_pull(ctx: click.Context) -> None:
    """Copy the collection at AZSDK_RAG_QDRANT_URL into the embedded store (no re-embedding)."""
    from .store.transfer import pull_index

    settings = settings_from(ctx)
    done = pull_index(settings)
    click.echo(f"pulled {done['points']} points from {settings.qdrant_url} -> "
               f"v{done['version']} at {done['location']}")


def _language_id(value: str | None) -> str | None:
    """A --language value as a language id; an unknown one is a clear error."""
    if value is None:
        return None
    from .errors import ConfigError
    from .languages import resolve_language

    try:
        return resolve_language(value).id
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _open_rag(ctx: click.Context, **overrides: Any):
    from .rag import AzureSdkRag

    return AzureSdkRag(settings_from(ctx, **overrides))


def _print_sources(sources: list[Any]) -> None:
    if sources:
        click.secho("\nSources:", bold=True, err=False)
        for s in sources:
            click.echo(f"  - [{s.language}] {s.package}: {s.url}")


def _directory_hint(no_hint: bool) -> Any:
    """The current directory's manifest files as a router hint (``Cargo.toml``: Rust), if any.

    The router uses it only when the question names no language; ``--no-hint`` turns it off.
    """
    if no_hint:
        return None
    from .languages import find_manifests
    from .types import Hint

    manifests = find_manifests(Path.cwd())
    return Hint(None, manifests) if manifests else None


_NO_HINT_HELP = "Ignore the manifests in the current directory (Cargo.toml, ...) when routing."


def _stream_answer(rag: Any, question: str, session_id: str | None, language: str | None,
                   hint: Any = None, raw: bool = False) -> None:
    """Stream one answer: rendered markdown on a terminal, the plain markdown otherwise."""
    from .render import should_render

    events = rag.stream(question, session_id=session_id, language=language, hint=hint)
    # with -v or --debug, log lines on the same terminal would tear a live view: stay plain
    if should_render(sys.stdout, raw or logging.getLogger().isEnabledFor(logging.INFO)):
        _render_events(events)
        return
    from .types import DeltaEvent, DoneEvent, RouteEvent

    for event in events:
        if isinstance(event, RouteEvent):
            _print_route(event)
        elif isinstance(event, DeltaEvent):
            click.echo(event.text, nl=False)
        elif isinstance(event, DoneEvent):
            if not event.answer.text.endswith("\n"):
                click.echo()
            _print_sources(_unlinked_sources(event.answer))


def _print_route(event: Any) -> None:
    langs = ", ".join(event.route.languages) or "all languages"
    click.secho(f"({langs}: {event.route.reason})", dim=True, err=True)


def _unlinked_sources(answer: Any) -> list[Any]:
    """Only the READMEs the answer does not already link to."""
    return [s for s in answer.sources if s.url not in answer.text]


def _render_events(events: Any) -> None:
    """The answer rendered with rich as it streams (see render.py), then its other sources."""
    from .render import LiveAnswer, terminal_console
    from .types import DeltaEvent, DoneEvent, RouteEvent

    done = None
    with LiveAnswer(terminal_console()) as live:
        for event in events:
            if isinstance(event, RouteEvent):
                _print_route(event)
            elif isinstance(event, DeltaEvent):
                live.feed(event.text)
            elif isinstance(event, DoneEvent):
                done = event
    if done is not None:
        _print_sources(_unlinked_sources(done.answer))


_RAW_HELP = "Print the answer's markdown as it is, without rendering it on the terminal."


@cli.command()
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
    language = _language_id(language)
    hint = _directory_hint(no_hint)
    with _open_rag(ctx) as rag:
        if as_json:
            answer = rag.ask(text, language=language, hint=hint)
            click.echo(json.dumps(answer.to_dict(), indent=2))
        else:
            _stream_answer(rag, text, None, language, hint, raw)


@cli.command()
@click.option("--language", "-l", help="Force a language for the whole chat.")
@click.option("--raw", is_flag=True, help=_RAW_HELP)
@click.option("--no-hint", is_flag=True, help=_NO_HINT_HELP)
@click.pass_context
@friendly
def chat(ctx: click.Context, language: str | None, raw: bool, no_hint: bool) -> None:
    """An interactive chat with history; /python, /js, /java, /dotnet, /rust work; 'exit' ends."""
    language = _language_id(language)
    hint = _directory_hint(no_hint)
    with _open_rag(ctx) as rag:
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
                _stream_answer(rag, text, session, language, hint, raw)
            except AzsdkRagError as exc:  # keep the chat alive after a model error
                click.echo(f"error: {exc}", err=True)


@cli.command(name="eval")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--k", "k", default=5, show_default=True, help="Cut-off for hit@k.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--misses", is_flag=True, help="List the questions missed.")
@click.pass_context
@friendly
def evaluate_cmd(ctx: click.Context, files: tuple[Path, ...], k: int, as_json: bool,
                 misses: bool) -> None:
    """Routing and retrieval quality of question files (router + retriever, no LLM).

    One file: its overall, per-language and per-tag table. Several: one table, a row per file.
    """
    from .evaluation import (
        evaluate_rag,
        file_labels,
        format_files_table,
        format_table,
        load_questions,
        warm_up,
    )

    sets = [load_questions(file) for file in files]  # every file checked before any work
    results: dict[str, dict[str, Any]] = {}
    with _open_rag(ctx) as rag:
        warm_up(rag)
        for label, questions in zip(file_labels(files), sets, strict=True):
            results[label] = evaluate_rag(rag, questions, k)
    if not misses:
        for result in results.values():
            result.pop("misses")
    if as_json:
        data = next(iter(results.values())) if len(results) == 1 else {"files": results}
        click.echo(json.dumps(data, indent=2))
        return
    if len(results) == 1:
        click.echo(format_table(next(iter(results.values()))))
    else:
        click.echo(format_files_table(results))
    for label, result in results.items():
        for m in result.get("misses", []):
            name = f"{label}/" if len(results) > 1 else ""
            click.echo(f"{name}{m['id']}: {m['question'][:70]!r} expected {m['expected']} "
                       f"routed {m['routed']}; want {m['packages']} got {m['retrieved']}")


@cli.command()
@click.option("--stdio", is_flag=True, help="JSON-RPC on stdin/stdout (VS Code).")
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Legacy raw-text port (default 65432).")
@click.option("--rpc-port", type=int, help="JSON-RPC port (default 65433).")
@click.pass_context
@friendly
def serve(ctx: click.Context, stdio: bool, host: str | None, port: int | None,
          rpc_port: int | None) -> None:
    """Serve the old extension's raw-text protocol and JSON-RPC (TCP), or JSON-RPC on stdio."""
    import asyncio

    from .server.serve import serve as run_server

    settings = settings_from(ctx, host=host, port=port, rpc_port=rpc_port)
    with _open_rag(ctx, host=host, port=port, rpc_port=rpc_port) as rag:
        code = asyncio.run(run_server(rag, settings, stdio=stdio))
    if code:
        sys.exit(code)


@cli.command()
def token() -> None:
    """Print a fresh random token for AZSDK_RAG_TOKEN (256 bits, URL-safe)."""
    import secrets

    click.echo(secrets.token_urlsafe(32))


@cli.command()
@click.option("--http", "http", is_flag=True, help="Streamable HTTP at /mcp instead of stdio.")
@click.option("--host", help="Address to bind with --http (default 127.0.0.1).")
@click.option("--port", type=int, help="Port with --http (default 65434).")
@click.pass_context
@friendly
def mcp(ctx: click.Context, http: bool, host: str | None, port: int | None) -> None:
    """Serve search, READMEs and answers as MCP tools for coding agents (stdio, or --http)."""
    from .server.mcp_serve import run

    run(settings_from(ctx, host=host), http=http, host=host, port=port)


def main() -> None:
    cli(prog_name="azsdk-rag")
