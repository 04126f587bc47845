"""The answering commands: ``ask``, ``chat`` and ``eval``, in-process (CliRunner) and as a process.

They run on a small embedded index (two python READMEs and one javascript README copied from the
sample index), found through ``AZSDK_RAG_QDRANT_PATH`` as a user would configure it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from azsdk_rag.cli import cli
from azsdk_rag.extractive import LABEL
from azsdk_rag.settings import Settings
from azsdk_rag.store import Store
from support.answering import build_small_index

ROOT = Path(__file__).resolve().parents[1]
EXE = ROOT / ".venv" / "bin" / "azsdk-rag"

QUESTIONS = [
    {"id": "t-1", "question": "/python upload a local file to a blob container",
     "languages": ["python"], "packages": ["azure-storage-blob"], "tags": ["explicit"]},
    {"id": "t-2", "question": "how do I read a secret from key vault in my Django app?",
     "languages": ["python"], "packages": ["azure-keyvault-secrets"], "tags": ["implicit"]},
    {"id": "t-3", "question": "and how do I list the blobs in it?",
     "history": [{"role": "user", "content": "/js upload a blob to a container"},
                 {"role": "assistant", "content": "Use `BlockBlobClient.uploadData`."}],
     "languages": ["javascript"], "packages": ["@azure/storage-blob"], "tags": ["followup"]},
    {"id": "t-4", "question": "how do I upload a blob with golang?", "languages": [],
     "packages": [], "tags": ["routing", "none"]},
    {"id": "t-5", "question": "upload a file to blob storage", "languages": [],
     "packages": ["azure-storage-blob", "@azure/storage-blob"], "tags": ["none"]},
]


@pytest.fixture(scope="module")
def tiny_index(sample_index: Store, settings_factory: Callable[..., Settings],
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_small_index(sample_index, tmp_path_factory.mktemp("cli-index"),
                             settings_factory)


@pytest.fixture
def env(tiny_index: Path, model_dir: Path) -> dict[str, str]:
    return {"AZSDK_RAG_QDRANT_PATH": str(tiny_index), "AZSDK_RAG_MODEL_DIR": str(model_dir)}


@pytest.fixture
def invoke(env: dict[str, str], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    # A directory without manifests: the repository's pyproject.toml would hint Python.
    monkeypatch.chdir(tmp_path)

    def run(*args: str, input: str | None = None, **extra_env: str) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, env={**env, **extra_env},
                                  catch_exceptions=False)
    return run


@pytest.fixture
def question_file(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in QUESTIONS) + "\n", "utf-8")
    return path


def one_error_line(result: Result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- ask -------------------------------------------------------------------------------------------


def test_ask_prints_the_answer_and_links_every_source(invoke: Callable[..., Result]) -> None:
    result = invoke("ask", "/python", "upload", "a", "blob")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(LABEL)
    assert "pip install azure-storage-blob" in out
    assert "(python: slash command /python)" in result.stderr
    # the streamed text is the whole answer, and it links every source, so no list follows it
    as_json = json.loads(invoke("ask", "--json", "/python upload a blob").stdout)
    assert out.rstrip("\n") == as_json["text"].rstrip("\n")
    assert all(s["url"] in out for s in as_json["sources"])
    assert "\nSources:\n" not in out


@pytest.fixture
def on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout counts as a terminal (CliRunner's is a pipe); the console is 80 columns wide."""
    from rich.console import Console

    from azsdk_rag import render

    monkeypatch.setattr(render, "should_render", lambda stream, raw=False: not raw)
    monkeypatch.setattr(render, "terminal_console",
                        lambda stream=None: Console(width=80, color_system=None))


def test_on_a_terminal_ask_and_chat_render_the_markdown_and_raw_keeps_it(
        invoke: Callable[..., Result], on_a_terminal: None) -> None:
    plain = json.loads(invoke("ask", "--json", "/python upload a blob").stdout)["text"]
    assert "```" in plain and "\n> " in plain  # markdown: fences, the README quoted

    shown = invoke("ask", "/python", "upload", "a", "blob")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "```" not in out and "\n> " not in out and "### " not in out  # rendered, not raw
    assert "▌ " in out  # the README excerpt as a quote
    assert " pip install azure-storage-blob" in out  # the install block
    assert "(https://github.com/Azure/azure-sdk-for-python/" in out  # links keep their URL
    assert all(len(line) <= 80 for line in out.splitlines())

    raw = invoke("ask", "--raw", "/python upload a blob")
    assert raw.exit_code == 0 and raw.stdout.rstrip("\n") == plain.rstrip("\n")

    chat = invoke("chat", input="/python upload a blob\nexit\n")
    assert chat.exit_code == 0 and "▌ " in chat.stdout and "```" not in chat.stdout
    raw_chat = invoke("chat", "--raw", input="/python upload a blob\nexit\n")
    assert "```" in raw_chat.stdout and "▌ " not in raw_chat.stdout


