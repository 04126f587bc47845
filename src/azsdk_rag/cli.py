"""The ``azsdk-rag`` command line: ingest | status | ask | chat | eval | serve."""

from __future__ import annotations

import functools
import json
import logging
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
    """Expected failures print one line and exit 1; anything else exits 2 without a traceback."""

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
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            click.echo(f"error: unexpected {type(exc).__name__}; run with --debug for details.",
                       err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    from pydantic import ValidationError

    base = {k: v for k, v in ctx.obj.items() if v is not None}
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**base)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        click.echo(f"error: setting {where}: {first['msg']}", err=True)
        sys.exit(1)


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
    from .store import Store

    settings = settings_from(ctx)
    with Store.open(settings) as store:
        data = store.stats()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"location:   {data['location']} ({data['backend']})")
    click.echo(f"collection: {data['collection']}" + ("" if data["exists"] else " (not created)"))
    if data.get("embeddings"):
        e = data["embeddings"]
        click.echo(f"embeddings: {e['dense_model']} ({e['dense_dim']}-d) + {e['sparse_model']}")
    click.echo(f"points:     {data['points']}")
    for lang, entry in data.get("languages", {}).items():
        click.echo(f"  {lang:<11} {entry['packages']:>4} packages {entry['points']:>6} points")


def main() -> None:
    cli(prog_name="azsdk-rag")
