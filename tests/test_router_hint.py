"""The editor's hint (languageId, manifests): used only when nothing else names a language."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.runnables import RunnableLambda

from azsdk_rag.languages import (
    Language,
    editor_language,
    find_manifests,
    manifest_languages,
    register_language,
    registered,
)
from azsdk_rag.router import LanguageRouter, route


@pytest.mark.parametrize(
    ("editor_id", "expected"),
    [
        ("python", "python"),
        ("java", "java"),
        ("csharp", "dotnet"),
        ("fsharp", "dotnet"),
        ("vb", "dotnet"),
        ("javascript", "javascript"),
        ("typescript", "javascript"),
        ("javascriptreact", "javascript"),
        ("typescriptreact", "javascript"),
        ("rust", "rust"),
        ("RUST", "rust"),
    ],
)
def test_editor_language_ids_map_to_languages(editor_id, expected):
    lang = editor_language(editor_id)
    assert lang is not None and lang.id == expected


@pytest.mark.parametrize("editor_id", ["markdown", "plaintext", "json", "cpp", "go", ""])
def test_other_editor_language_ids_map_to_none(editor_id):
    assert editor_language(editor_id) is None


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["pyproject.toml"], ["python"]),
        (["requirements.txt"], ["python"]),
        (["package.json"], ["javascript"]),
        (["pom.xml"], ["java"]),
        (["build.gradle"], ["java"]),
        (["MyApp.csproj"], ["dotnet"]),
        (["src/App.sln"], ["dotnet"]),
        (["Cargo.toml"], ["rust"]),
        (["README.md", "Makefile"], []),
        (["Cargo.toml", "package.json"], ["javascript", "rust"]),
    ],
)
def test_manifest_files_map_to_languages(files, expected):
    assert sorted(lang.id for lang in manifest_languages(files)) == expected


def test_a_hint_decides_only_when_the_question_names_no_language():
    hint = {"languageId": "python", "manifests": []}
    routed = route("how do I upload a blob?", hint=hint)
    assert routed.languages == ("python",)
    assert routed.signal == "hint"
    assert routed.reason == "editor: python"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how do I upload a blob with Java?", ("java",)),
        ("upload a blob in C#", ("dotnet",)),
        ("/rust upload a blob", ("rust",)),
        ("```ts\nconst client = new BlobServiceClient(url);\n```", ("javascript",)),
        ("upload a blob with pip install azure-storage-blob", ("python",)),
    ],
)
@pytest.mark.parametrize("with_manifests", [False, True])
def test_a_hint_never_overrides_a_language_the_text_names(question, expected, with_manifests):
    other = "python" if expected != ("python",) else "rust"
    hint: dict = {"languageId": other}
    if with_manifests:
        hint["manifests"] = ["pyproject.toml"] if other == "python" else ["Cargo.toml"]
    routed = route(question, hint=hint)
    assert routed.languages == expected
    assert routed.signal != "hint"
    assert "editor" not in routed.reason and "workspace" not in routed.reason


def test_a_hint_never_overrides_a_forced_language():
    routed = route("upload a blob", language="java", hint={"languageId": "python"})
    assert routed.languages == ("java",) and routed.signal == "forced"


def test_a_hint_never_replaces_a_language_with_no_sdk_here():
    routed = route("how do I upload a blob in Go?", hint={"languageId": "python"})
    assert routed.languages == ()
    assert routed.signal == "none"


def test_the_conversation_wins_over_the_hint():
    history = [{"role": "user", "content": "how do I upload a blob in Java?"}]
    routed = route("and download it?", history=history, hint={"languageId": "python"})
    assert routed.languages == ("java",)
    assert routed.signal == "history"


def test_manifests_decide_when_the_editor_says_nothing():
    routed = route("upload a blob", hint={"languageId": "markdown", "manifests": ["Cargo.toml"]})
    assert routed.languages == ("rust",)
    assert routed.reason == "workspace: Cargo.toml"


def test_the_editor_wins_over_the_manifests():
    hint = {"languageId": "typescript", "manifests": ["pyproject.toml"]}
    assert route("upload a blob", hint=hint).languages == ("javascript",)


def test_manifests_of_several_languages_decide_nothing():
    routed = route("upload a blob", hint={"manifests": ["Cargo.toml", "package.json"]})
    assert routed.languages == ()
    assert routed.signal == "none"


@pytest.mark.parametrize(
    "hint",
    [None, {}, {"languageId": 3, "manifests": "Cargo.toml"}, "python", {"manifests": [None, 1]}],
)
def test_a_bad_or_empty_hint_is_no_hint(hint):
    routed = route("upload a blob", hint=hint)
    assert routed.languages == ()
    assert routed.signal == "none"


def test_a_hint_object_with_attributes_works_too():
    class Hint:
        language_id = "csharp"
        manifests = ("App.csproj",)

    assert route("upload a blob", hint=Hint()).languages == ("dotnet",)


def test_the_runnable_reads_the_hint_from_its_input():
    router = LanguageRouter()
    routed = router.invoke({"question": "upload a blob", "hint": {"languageId": "java"}})
    assert routed.languages == ("java",) and routed.reason == "editor: java"
    named = router.invoke({"question": "upload a blob in Python", "hint": {"languageId": "java"}})
    assert named.languages == ("python",)


def test_the_hint_settles_what_a_classifier_would_otherwise_be_asked():
    router = LanguageRouter(classifier=RunnableLambda(lambda _: {"languages": ["java"]}))
    routed = router.invoke({"question": "BlobServiceClient upload", "hint": {"languageId": "rust"}})
    assert routed.languages == ("rust",)
    assert router.invoke({"question": "BlobServiceClient upload"}).signal == "llm"


def test_a_registered_language_brings_its_own_editor_ids_and_manifests(tmp_path: Path):
    go = Language(
        id="go",
        name="Go",
        slash_commands=("/go",),
        editor_ids=("go",),
        manifests=("go.mod",),
    )
    with registered(go):
        assert route("upload a blob", hint={"languageId": "go"}).languages == ("go",)
        (tmp_path / "go.mod").write_text("module x\n")
        assert find_manifests(tmp_path) == ("go.mod",)
    assert editor_language("go") is None


def test_editor_ids_must_be_unique_across_languages():
    clash = Language(id="snake", name="Snake", slash_commands=("/snake",), editor_ids=("python",))
    with pytest.raises(ValueError, match="editor language id 'python' is Python's"):
        register_language(clash)


def test_find_manifests_lists_only_manifest_files(tmp_path: Path):
    for name in ("Cargo.toml", "README.md", "App.csproj", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "package.json").mkdir()  # a folder is not a manifest
    assert find_manifests(tmp_path) == ("App.csproj", "Cargo.toml")
    assert find_manifests(tmp_path / "missing") == ()


def test_the_cli_hint_is_the_current_directory_s_manifests(tmp_path: Path, monkeypatch):
    from azsdk_rag.cli.answer import directory_hint as _directory_hint
    from azsdk_rag.types import Hint

    monkeypatch.chdir(tmp_path)
    assert _directory_hint(False) is None, "no manifest, no hint"
    (tmp_path / "Cargo.toml").write_text("[package]\n")
    assert _directory_hint(False) == Hint(None, ("Cargo.toml",))
    assert _directory_hint(True) is None, "--no-hint"
    assert route("upload a blob", hint=_directory_hint(False)).languages == ("rust",)
