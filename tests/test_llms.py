"""The model factory against the real langchain_openai / openai clients and a loopback server.

Nothing is stubbed in-process: every call crosses HTTP to ``AzureOpenAIServer`` on 127.0.0.1, so
request shapes, SSE parsing, base64 embeddings, retries and error mapping are the SDK's own.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import AzureChatOpenAI, AzureOpenAIEmbeddings, ChatOpenAI

from azsdk_rag.azure_auth import ENTRA_SCOPE
from azsdk_rag.embeddings import make_azure_embeddings
from azsdk_rag.errors import ConfigError, ModelError
from azsdk_rag.llms import chat_backend, make_chat_model
from azsdk_rag.model_errors import finish_reason_error, friendly_model_error, model_errors
from azsdk_rag.settings import Settings
from support.azure_openai_server import AzureOpenAIServer, Reply, split_chunks

KEY = "sk-TESTKEY-7f3a9c2e41d8b6"  # distinctive, so a leak anywhere is easy to spot
SHARED_TIKTOKEN = Path("/work/shared/tiktoken")
LOGGERS = ("openai", "httpx", "httpx2", "httpcore", "langchain", "langchain_openai", "azure")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient Azure/OpenAI configuration: only what each test passes reaches the clients."""
    for name in list(os.environ):
        if name.startswith(("AZURE_", "OPENAI_", "AZSDK_RAG_")):
            monkeypatch.delenv(name)
    if "TIKTOKEN_CACHE_DIR" not in os.environ and SHARED_TIKTOKEN.is_dir():
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(SHARED_TIKTOKEN))


@pytest.fixture
def srv() -> Iterator[AzureOpenAIServer]:
    with AzureOpenAIServer() as server:
        yield server
    assert not server.errors, f"the test server crashed: {server.errors!r}"


