"""The notebooks in examples/ run top to bottom, offline, on the embedded defaults.

Each runs in a fresh Jupyter kernel of this interpreter (so CI catches an example that rots when the
API changes), and each is committed without outputs (so diffs stay readable).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
EXPECTED = {"quickstart", "custom_parts", "evaluation"}


def test_the_examples_are_there() -> None:
    assert {p.stem for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    dirty = [i for i, cell in enumerate(book.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"clear the outputs of cells {dirty} (Kernel > Restart & Clear Output)"


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a notebook may ingest the whole corpus: longer than the default
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, model_dir: Path) -> None:
    book = nbformat.read(path, as_version=4)
    # First, which Python the kernel runs: it must be this one, where azsdk_rag is installed.
    book.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},  # run where a user opens it
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    probe = "".join(o.get("text", "") for o in book.cells[0].outputs).strip()
    assert probe == sys.prefix
    errors = [o for cell in book.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
