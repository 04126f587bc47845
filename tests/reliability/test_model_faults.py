"""Azure OpenAI faults through the whole AzureSdkRag (llm="azure"): one sentence, never a hang.

Every request crosses HTTP to the loopback Azure OpenAI server (support/azure_openai_server.py)
with the real openai / langchain_openai clients, so retries, retry-after, timeouts and SSE
parsing are the SDK's own. Every wait is bounded: a call that neither answers nor fails in time
fails the test instead of blocking the suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from azsdk_rag.errors import ModelError
from azsdk_rag.rag import AzureSdkRag
from azsdk_rag.settings import Settings
from azsdk_rag.types import DeltaEvent
from support.azure_openai_server import AzureOpenAIServer, Reply
from support.reliability_fixtures import KEY, assert_one_sentence, within
from support.socket_clients import OldExtensionClient, in_thread, rpc_client, running

QUESTION = "/java how do I create a storage account with the resource manager?"
BOUND = 30.0  # seconds any single call may take before it counts as a hang


@dataclass(frozen=True)
class Fault:
    replies: tuple[Reply, ...]
    message: str
    attempts: int  # chat requests the fault may cost, with max_retries=2


FAST_RETRY = {"retry-after-ms": "20", "retry-after": "1"}

FAULTS: dict[str, Fault] = {
    "429 storm": Fault((Reply.throttle(retry_after=0.02, times=None),),
                       "Azure OpenAI is throttling requests (429) and retries ran out; try again "
                       "in 1 s.", 3),
    "500s": Fault((replace(Reply.server_error(500, times=None), headers=FAST_RETRY),),
                  "Azure OpenAI failed with a server error (500) after retries; try again later.",
                  3),
    "503 then 500": Fault((replace(Reply.server_error(503), headers=FAST_RETRY),
                           replace(Reply.server_error(500, times=None), headers=FAST_RETRY)),
                          "Azure OpenAI failed with a server error (500) after retries", 3),
    "timeout": Fault((Reply(delay=10, times=None),),
                     "Azure OpenAI did not answer within 1 s; try again, or raise "
                     "AZSDK_RAG_REQUEST_TIMEOUT.", 3),
    "stream cut mid-answer": Fault((Reply.cut("one two three four five six", after_chunks=2),),
                                   "broke off before the answer was complete; try again.", 1),
    "very slow tokens": Fault((Reply(text="one two three four", chunk_delay=10),),
                              "Azure OpenAI did not answer within 1 s", 1),
    "401": Fault((Reply.unauthorized(times=None),),
                 "Azure OpenAI rejected the credentials (401): check AZURE_OPENAI_API_KEY or "
                 "your Entra ID login.", 1),
    "content filter on the prompt": Fault((Reply.content_filter_error(),),
                                          "Azure OpenAI's content filter blocked this request "
                                          "(hate: high); rephrase the question.", 1),
    "content filter mid-answer": Fault((Reply.content_filter_finish("Here is how "),),
                                       "Azure OpenAI's content filter blocked this request and "
                                       "stopped the answer; rephrase the question.", 1),
}


def _ask(rag: AzureSdkRag) -> str:
    return rag.ask(QUESTION).text


async def _astream(rag: AzureSdkRag) -> list[str]:
    return [e.text async for e in rag.astream(QUESTION) if isinstance(e, DeltaEvent)]


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_model_fault_is_one_sentence_then_the_next_question_works(
        name: str, azure_srv: AzureOpenAIServer,
        azure_settings: Callable[..., Settings]) -> None:
    fault = FAULTS[name]
    with AzureSdkRag(azure_settings()) as rag:
        azure_srv.script(*fault.replies)

        with pytest.raises(ModelError) as info:
            within(BOUND, _ask, rag)

        assert_one_sentence(str(info.value), fault.message)
        error = info.value  # no chained SDK exception to print under it
        assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
        assert len(azure_srv.chat_requests) == fault.attempts  # bounded retries, no more
        # the fault is over: the same RAG answers again (no stuck connection, no poisoned state)
        azure_srv.reset()
        assert within(BOUND, _ask, rag) == f"You asked: {_user_question(azure_srv)}"


def _user_question(srv: AzureOpenAIServer) -> str:
    """What the prompt's user message was (the loopback server echoes it back)."""
    messages = srv.chat_requests[-1].body["messages"]
    content = messages[-1]["content"]
    return content if isinstance(content, str) else "".join(p["text"] for p in content)


