"""Every knob of azsdk-rag in one typed object, read from arguments or the environment.

Nothing else in the package reads ``os.environ``: build a :class:`Settings` (``Settings()``
reads the environment, keyword arguments override it) and hand it down.

    >>> Settings(top_k=8).top_k            # arguments win over AZSDK_RAG_TOP_K
    8

The README's settings table is this class's fields: ``python -m azsdk_rag.settings --markdown``
prints it, ``--update README.md`` rewrites it in place.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MEMORY = ":memory:"

EmbeddingsKind = Literal["local", "azure"]
LlmKind = Literal["auto", "extractive", "azure", "openai"]
RetrievalMode = Literal["hybrid", "dense", "sparse"]


def default_qdrant_path() -> Path:
    """The embedded store lives in the user's data directory, so every project shares one index."""
    return Path(user_data_dir("azsdk-rag", appauthor=False)) / "qdrant"


def _env(name: str) -> AliasChoices:
    """Accept both the field name (as a keyword argument) and a plain environment variable."""
    return AliasChoices(name.lower(), name)


class Settings(BaseSettings):
    """Configuration: keyword arguments first, then ``AZSDK_RAG_*`` and Azure OpenAI variables."""

    model_config = SettingsConfigDict(
        env_prefix="AZSDK_RAG_", populate_by_name=True, extra="ignore", frozen=True
    )

    # -- store ---------------------------------------------------------------------------------
    qdrant_path: str = Field(
        default_factory=lambda: str(default_qdrant_path()),
        description="Embedded Qdrant folder, or ':memory:' for a throwaway store.",
        json_schema_extra={"shown_default": "user data dir `/azsdk-rag/qdrant`"},
    )
    qdrant_url: str | None = Field(None, description="A Qdrant server; wins over the path.")
    qdrant_api_key: SecretStr | None = Field(None, description="API key of the Qdrant server.")
    collection: str = Field("AzureSDKs", description="Collection name (the old backend's).")
    shards: int = Field(1, ge=1, description="Shards of a collection created on a server.")
    replicas: int = Field(1, ge=1, description="Replication factor of a collection on a server.")

    # -- embeddings ----------------------------------------------------------------------------
    embeddings: EmbeddingsKind = Field("local", description="'local' (fastembed) or 'azure'.")
    dense_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2", description="fastembed dense model."
    )
    sparse_model: str = Field("Qdrant/bm25", description="fastembed sparse model.")
    embed_max_tokens: int = Field(
        128, ge=16, le=512, description="Word pieces of a chunk the dense model reads."
    )
    embedding_deployment: str = Field(
        "text-embedding-ada-002", description="Azure OpenAI embedding deployment."
    )
    model_dir: Path | None = Field(
        None, description="Folder of local model folders (offline); unset: fastembed downloads."
    )

    # -- ingest --------------------------------------------------------------------------------
    corpus: Path | None = Field(
        None, description="Default corpus for a bare 'ingest' (file or folder of *.jsonl[.gz])."
    )
    chunk_tokens: int = Field(350, ge=32, description="Largest chunk, in tiktoken tokens.")
    chunk_overlap: int = Field(40, ge=0, description="Tokens shared by neighbouring chunks.")
    batch_size: int = Field(32, ge=1, description="Points embedded and written per batch.")
    github_base: str = Field(
        "https://github.com/Azure", description="Where 'ingest --github' clones from."
    )

    # -- retrieval and answering ---------------------------------------------------------------
    retrieval_mode: RetrievalMode = Field("hybrid", description="hybrid, dense or sparse.")
    top_k: int = Field(5, ge=1, description="Chunks handed to the model.")
    context_tokens: int = Field(3000, ge=100, description="Token budget of the context.")
    history_tokens: int = Field(2000, ge=0, description="Token budget of a session's history.")
    llm: LlmKind = Field("auto", description="auto, extractive, azure or openai.")
    chat_deployment: str = Field("gpt-4o-mini", description="Azure OpenAI chat deployment.")
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint.")
    openai_api_key: SecretStr | None = Field(None, description="Key of that endpoint.")
    openai_model: str = Field("gpt-4o-mini", description="Model name at that endpoint.")
    request_timeout: float = Field(60.0, gt=0, description="Seconds per model request.")
    max_retries: int = Field(3, ge=0, description="Retries of a throttled or failed request.")

    # -- Azure OpenAI (standard variable names) ------------------------------------------------
    azure_openai_endpoint: str | None = Field(
        None, validation_alias=_env("AZURE_OPENAI_ENDPOINT"),
        description="Azure OpenAI endpoint (https://NAME.openai.azure.com).",
    )
    azure_openai_api_key: SecretStr | None = Field(
        None, validation_alias=_env("AZURE_OPENAI_API_KEY"),
        description="Azure OpenAI key; unset: Microsoft Entra ID (DefaultAzureCredential).",
    )
    openai_api_version: str = Field("2024-10-21", validation_alias=_env("OPENAI_API_VERSION"),
                                    description="Azure OpenAI API version.")

    # -- server --------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address 'serve' binds.")
    port: int = Field(65432, ge=0, le=65535, description="Legacy raw-text port (old extension).")
    rpc_port: int = Field(65433, ge=0, le=65535, description="JSON-RPC port.")
    mcp_port: int = Field(65434, ge=0, le=65535, description="'mcp --http' port.")
    token: SecretStr | None = Field(None, description="Required from clients off loopback.")

    @field_validator("qdrant_path", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, str) and value != MEMORY:
            return str(Path(value).expanduser())
        return value

    @property
    def uses_server(self) -> bool:
        return bool(self.qdrant_url)

    @property
    def location(self) -> str:
        """Where the index lives, for messages (never includes a key)."""
        return self.qdrant_url or self.qdrant_path


# -- the README's table ------------------------------------------------------------------------

TABLE_START = "<!-- settings table: python -m azsdk_rag.settings --update README.md -->"
TABLE_END = "<!-- end of settings table -->"


def environment_variable(name: str) -> str:
    """The variable a field is read from: its own (Azure's standard names) or ``AZSDK_RAG_*``."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return next(str(choice) for choice in alias.choices if str(choice).isupper())
    return f"AZSDK_RAG_{name.upper()}"


def _shown_default(name: str) -> str:
    field = Settings.model_fields[name]
    extra: Any = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    if field.default is None:
        return "unset"
    return f"`{field.default}`"


def markdown_table() -> str:
    """Every setting as a markdown table row: name, environment variable, default, meaning."""
    rows = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{name}` | `{environment_variable(name)}` | {_shown_default(name)} | "
                    f"{field.description or ''} |")
    return "\n".join(rows) + "\n"


def with_table(text: str) -> str:
    """``text`` (the README) with the part between the table's markers replaced by the table."""
    head, start, rest = text.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not start or not end:
        raise ValueError(f"the markers {TABLE_START!r} and {TABLE_END!r} are missing.")
    return f"{head}{TABLE_START}\n{markdown_table()}{TABLE_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m azsdk_rag.settings",
                                     description="The settings as a markdown table.")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--markdown", action="store_true", help="Print the table.")
    what.add_argument("--update", type=Path, metavar="README",
                      help="Rewrite the table between its markers in this file.")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown_table())
        return 0
    try:
        text = args.update.read_text("utf-8")
        args.update.write_text(with_table(text), "utf-8")
    except (OSError, ValueError) as exc:
        print(f"Cannot update {args.update}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
