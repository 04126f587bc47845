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
