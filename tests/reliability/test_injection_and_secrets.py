"""Security: instructions planted in a README stay data, paths stay in their folders, the token
check is constant-time, and no key, token or Qdrant key reaches a log line, an error or a reply.

The planted README is part of the session's small index (conftest.py); the model is the real
AzureChatOpenAI talking to the loopback Azure OpenAI server, whose recorded requests show exactly
what the model was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from azsdk_rag.cli import cli
from azsdk_rag.errors import ModelError, StoreError
from azsdk_rag.ingest.chunking import MarkdownChunker
from azsdk_rag.ingest.sources import load_corpus, load_repo
from azsdk_rag.prompts import HUMAN, SYSTEM
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.server import Server
from azsdk_rag.settings import Settings
from support.azure_openai_server import AzureOpenAIServer, Reply
from support.ingest_fixtures import CLI, cli_env, closed_port
from support.reliability_fixtures import (
    KEY,
    PLANTED_INSTRUCTION,
    PLANTED_PACKAGE,
    QKEY,
    SECRETS,
    TOKEN,
    assert_no_secret,
    assert_one_sentence,
    within,
    write_rows,
)
from support.socket_clients import OldExtensionClient, RpcClient, in_thread

BOUND = 30.0
PLANTED_QUESTION = "/python how do I install azure-contoso-widgets and create a widget?"


def _text(content: Any) -> str:
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


# -- instructions planted in a README -------------------------------------------------------------


def test_instructions_planted_in_a_readme_stay_inside_the_excerpts(
        azure_srv: AzureOpenAIServer, azure_settings: Callable[..., Settings],
        reliability_index: Path) -> None:
    settings = azure_settings(token=TOKEN, qdrant_api_key=QKEY)
    with AzureSdkRag(settings) as rag:
        session = rag.new_session()
        first = within(BOUND, rag.ask, PLANTED_QUESTION, session_id=session)
        # the loopback model echoes the prompt, planted text included, into the history: the
        # next turn must still get our rules unchanged
        within(BOUND, rag.ask, "/python and how do I delete it again?", session_id=session)

    assert PLANTED_PACKAGE in [s.package for s in first.sources]  # the README was retrieved
    rules = SYSTEM.format(languages="Python")
    answers = [r for r in azure_srv.chat_requests
               if r.body["messages"][0]["role"] == "system"]
    assert len(answers) == 2  # (plus the follow-up's standalone-query rewrite, no system message)
    for request in azure_srv.chat_requests:
        messages = request.body["messages"]
        for message in messages:
            if message["role"] == "system":
                assert message is messages[0] and _text(message["content"]) == rules
        body = json.dumps(request.body)
        for secret in (*SECRETS, str(reliability_index), str(settings.model_dir)):
            assert secret not in body, f"{secret[:12]}... is in what the model was sent"
        assert request.headers["api-key"] == KEY  # the key goes in its header, and only there

    first_user = _text(answers[0].body["messages"][-1]["content"])
    head, question = first_user.split("\n\nQuestion: ", 1)
    assert head.startswith(HUMAN.split("{context}")[0])  # "... <readme_excerpts>\n"
    assert PLANTED_INSTRUCTION in head  # the planted text reached the model as an excerpt...
    assert PLANTED_INSTRUCTION not in question  # ...and nowhere else of our making
    assert question == PLANTED_QUESTION.removeprefix("/python ")
    sent = json.dumps(answers[0].body)
    assert sent.count(json.dumps(PLANTED_INSTRUCTION)[1:-1]) == \
        first_user.count(PLANTED_INSTRUCTION)  # all of it inside the user message


# -- paths stay in their folders -----------------------------------------------------------------

_OPENED: list[str] = []
_WATCHING: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _WATCHING and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


@contextlib.contextmanager
def opened_files() -> Iterator[list[str]]:
    """Every file opened inside the block (an audit hook: it sees opens by any library)."""
    if not getattr(sys, "_azsdk_rag_audit", False):
        sys.addaudithook(_audit)  # hooks cannot be removed: this one is idle outside the block
        sys._azsdk_rag_audit = True  # type: ignore[attr-defined]
    _OPENED.clear()
    _WATCHING.append(True)
    try:
        yield _OPENED
    finally:
        _WATCHING.clear()


SECRET_TEXT = "TOP-SECRET-OUTSIDE-THE-CORPUS " * 30


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file with distinctive text, outside any corpus or repository folder."""
    folder = tmp_path / "outside"
    folder.mkdir()
    secret = folder / "secret.md"
    secret.write_text(f"# Secret\n\n{SECRET_TEXT}\n")
    (folder / "pkg").mkdir()
    (folder / "pkg" / "README.md").write_text(f"# Evil\n\n{SECRET_TEXT}\n")
    (folder / "pkg" / "pyproject.toml").write_text('[project]\nname = "azure-evil"\n')
    return secret