def test_piped_output_is_the_plain_markdown(invoke: Callable[..., Result]) -> None:
    piped = invoke("ask", "/python upload a blob").stdout  # CliRunner's stdout is no terminal
    assert "```" in piped and "▌" not in piped
    assert piped == invoke("ask", "--raw", "/python upload a blob").stdout


def test_ask_json_prints_text_route_and_sources(invoke: Callable[..., Result]) -> None:
    result = invoke("ask", "--json", "how do I upload a blob in python?")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"text", "route", "sources"}
    assert data["text"].startswith(LABEL)
    assert data["route"]["languages"] == ["python"] and data["route"]["signal"] == "text"
    assert data["sources"][0]["package"] == "azure-storage-blob"
    assert set(data["sources"][0]) == {"language", "package", "title", "url", "score", "section"}


def test_language_option_forces_the_route(invoke: Callable[..., Result]) -> None:
    free = json.loads(invoke("ask", "--json", "upload a blob").stdout)
    forced = json.loads(invoke("ask", "--json", "--language", "python", "upload a blob").stdout)
    short = json.loads(invoke("ask", "--json", "-l", "js", "upload a blob").stdout)

    assert free["route"]["languages"] == []
    assert {s["language"] for s in free["sources"]} == {"python", "javascript"}
    assert forced["route"]["languages"] == ["python"]
    assert forced["route"]["signal"] == "forced"
    assert {s["language"] for s in forced["sources"]} == {"python"}
    assert short["route"]["languages"] == ["javascript"]


