"""Settings: names users' scripts rely on, environment vs arguments, secrets kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from azsdk_rag.settings import Settings, default_qdrant_path


def test_defaults() -> None:
    s = Settings()
    assert s.collection == "AzureSDKs"
    assert s.embeddings == "local"
    assert s.embedding_deployment == "text-embedding-ada-002"
    assert s.chat_deployment == "gpt-4o-mini"
    assert s.llm == "auto"
    assert s.port == 65432
    assert s.host == "127.0.0.1"
    assert Path(s.qdrant_path) == default_qdrant_path()
    assert not s.uses_server


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AZSDK_RAG_QDRANT_PATH", str(tmp_path / "store"))
    monkeypatch.setenv("AZSDK_RAG_COLLECTION", "Mine")
    monkeypatch.setenv("AZSDK_RAG_EMBEDDINGS", "azure")
    monkeypatch.setenv("AZSDK_RAG_EMBEDDING_DEPLOYMENT", "emb")
    monkeypatch.setenv("AZSDK_RAG_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("AZSDK_RAG_CHAT_DEPLOYMENT", "chat")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k-123")
    monkeypatch.setenv("OPENAI_API_VERSION", "2099-01-01")
    s = Settings()
    assert s.qdrant_path == str(tmp_path / "store")
    assert s.collection == "Mine"
    assert s.embeddings == "azure"
    assert s.embedding_deployment == "emb"
    assert s.model_dir == tmp_path
    assert s.chat_deployment == "chat"
    assert s.azure_openai_endpoint == "https://x.openai.azure.com"
    assert s.azure_openai_api_key is not None
    assert s.azure_openai_api_key.get_secret_value() == "k-123"
    assert s.openai_api_version == "2099-01-01"


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZSDK_RAG_COLLECTION", "FromEnv")
    assert Settings(collection="FromArg").collection == "FromArg"


def test_server_wins_over_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZSDK_RAG_QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("AZSDK_RAG_QDRANT_API_KEY", "qk-secret")
    s = Settings(qdrant_path=":memory:")
    assert s.uses_server
    assert s.location == "http://qdrant:6333"
    assert "qk-secret" not in repr(s) and "qk-secret" not in str(s.model_dump())


def test_memory_path_accepted() -> None:
    assert Settings(qdrant_path=":memory:").qdrant_path == ":memory:"


def test_secrets_hidden_in_repr() -> None:
    s = Settings(azure_openai_api_key="sk-very-secret", token="tok-secret")
    assert "sk-very-secret" not in repr(s)
    assert "tok-secret" not in repr(s)


@pytest.mark.parametrize("field,value", [("embeddings", "other"), ("llm", "gpt"),
                                         ("retrieval_mode", "fuzzy"), ("port", 70000)])
def test_bad_values_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_the_readme_settings_table_is_generated_from_settings() -> None:
    """Adding, renaming or re-describing a setting fails here until the README says so too."""
    from azsdk_rag.settings import environment_variable, markdown_table, with_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    assert with_table(readme) == readme, (
        "README.md's settings table differs from Settings: run "
        "'python -m azsdk_rag.settings --update README.md'")
    table = markdown_table()
    assert table.count("\n") == len(Settings.model_fields) + 2
    assert "| `azure_openai_api_key` | `AZURE_OPENAI_API_KEY` | unset |" in table
    assert "| `top_k` | `AZSDK_RAG_TOP_K` | `5` | Chunks handed to the model. |" in table
    assert environment_variable("openai_api_version") == "OPENAI_API_VERSION"
    with pytest.raises(ValueError, match="markers"):
        with_table("no table here")


def test_the_settings_command_prints_and_updates_the_table(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    from azsdk_rag.settings import TABLE_END, TABLE_START, main, markdown_table

    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out == markdown_table()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{TABLE_START}\n| stale |\n{TABLE_END}\nafter\n", "utf-8")
    assert main(["--update", str(readme)]) == 0
    expected = f"# x\n{TABLE_START}\n{markdown_table()}{TABLE_END}\nafter\n"
    assert readme.read_text("utf-8") == expected
    assert main(["--update", str(tmp_path / "missing.md")]) == 1
    assert "Cannot update" in capsys.readouterr().err