@pytest.mark.parametrize("name", ["429 storm", "timeout", "stream cut mid-answer",
                                  "very slow tokens", "content filter mid-answer"])
async def test_streaming_faults_end_the_stream_with_one_sentence(
        name: str, azure_srv: AzureOpenAIServer,
        azure_settings: Callable[..., Settings]) -> None:
    fault = FAULTS[name]
    with AzureSdkRag(azure_settings()) as rag:
        azure_srv.script(*fault.replies)
        with pytest.raises(ModelError) as info:
            await asyncio.wait_for(_astream(rag), BOUND)
    assert_one_sentence(str(info.value), fault.message)


def test_tokens_that_are_slow_but_within_the_timeout_are_not_a_fault(
        azure_srv: AzureOpenAIServer, azure_settings: Callable[..., Settings]) -> None:
    text = "Use StorageManager to create the account."
    with AzureSdkRag(azure_settings(request_timeout=2.0)) as rag:
        azure_srv.script(Reply(text=text, chunk_delay=0.2))
        assert within(BOUND, _ask, rag) == text
    assert len(azure_srv.chat_requests) == 1


def test_a_retry_after_is_honoured_then_the_answer_arrives(
        azure_srv: AzureOpenAIServer, azure_settings: Callable[..., Settings]) -> None:
    with AzureSdkRag(azure_settings()) as rag:
        azure_srv.script(Reply.throttle(retry_after=0.05), Reply.throttle(retry_after=0.05),
                         Reply.answer("after two 429s"))
        assert within(BOUND, _ask, rag) == "after two 429s"
    assert [r.headers["x-stainless-retry-count"] for r in azure_srv.chat_requests] == \
        ["0", "1", "2"]


# -- the same faults as the socket clients see them ------------------------------------------------


@pytest.mark.parametrize("name", ["500s", "stream cut mid-answer", "very slow tokens"])
async def test_over_json_rpc_a_model_fault_is_an_error_response_with_the_sentence(
        name: str, azure_srv: AzureOpenAIServer,
        azure_settings: Callable[..., Settings]) -> None:
    fault = FAULTS[name]
    with AzureSdkRag(azure_settings()) as rag:
        async with running(rag) as server, rpc_client(server) as client:
            azure_srv.script(*fault.replies)
            request_id = await client.request("ask", {"question": QUESTION})
            reply, _notes = await asyncio.wait_for(client.response(request_id), BOUND)
            assert reply["error"]["code"] == -32001
            assert reply["error"]["data"] == {"type": "ModelError"}
            assert_one_sentence(reply["error"]["message"], fault.message)
            # the connection survives: the next question is answered
            azure_srv.reset()
            reply, _ = await asyncio.wait_for(client.call("ask", {"question": QUESTION}), BOUND)
            assert reply["result"]["text"].startswith("You asked:")


async def test_over_the_legacy_wire_a_model_fault_is_one_markdown_line(
        azure_srv: AzureOpenAIServer, azure_settings: Callable[..., Settings]) -> None:
    fault = FAULTS["stream cut mid-answer"]
    with AzureSdkRag(azure_settings()) as rag:
        async with running(rag) as server:
            client = OldExtensionClient(server.addresses["legacy"])
            client.sock.settimeout(BOUND)
            try:
                azure_srv.script(*fault.replies)
                reply = (await in_thread(client.ask, QUESTION)).decode()
                assert reply.startswith("**Error:** ")
                assert_one_sentence(reply.removeprefix("**Error:** "), fault.message)
                assert KEY not in reply
            finally:
                client.close()