def test_ask_inside_a_cargo_project_routes_to_rust_unless_no_hint(
        invoke: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "app"\n', "utf-8")
    hinted = json.loads(invoke("ask", "--json", "upload a blob").stdout)
    named = json.loads(invoke("ask", "--json", "upload a blob with python").stdout)
    plain = json.loads(invoke("ask", "--json", "--no-hint", "upload a blob").stdout)

    assert hinted["route"]["languages"] == ["rust"]
    assert hinted["route"]["signal"] == "hint"
    assert hinted["route"]["reason"] == "workspace: Cargo.toml"
    assert named["route"]["languages"] == ["python"], "the text wins over the directory"
    assert plain["route"]["languages"] == []


def test_an_unknown_language_option_is_a_clear_error(invoke: Callable[..., Result]) -> None:
    line = one_error_line(invoke("ask", "--language", "klingon", "upload a blob"))
    assert "klingon" in line and "python" in line


def test_ask_without_an_index_is_one_error_line(invoke: Callable[..., Result],
                                                tmp_path: Path) -> None:
    result = invoke("ask", "upload a blob", AZSDK_RAG_QDRANT_PATH=str(tmp_path / "none"))
    line = one_error_line(result)
    assert "azsdk-rag ingest" in line and str(tmp_path / "none") in line


# -- chat ----------------------------------------------------------------------------------------


def test_chat_answers_with_history(invoke: Callable[..., Result]) -> None:
    result = invoke("chat", input="/python upload a blob\nand list them?\nexit\n")

    assert result.exit_code == 0, result.output
    assert result.stdout.count(LABEL) == 2
    assert result.stdout.count("**Sources**") == 2
    routes = [line for line in result.stderr.splitlines() if line.startswith("(")]
    assert routes[0] == "(python: slash command /python)"
    assert routes[1].startswith("(python: follow-up:")
    assert "[javascript]" not in result.stdout


def test_chat_reset_forgets_and_end_of_input_ends(invoke: Callable[..., Result]) -> None:
    result = invoke("chat", input="/python upload a blob\n/reset\nand list them?\n")

    assert result.exit_code == 0, result.output
    assert "(history cleared)" in result.stdout
    routes = [line for line in result.stderr.splitlines() if line.startswith("(")]
    assert routes[1].startswith("(all languages:")


# -- eval ----------------------------------------------------------------------------------------


def test_eval_json_reports_the_metrics(invoke: Callable[..., Result],
                                       question_file: Path) -> None:
    result = invoke("eval", str(question_file), "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("questions", "routing_accuracy", "hit_at_1", "hit_at_5", "mrr", "latency_ms",
                "by_language", "by_tag"):
        assert key in data, key
    assert data["questions"] == 5 and data["retrieval_questions"] == 4
    assert data["k"] == 5 and "misses" not in data
    assert data["routing_accuracy"] == 1.0
    assert data["hit_at_1"] >= 0.75 and data["hit_at_5"] == 1.0
    assert 0 < data["mrr"] <= 1
    assert set(data["latency_ms"]) == {"p50", "p95"}
    assert 0 < data["latency_ms"]["p50"] <= data["latency_ms"]["p95"]
    assert set(data["by_language"]) == {"python", "javascript", "none"}
    assert data["by_language"]["python"]["questions"] == 2
    assert set(data["by_tag"]) == {"explicit", "implicit", "followup", "routing", "none"}
    assert data["by_tag"]["routing"]["hit_at_1"] is None  # routing-only: no retrieval score


def test_eval_k_changes_the_cut_off(invoke: Callable[..., Result], question_file: Path) -> None:
    data = json.loads(invoke("eval", str(question_file), "--json", "--k", "3").stdout)
    assert data["k"] == 3 and "hit_at_3" in data
    assert data["by_language"]["python"]["hit_at_3"] is not None


def test_eval_table_and_misses(invoke: Callable[..., Result], question_file: Path) -> None:
    result = invoke("eval", str(question_file), "--misses")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["n", "route", "hit@1", "hit@5", "MRR", "p50", "ms"]
    assert lines[2].split()[:2] == ["all", "5"]
    assert any(line.startswith("#routing") for line in lines)


def test_eval_of_several_files_is_one_table_with_a_row_per_file(
        invoke: Callable[..., Result], question_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "real-questions.jsonl"
    other.write_text("\n".join(json.dumps(q) for q in QUESTIONS[:2]) + "\n", "utf-8")
    result = invoke("eval", str(question_file), str(other))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["n", "route", "hit@1", "hit@5", "MRR", "p50", "ms"]
    assert [line.split()[:2] for line in lines[2:]] == [["questions", "5"],
                                                        ["real-questions", "2"]]
    data = json.loads(invoke("eval", str(question_file), str(other), "--json").stdout)
    assert set(data["files"]) == {"questions", "real-questions"}
    assert data["files"]["real-questions"]["questions"] == 2


def test_eval_checks_every_file_before_it_starts(invoke: Callable[..., Result],
                                                 question_file: Path, tmp_path: Path) -> None:
    line = one_error_line(invoke("eval", str(question_file), str(tmp_path / "nope.jsonl")))
    assert "Cannot read question file" in line and "nope.jsonl" in line


@pytest.mark.parametrize("content", [
    '{"id": "x", "question": "ok"}\nnot json\n',
    '{"id": "x", "languages": ["python"]}\n',
    '[1, 2]\n',
    "\n\n",
], ids=["bad-json", "no-question", "not-an-object", "empty"])
def test_a_bad_question_file_is_one_error_line(invoke: Callable[..., Result], tmp_path: Path,
                                               content: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, "utf-8")
    line = one_error_line(invoke("eval", str(path), "--json"))
    assert str(path) in line


def test_a_missing_question_file_is_one_error_line(invoke: Callable[..., Result],
                                                   tmp_path: Path) -> None:
    line = one_error_line(invoke("eval", str(tmp_path / "nope.jsonl")))
    assert "Cannot read question file" in line


# -- as a process ----------------------------------------------------------------------------------


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([str(EXE), *args], env=full, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.skipif(not EXE.exists(), reason="the azsdk-rag script is not installed in .venv")
def test_the_installed_command_answers(env: dict[str, str]) -> None:
    done = _run(["ask", "--json", "/python upload a blob"], env)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert data["route"]["languages"] == ["python"]
    assert data["sources"][0]["package"] == "azure-storage-blob"
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not EXE.exists(), reason="the azsdk-rag script is not installed in .venv")
def test_a_reader_that_stops_early_is_no_error(env: dict[str, str]) -> None:
    """``azsdk-rag ask ... | head -1``: the pipe closes before the answer is written."""
    proc = subprocess.Popen([str(EXE), "ask", "/python upload a blob"],
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like head, gone before the first line arrives
    try:
        stderr = proc.stderr.read()
        assert proc.wait(timeout=120) == 141  # as a process stopped by SIGPIPE
    finally:
        proc.kill()
    assert "error" not in stderr.lower() and "Traceback" not in stderr, stderr


@pytest.mark.skipif(not EXE.exists(), reason="the azsdk-rag script is not installed in .venv")
def test_the_installed_command_reports_a_bad_file_in_one_line(env: dict[str, str],
                                                              tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{oops\n", "utf-8")
    done = _run(["eval", str(path)], env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"error: {path}:1: not a question line")