def test_path_fields_of_a_corpus_are_metadata_and_never_read(tmp_path: Path,
                                                             outside: Path) -> None:
    corpus = tmp_path / "corpus"
    base = {"language": "python", "package": "azure-x", "text": "# X\n\nThe X client.\n"}
    paths = ["../outside/secret.md", str(outside), "../../../../../../etc/passwd",
             "sdk/../../outside/secret.md"]
    write_rows(corpus / "rows.jsonl", [{**base, "package": f"azure-x{i}", "path": p,
                                        "url": f"file://{outside}"} for i, p in enumerate(paths)])
    with opened_files() as opened:
        docs = load_corpus([corpus])
        chunks = MarkdownChunker(128, 16).split_documents(docs)
    assert [d.metadata["path"] for d in docs] == paths  # kept as given, as metadata
    assert not [p for p in opened if Path(p).name in ("secret.md", "passwd")], opened
    assert all(SECRET_TEXT.strip() not in c.page_content for c in chunks)


def _checkout(root: Path, outside: Path) -> Path:
    repo = root / "azure-sdk-for-python"
    real = repo / "sdk" / "core" / "azure-core"
    real.mkdir(parents=True)
    (real / "pyproject.toml").write_text('[project]\nname = "azure-core"\nversion = "1.0"\n')
    (real / "README.md").write_text("# Azure Core\n\n" + "The core library. " * 30 + "\n")
    linked = repo / "sdk" / "storage" / "azure-storage-blob"
    linked.mkdir(parents=True)
    (linked / "pyproject.toml").write_text('[project]\nname = "azure-storage-blob"\n')
    (linked / "README.md").symlink_to(outside)  # a README that points out of the checkout
    (repo / "sdk" / "evil").symlink_to(outside.parent / "pkg", target_is_directory=True)
    return repo


def test_a_symlinked_folder_in_a_checkout_is_not_followed(tmp_path: Path, outside: Path) -> None:
    docs = load_repo(_checkout(tmp_path, outside))
    assert "azure-evil" not in [d.metadata["package"] for d in docs]


def test_a_readme_symlinked_out_of_the_checkout_is_not_read(tmp_path: Path,
                                                            outside: Path) -> None:
    repo = _checkout(tmp_path, outside)
    link = repo / "sdk" / "storage" / "azure-storage-blob" / "README.md"
    with opened_files() as opened:
        docs = load_repo(repo)
    assert [d.metadata["package"] for d in docs] == ["azure-core"]
    assert all(SECRET_TEXT.strip() not in d.page_content for d in docs)
    assert str(link) not in opened and str(outside) not in opened


# -- the token check -----------------------------------------------------------------------------


