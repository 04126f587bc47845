"""``eval``: routing and retrieval quality of question files (router + retriever, no LLM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import friendly, open_rag


@click.command(name="eval")
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
    from ..evaluation import (
        evaluate_rag,
        file_labels,
        format_files_table,
        format_table,
        load_questions,
        warm_up,
    )

    sets = [load_questions(file) for file in files]  # every file checked before any work
    results: dict[str, dict[str, Any]] = {}
    with open_rag(ctx) as rag:
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
