"""Building and moving the index: ``ingest``, ``status``, ``index export / import / pull``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from .common import F, friendly, settings_from


@click.command()
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
    from ..ingest.pipeline import ingest as run

    settings = settings_from(ctx)
    report = run(settings, corpus=corpus, repos=repos, github=github, prune=prune)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(f"{report.summary()} -> {settings.collection} at {settings.location}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@friendly
def status(ctx: click.Context, as_json: bool) -> None:
    """Where the index is, what built it, and what it holds."""
    from ..store import Store, store_errors

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


@click.group()
def index() -> None:
    """Move an index: export, import, pull from a Qdrant server (vectors included)."""


def _subcommand(name: str) -> Callable[[F], F]:
    """``azsdk-rag index NAME``: given the context, failures printed as one line."""

    def register(func: F) -> F:
        index.command(name)(click.pass_context(friendly(func)))
        return func

    return register


_FILE = click.argument("file", type=click.Path(path_type=Path, dir_okay=False))


@_subcommand("export")
@_FILE
def index_export(ctx: click.Context, file: Path) -> None:
    """Write the current index, embedder record included, to FILE (gzip, JSON lines)."""
    from ..store.transfer import export_index

    header = export_index(settings_from(ctx), file)
    version = f" (v{header['version']})" if header.get("version") else ""
    click.echo(f"exported {header['points']} points{version} to {file}")


@_subcommand("import")
@_FILE
def index_import(ctx: click.Context, file: Path) -> None:
    """Make an exported FILE (checked first) the embedded index's new version."""
    from ..store.transfer import import_index

    done = import_index(settings_from(ctx), file)
    click.echo(f"imported {done['points']} points from {file} -> v{done['version']} at "
               f"{done['location']}")


@_subcommand("pull")
def index_pull(ctx: click.Context) -> None:
    """Copy the collection at AZSDK_RAG_QDRANT_URL into the embedded store (no re-embedding)."""
    from ..store.transfer import pull_index

    settings = settings_from(ctx)
    done = pull_index(settings)
    click.echo(f"pulled {done['points']} points from {settings.qdrant_url} -> "
               f"v{done['version']} at {done['location']}")