async def test_every_token_check_is_constant_time_and_nothing_echoes_the_token(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The token comes from the environment; every attempt (right, wrong, same length, empty,
    not a string) goes through hmac.compare_digest or is refused before any comparison."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AZSDK_RAG_TOKEN", TOKEN)
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    from support.fake_rag import FakeRag

    server = Server(FakeRag(), Settings(host="127.0.0.1", port=0, rpc_port=0))
    await server.start()
    seen = b""
    try:
        same_length = TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")
        for token in (same_length, TOKEN[:5], "", TOKEN + "x", TOKEN):
            reader, writer = await asyncio.open_connection(*server.addresses["rpc"])
            client = RpcClient(reader, writer)
            reply, _ = await client.call("initialize", {"token": token})
            seen += json.dumps(reply).encode()
            assert ("result" in reply) == (token == TOKEN)
            await client.close()
        reader, writer = await asyncio.open_connection(*server.addresses["rpc"])
        client = RpcClient(reader, writer)
        reply, _ = await client.call("initialize", {"token": 12345})  # not a string
        seen += json.dumps(reply).encode()
        assert reply["error"]["code"] == -32003
        await client.close()
    finally:
        await server.close()
    assert [a for a, _ in compared] == [t.encode() for t in
                                        (same_length, TOKEN[:5], "", TOKEN + "x", TOKEN)]
    assert all(b == TOKEN.encode() for _, b in compared)
    assert TOKEN.encode() not in seen
    assert TOKEN not in caplog.text


# -- no secret in any log line, error or reply ---------------------------------------------------


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZSDK_RAG_TOKEN", TOKEN)
    monkeypatch.setenv("AZSDK_RAG_QDRANT_API_KEY", QKEY)


def errors() -> list[Reply]:
    """Model failures, two of them quoting the secrets back (as a proxy might)."""
    return [
        Reply.unauthorized(message=f"Key {KEY} is not valid; token {TOKEN}; qdrant {QKEY}"),
        Reply(status=418, body={"error": {"code": "teapot", "message": f"api-key={KEY}"}}),
        Reply.server_error(500, times=3),
        Reply.cut("one two three four", after_chunks=1),
        Reply.content_filter_error(),
    ]