def azure_settings(srv: AzureOpenAIServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "azure_openai_endpoint": srv.endpoint,
        "azure_openai_api_key": KEY,
        "max_retries": 1,
        "request_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


def failure(call: Any, settings: Settings) -> tuple[BaseException, ModelError]:
    """Run ``call``, which must fail, and return the raw error and its friendly version."""
    with pytest.raises(Exception) as info:
        call()
    friendly = friendly_model_error(info.value, settings)
    assert friendly is not None, f"unmapped: {info.value!r}"
    return info.value, friendly


# -- happy paths ---------------------------------------------------------------------------------


def test_azure_invoke_sends_deployment_version_key_and_prompt(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv, chat_deployment="chat-dep", openai_api_version="2024-06-01")
    model = make_chat_model(settings, streaming=False)
    assert isinstance(model, AzureChatOpenAI)

    question = HumanMessage("How do I install azure-storage?")
    reply = model.invoke([SystemMessage("Be brief."), question])

    assert reply.content == "You asked: How do I install azure-storage?"
    assert reply.response_metadata["prompt_filter_results"][0]["prompt_index"] == 0
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0
    (request,) = srv.requests
    assert request.path == "/openai/deployments/chat-dep/chat/completions"
    assert request.query["api-version"] == "2024-06-01"
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers
    assert not request.body.get("stream")
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert request.body["messages"][1]["content"] == "How do I install azure-storage?"
    assert request.body["temperature"] <= 0.2


def test_azure_stream_yields_sse_chunks(srv: AzureOpenAIServer) -> None:
    model = make_chat_model(azure_settings(srv))
    assert model is not None

    chunks = list(model.stream("what is azure identity"))

    texts = [c.content for c in chunks if c.content]
    expected = "You asked: what is azure identity"
    assert len(texts) == len(split_chunks(expected)) > 1
    assert "".join(texts) == expected
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert isinstance(total, AIMessageChunk)
    assert total.response_metadata["finish_reason"] == "stop"
    assert total.usage_metadata is not None and total.usage_metadata["total_tokens"] > 0
    body = srv.chat_requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_streaming_model_invoke_goes_through_sse(srv: AzureOpenAIServer) -> None:
    model = make_chat_model(azure_settings(srv), streaming=True)
    assert model is not None
    srv.script(Reply.answer("Use DefaultAzureCredential."))

    assert model.invoke("auth?").content == "Use DefaultAzureCredential."
    assert srv.chat_requests[0].body["stream"] is True


async def test_async_invoke_and_stream(srv: AzureOpenAIServer) -> None:
    model = make_chat_model(azure_settings(srv), streaming=False)
    assert model is not None

    reply = await model.ainvoke("first question")
    pieces = [c.content async for c in model.astream("second question") if c.content]

    assert reply.content == "You asked: first question"
    assert len(pieces) > 1
    assert "".join(pieces) == "You asked: second question"
    assert [bool(r.body.get("stream")) for r in srv.chat_requests] == [False, True]


def test_openai_compatible_endpoint(srv: AzureOpenAIServer) -> None:
    settings = Settings(openai_base_url=srv.openai_base_url, openai_model="llama3.1:8b")
    model = make_chat_model(settings, streaming=False)
    assert isinstance(model, ChatOpenAI) and not isinstance(model, AzureChatOpenAI)

    assert model.invoke("hi there").content == "You asked: hi there"
    assert [c.content for c in model.stream("x y") if c.content] == ["You ", "asked: ", "x ", "y"]
    request = srv.chat_requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "llama3.1:8b"
    assert request.headers["authorization"] == "Bearer not-needed"
    assert "api-key" not in request.headers


def test_openai_compatible_endpoint_sends_its_key(srv: AzureOpenAIServer) -> None:
    settings = Settings(llm="openai", openai_base_url=srv.openai_base_url, openai_api_key=KEY)
    model = make_chat_model(settings, streaming=False)
    assert model is not None

    model.invoke("q")

    assert srv.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"


# -- embeddings ----------------------------------------------------------------------------------


def test_embeddings_send_token_ids_and_decode_base64(srv: AzureOpenAIServer) -> None:
    import tiktoken

    settings = azure_settings(srv, embedding_deployment="text-embedding-3-small")
    embeddings = make_azure_embeddings(settings)
    assert isinstance(embeddings, AzureOpenAIEmbeddings)
    texts = ["BlobServiceClient uploads blobs", "cargo add azure_identity"]

    vectors = embeddings.embed_documents(texts)

    (request,) = srv.embedding_requests
    assert request.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert request.query["api-version"] == settings.openai_api_version
    assert request.headers["api-key"] == KEY
    assert request.body["encoding_format"] == "base64"
    encoding = tiktoken.get_encoding("cl100k_base")
    tokens = [encoding.encode_ordinary(t) for t in texts]
    assert request.body["input"] == tokens
    assert len(vectors) == 2 and all(len(v) == 1536 for v in vectors)
    assert vectors == [srv.vector(t) for t in tokens]  # float32 values survive base64 exactly


def test_embeddings_accept_plain_text_and_other_dimensions() -> None:
    with AzureOpenAIServer(dimensions=8) as srv:
        embeddings = make_azure_embeddings(azure_settings(srv))
        embeddings.check_embedding_ctx_length = False  # send strings, not token ids

        query = embeddings.embed_query("how do I list containers")

        assert srv.embedding_requests[0].body["input"] == ["how do I list containers"]
        assert query == srv.vector("how do I list containers")
        assert len(query) == 8


async def test_async_embeddings(srv: AzureOpenAIServer) -> None:
    embeddings = make_azure_embeddings(azure_settings(srv))
    embeddings.check_embedding_ctx_length = False

    vectors = await embeddings.aembed_documents(["a", "b", "c"])

    assert vectors == [srv.vector(t) for t in ("a", "b", "c")]


# -- retries and throttling ----------------------------------------------------------------------


def test_429_with_retry_after_then_success(
    srv: AzureOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai._base_client import BaseClient

    waits: list[float] = []
    real = BaseClient._calculate_retry_timeout

    def spy(self: Any, *args: Any, **kwargs: Any) -> float:
        waits.append(real(self, *args, **kwargs))
        return waits[-1]

    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", spy)
    model = make_chat_model(azure_settings(srv, max_retries=2), streaming=False)
    assert model is not None
    srv.script(Reply.throttle(retry_after=1, ms=False), Reply.answer("after the wait"))

    assert model.invoke("q").content == "after the wait"

    assert len(srv.chat_requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in srv.chat_requests] == ["0", "1"]
    assert waits == [1.0]  # the SDK waited what retry-after asked, once


def test_429_forever_gives_bounded_attempts_and_names_429(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv, max_retries=3)  # not the SDK's default of 2
    model = make_chat_model(settings, streaming=False)
    assert model is not None
    srv.script(Reply.throttle(retry_after=0.02, times=None))

    _, friendly = failure(lambda: model.invoke("q"), settings)

    assert len(srv.chat_requests) == settings.max_retries + 1
    assert "throttling" in str(friendly) and "(429)" in str(friendly)
    assert "retries ran out; try again in 1 s" in str(friendly)


def test_server_errors_are_retried_then_reported(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv, max_retries=1)
    model = make_chat_model(settings, streaming=False)
    assert model is not None
    fast = {"retry-after-ms": "10"}
    srv.script(replace(Reply.server_error(503, times=None), headers=fast))

    _, friendly = failure(lambda: model.invoke("q"), settings)

    assert len(srv.chat_requests) == 2
    assert "server error (503)" in str(friendly)


# -- auth ----------------------------------------------------------------------------------------


def test_401_is_friendly_and_never_leaks_the_key(caplog: pytest.LogCaptureFixture) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    with AzureOpenAIServer(api_key="the-right-key") as srv:
        settings = azure_settings(srv)
        model = make_chat_model(settings)
        assert model is not None
        # A proxy that echoes the key back: the SDK's own message then carries it.
        srv.script(Reply.unauthorized(message=f"Key {KEY} is not valid for this resource"))

        raw, friendly = failure(lambda: list(model.stream("q")), settings)
        _, plain = failure(lambda: model.invoke("q"), settings)  # the server's own 401

    assert KEY in str(raw)  # so the checks below can fail
    for err in (friendly, plain):
        assert str(err) == (
            "Azure OpenAI rejected the credentials (401): check AZURE_OPENAI_API_KEY or your "
            "Entra ID login."
        )
    assert caplog.records, "expected SDK debug logs"
    assert not [r for r in caplog.records if KEY in r.getMessage()]


def test_scrubbing_also_covers_keys_the_sdk_put_in_other_messages(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv, max_retries=0)
    model = make_chat_model(settings, streaming=False)
    assert model is not None
    srv.script(Reply(status=418, body={"error": {"code": "teapot", "message": f"api-key={KEY}"}}))

    raw, friendly = failure(lambda: model.invoke("q"), settings)

    assert KEY in str(raw)
    assert "(418)" in str(friendly)
    assert KEY not in str(friendly)
    # Without settings, the key the request carried is still scrubbed.
    assert KEY not in str(friendly_model_error(raw))


def test_403_is_an_access_error(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv)
    model = make_chat_model(settings, streaming=False)
    assert model is not None
    srv.script(Reply.forbidden())

    _, friendly = failure(lambda: model.invoke("q"), settings)

    assert "denied access (403)" in str(friendly)
    assert len(srv.chat_requests) == 1  # auth failures are not retried


class FakeCredential:
    """Stands in for DefaultAzureCredential: hands out a fixed token and records the scopes."""

    token = "entra-token-5b1e"
    scopes: ClassVar[list[tuple[str, ...]]] = []

    def get_token(self, *scopes: str, **_: Any) -> Any:
        from azure.core.credentials import AccessToken

        FakeCredential.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def test_entra_id_token_provider_when_no_key(
    srv: AzureOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("azure.identity.DefaultAzureCredential", FakeCredential)
    FakeCredential.scopes = []
    settings = azure_settings(srv, azure_openai_api_key=None)

    model = make_chat_model(settings, streaming=False)
    assert model is not None
    model.invoke("who am i")
    make_azure_embeddings(settings).embed_query("q")

    for request in srv.requests:
        assert request.headers["authorization"] == f"Bearer {FakeCredential.token}"
        assert "api-key" not in request.headers
    assert FakeCredential.scopes and FakeCredential.scopes[0] == (ENTRA_SCOPE,)


def test_entra_id_failure_is_friendly(
    srv: AzureOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class NoLogin:
        def get_token(self, *scopes: str, **_: Any) -> Any:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", NoLogin)
    settings = azure_settings(srv, azure_openai_api_key=None)
    model = make_chat_model(settings, streaming=False)
    assert model is not None

    _, friendly = failure(lambda: model.invoke("q"), settings)

    assert "Microsoft Entra ID token" in str(friendly)
    assert "AZURE_OPENAI_API_KEY" in str(friendly)
    assert srv.requests == []


# -- not found, content filter, timeouts, broken streams -----------------------------------------


def test_unknown_deployment_is_named() -> None:
    with AzureOpenAIServer(deployments={"gpt-4o"}) as srv:
        settings = azure_settings(srv, chat_deployment="gpt-4o-typo", embedding_deployment="emb-x")
        model = make_chat_model(settings, streaming=False)
        assert model is not None
        embeddings = make_azure_embeddings(settings)
        embeddings.check_embedding_ctx_length = False

        _, chat_err = failure(lambda: model.invoke("q"), settings)
        _, emb_err = failure(lambda: embeddings.embed_query("q"), settings)

    assert "no deployment named 'gpt-4o-typo' (404)" in str(chat_err)
    assert "AZSDK_RAG_CHAT_DEPLOYMENT" in str(chat_err)
    assert "no deployment named 'emb-x' (404)" in str(emb_err)
    assert "AZSDK_RAG_EMBEDDING_DEPLOYMENT" in str(emb_err)


def test_content_filter_on_the_prompt(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv)
    model = make_chat_model(settings)
    assert model is not None
    srv.script(Reply.content_filter_error("hate"))

    _, friendly = failure(lambda: list(model.stream("q")), settings)

    assert str(friendly) == (
        "Azure OpenAI's content filter blocked this request (hate: high); rephrase the question."
    )
    assert len(srv.chat_requests) == 1


def test_content_filter_finish_reason_when_invoked(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv)
    model = make_chat_model(settings, streaming=False)
    assert model is not None
    srv.script(Reply.content_filter_finish("Partial"))

    _, friendly = failure(lambda: model.invoke("q"), settings)

    assert str(friendly).startswith("Azure OpenAI's content filter blocked this request")


def test_content_filter_finish_reason_when_streamed(srv: AzureOpenAIServer) -> None:
    model = make_chat_model(azure_settings(srv))
    assert model is not None
    srv.script(Reply.content_filter_finish("Here is how to"))

    chunks = list(model.stream("q"))  # the SDK raises nothing: the last chunk says why it stopped

    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == "Here is how to"
    err = finish_reason_error(total.response_metadata)
    assert err is not None and "content filter" in str(err)
    assert finish_reason_error({"finish_reason": "stop"}) is None


def test_slow_server_times_out_with_bounded_retries(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv, request_timeout=0.3, max_retries=1)
    model = make_chat_model(settings, streaming=False)
    assert model is not None
    srv.script(Reply(delay=5, times=None))

    raw, friendly = failure(lambda: model.invoke("q"), settings)

    assert len(srv.chat_requests) == 2
    assert str(friendly) == (
        "Azure OpenAI did not answer within 0.3 s; try again, or raise AZSDK_RAG_REQUEST_TIMEOUT."
    )
    # Without settings the timeout is read from the request itself.
    assert "within 0.3 s" in str(friendly_model_error(raw))


def test_slow_stream_chunks_time_out(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv, request_timeout=0.3, max_retries=0)
    model = make_chat_model(settings)
    assert model is not None
    srv.script(Reply(text="one two three", chunk_delay=2))

    _, friendly = failure(lambda: list(model.stream("q")), settings)

    assert "did not answer within 0.3 s" in str(friendly)


def test_stream_cut_mid_answer_is_a_clean_error(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv)
    model = make_chat_model(settings)
    assert model is not None
    srv.script(Reply.cut("one two three four five", after_chunks=2))
    received: list[str] = []

    def consume() -> None:
        for chunk in model.stream("q"):
            received.append(str(chunk.content))

    _, friendly = failure(consume, settings)

    assert "".join(received) == "one two "
    assert str(friendly) == (
        f"The connection to 127.0.0.1:{srv.port} broke off before the answer was complete; "
        "try again."
    )
    assert len(srv.chat_requests) == 1


async def test_async_stream_cut_through_model_errors(srv: AzureOpenAIServer) -> None:
    settings = azure_settings(srv)
    model = make_chat_model(settings)
    assert model is not None
    srv.script(Reply.cut("alpha beta gamma", after_chunks=1))

    with pytest.raises(ModelError, match="broke off") as info, model_errors(settings):
        async for _ in model.astream("q"):
            pass

    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreachable_endpoint_names_the_host_not_the_key() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        azure_openai_endpoint=f"http://127.0.0.1:{port}", azure_openai_api_key=KEY, max_retries=0
    )
    model = make_chat_model(settings, streaming=False)
    assert model is not None

    _, friendly = failure(lambda: model.invoke("q"), settings)

    assert str(friendly) == (
        f"Could not connect to the model service at 127.0.0.1:{port}; check the endpoint setting."
    )


def test_unrelated_errors_are_left_alone() -> None:
    assert friendly_model_error(KeyError("x")) is None
    assert friendly_model_error(ValueError("bad literal")) is None
    with pytest.raises(ZeroDivisionError), model_errors():
        1 / 0  # noqa: B018


# -- selection -----------------------------------------------------------------------------------

ENDPOINT = "https://example.openai.azure.com"
LOCAL = "http://127.0.0.1:11434/v1"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "extractive"),
        ({"azure_openai_endpoint": ENDPOINT}, "azure"),
        ({"openai_base_url": LOCAL}, "openai"),
        ({"azure_openai_endpoint": ENDPOINT, "openai_base_url": LOCAL}, "azure"),
        ({"llm": "openai", "azure_openai_endpoint": ENDPOINT, "openai_base_url": LOCAL}, "openai"),
        ({"llm": "extractive", "azure_openai_endpoint": ENDPOINT}, "extractive"),
        ({"llm": "azure", "azure_openai_endpoint": ENDPOINT}, "azure"),
    ],
)
def test_backend_selection(values: dict[str, Any], expected: str) -> None:
    settings = Settings(azure_openai_api_key=KEY, **values)
    assert chat_backend(settings) == expected
    model = make_chat_model(settings)
    kinds = {"azure": AzureChatOpenAI, "openai": ChatOpenAI}
    if expected == "extractive":
        assert model is None
    else:
        assert type(model) is kinds[expected]


def test_auto_reads_the_environment_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    assert isinstance(make_chat_model(Settings()), AzureChatOpenAI)


def test_azure_without_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT") as info:
        make_chat_model(Settings(llm="azure"))
    assert str(info.value).count(".") == 1  # one sentence
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        make_azure_embeddings(Settings())


def test_openai_without_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="AZSDK_RAG_OPENAI_BASE_URL"):
        make_chat_model(Settings(llm="openai"))


def test_factory_passes_timeout_and_retries() -> None:
    settings = Settings(
        azure_openai_endpoint=ENDPOINT, azure_openai_api_key=KEY, request_timeout=7, max_retries=4
    )
    model = make_chat_model(settings)
    assert isinstance(model, AzureChatOpenAI)
    assert model.root_client.max_retries == 4
    assert model.root_client.timeout == 7
    assert model.deployment_name == settings.chat_deployment