def test_no_secret_in_logs_or_errors_of_an_ask_that_fails(
        secret_env: None, azure_settings: Callable[..., Settings], azure_srv: AzureOpenAIServer,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDKs' and httpx's included
    settings = azure_settings(azure_openai_api_key=...)  # the key comes from the environment
    assert settings.azure_openai_api_key is not None and settings.token is not None
    messages = []
    with AzureSdkRag(settings) as rag:
        for reply in errors():
            azure_srv.script(reply)
            with pytest.raises(ModelError) as info:
                within(BOUND, rag.ask, "/java create a storage account")
            messages.append(str(info.value))
            azure_srv.reset()
        assert within(BOUND, rag.ask, "/java create a storage account").text
    assert all(r.headers.get("api-key") == KEY for r in azure_srv.chat_requests)
    for message in messages:
        assert "\n" not in message and "Traceback" not in message
        assert_no_secret(message)
    assert_one_sentence(messages[0], "rejected the credentials (401)")
    assert caplog.records, "expected debug logs from the SDKs"
    assert_no_secret(caplog.text, *(r.getMessage() for r in caplog.records))


async def test_no_secret_in_a_server_session_that_fails(
        secret_env: None, azure_settings: Callable[..., Settings], azure_srv: AzureOpenAIServer,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = azure_settings(azure_openai_api_key=..., host="127.0.0.1", port=0, rpc_port=0)
    received = b""
    with AzureSdkRag(settings) as rag:
        server = Server(rag, settings)
        await server.start()
        try:
            for token in ("wrong", TOKEN):
                reader, writer = await asyncio.open_connection(*server.addresses["rpc"])
                client = RpcClient(reader, writer)
                reply, _ = await client.call("initialize", {"token": token})
                received += json.dumps(reply).encode()
                if token == TOKEN:
                    reply, _ = await client.call("status")
                    received += json.dumps(reply).encode()
                    for fault in errors()[:2]:
                        azure_srv.script(fault)
                        reply, notes = await asyncio.wait_for(
                            client.call("ask", {"question": "/java create a storage account"}),
                            BOUND)
                        assert "error" in reply
                        received += json.dumps([reply, notes]).encode()
                await client.close()
            legacy = OldExtensionClient(server.addresses["legacy"])
            legacy.sock.settimeout(BOUND)
            try:
                azure_srv.script(errors()[0])
                received += await in_thread(legacy.ask, "/java create a storage account")
            finally:
                legacy.close()
        finally:
            await server.close()
    assert b"**Error:**" in received and b"-32001" in received
    assert_no_secret(received.decode("utf-8", "replace"), caplog.text)


def test_debug_logs_mask_secrets_an_endpoint_echoes_in_its_response_headers(
        secret_env: None, reliability_index: Path) -> None:
    """``--debug`` turns on httpx, httpcore and openai debug logs, which print response headers: an
    endpoint that echoes every secret back in its headers (and in the answer's status text) still
    gets none of them printed, on a successful answer."""
    echo = {"x-echo-key": KEY, "x-echo-token": f"Bearer {TOKEN}", "x-echo-qdrant": QKEY}
    with AzureOpenAIServer(api_key=KEY) as srv:
        srv.script(Reply.answer("Use `pip install azure-contoso-widgets`.", headers=echo,
                                times=None))
        env = cli_env(reliability_index, AZURE_OPENAI_ENDPOINT=srv.endpoint,
                      AZURE_OPENAI_API_KEY=KEY, AZSDK_RAG_TOKEN=TOKEN,
                      AZSDK_RAG_QDRANT_API_KEY=QKEY, AZSDK_RAG_LLM="azure",
                      AZSDK_RAG_MAX_RETRIES="0")
        proc = subprocess.run([str(CLI), "--debug", "ask", "/python create a widget"],
                              env=env, capture_output=True, text=True, timeout=300)
        assert srv.chat_requests  # the model was asked, and answered with the echoing headers
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pip install azure-contoso-widgets" in proc.stdout
    assert "x-echo-key" in proc.stderr  # the headers were logged: the test can fail
    assert_no_secret(proc.stdout, proc.stderr)


def test_no_secret_in_cli_error_output(secret_env: None, reliability_index: Path,
                                       model_dir: Path) -> None:
    """The installed script with --debug (every log line on stderr) against a model that echoes
    the key back in a 401, and a Qdrant server that is down."""
    with AzureOpenAIServer(api_key=KEY) as srv:
        srv.script(Reply.unauthorized(message=f"Key {KEY} is not valid", times=None))
        env = cli_env(reliability_index, AZURE_OPENAI_ENDPOINT=srv.endpoint,
                      AZURE_OPENAI_API_KEY=KEY, AZSDK_RAG_TOKEN=TOKEN,
                      AZSDK_RAG_QDRANT_API_KEY=QKEY, AZSDK_RAG_LLM="azure",
                      AZSDK_RAG_MAX_RETRIES="0")
        proc = subprocess.run([str(CLI), "--debug", "ask", "/java create a storage account"],
                              env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "DEBUG" in proc.stderr  # the debug logs were on
    assert "error: Azure OpenAI rejected the credentials (401)" in proc.stderr
    assert_no_secret(proc.stdout, proc.stderr)

    url = f"http://127.0.0.1:{closed_port()}"
    for args in (["--debug", "--qdrant-url", url, "status"], ["--qdrant-url", url, "ask", "q"]):
        result = CliRunner().invoke(cli, args, env={"AZSDK_RAG_MODEL_DIR": str(model_dir)})
        assert result.exit_code == 1
        assert f"Cannot reach the Qdrant server at {url}" in result.stderr
        assert_no_secret(result.output)
    with pytest.raises(StoreError) as info:
        AzureSdkRag(Settings(qdrant_url=url))  # the Qdrant key comes from the environment
    assert_no_secret(str(info.value))
