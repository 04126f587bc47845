"""Every JSON-RPC parameter error, over the wire: -32602 and the one sentence naming the field.

The sentences are the protocol's (docs/protocol.md), so a change to how parameters are checked
must keep each of them, and the order in which a request wrong in two ways is judged.
"""

from __future__ import annotations

from typing import Any

import pytest

from azsdk_rag.server import Server
from support.fake_rag import FakeRag
from support.socket_clients import rpc_client

LONG = "x" * 16_001
EACH_TURN = "Each 'history' item must be {role: \"user\" or \"assistant\", content: string}."

ASK_ERRORS = [
    ({}, "'question' is required and must be a string."),
    ({"question": None}, "'question' is required and must be a string."),
    ({"question": 42}, "'question' must be a string."),
    ({"question": True}, "'question' must be a string."),
    ({"question": " \n"}, "'question' is empty."),
    ({"question": LONG}, "'question' is longer than 16000 characters."),
    ({"question": "\ud800 lone"}, "'question' is not valid Unicode text."),
    ({"question": "q", "language": ["python"]}, "'language' must be a string."),
    ({"question": "q", "language": "x" * 65}, "'language' is longer than 64 characters."),
    ({"question": "q", "language": "cobol"},
     "Unknown language 'cobol'; known: dotnet, java, javascript, python, rust."),
    ({"question": "q", "sessionId": 5}, "'sessionId' must be a string."),
    ({"question": "q", "sessionId": "s" * 201}, "'sessionId' is longer than 200 characters."),
    ({"question": "q", "history": {}}, "'history' must be an array of {role, content} objects."),
    ({"question": "q", "history": [{"role": "user", "content": "x"}] * 201},
     "'history' has more than 200 messages."),
    ({"question": "q", "history": [1]}, EACH_TURN),
    ({"question": "q", "history": [{"content": "x"}]}, EACH_TURN),
    ({"question": "q", "history": [{"role": "system", "content": "x"}]}, EACH_TURN),
    ({"question": "q", "history": [{"role": "user"}]},
     "'content' is required and must be a string."),
    ({"question": "q", "history": [{"role": "user", "content": 3}]},
     "'content' must be a string."),
    ({"question": "q", "hint": {"manifests": [None]}},
     "'hint.manifests' must be an array of strings."),
    ({"question": "q", "hint": {"manifests": ["\ud800"]}},
     "'hint.manifests' is not valid Unicode text."),
    ({"question": "q", "hint": {"languageId": "\ud800"}},
     "'languageId' is not valid Unicode text."),
    # Wrong in two ways: the first field, and within a field the first check, is reported.
    ({"question": "\ud800", "language": "cobol", "sessionId": 5},
     "'question' is not valid Unicode text."),
    ({"question": "q", "language": 1, "hint": "python", "history": 1},
     "'language' must be a string."),
    ({"question": "q", "hint": "python", "history": 1}, "'hint' must be an object."),
    ({"question": "q", "history": 1, "sessionId": 1},
     "'history' must be an array of {role, content} objects."),
    ({"question": "q", "hint": {"manifests": [1] * 65}},
     "'hint.manifests' must be an array of strings."),
    ({"question": "q", "hint": {"manifests": ["a" * 261] * 65}},
     "'hint.manifests' has more than 64 items."),
    ({"question": "q", "history": [1] * 201}, "'history' has more than 200 messages."),
    ({"question": "q", "history": [{"role": "user", "content": 1}, 1]},
     "'content' must be a string."),
]


@pytest.mark.parametrize(("params", "message"), ASK_ERRORS)
async def test_each_bad_ask_param_gets_its_sentence(
        server: Server, rag: FakeRag, params: dict[str, Any], message: str) -> None:
    async with rpc_client(server) as client:
        reply, notes = await client.call("ask", params)
    assert reply["error"] == {"code": -32602, "message": message}
    assert notes == [] and rag.calls == []


@pytest.mark.parametrize(("method", "params", "message"), [
    ("ask", ["q"], "'params' must be an object."),
    ("status", [], "'params' must be an object."),
    ("session/reset", {"sessionId": 5}, "'sessionId' must be a string."),
    ("session/reset", {"sessionId": "s" * 201}, "'sessionId' is longer than 200 characters."),
])
async def test_other_methods_check_their_params_too(
        server: Server, method: str, params: Any, message: str) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call(method, params)
    assert reply["error"] == {"code": -32602, "message": message}


async def test_good_params_reach_the_rag_normalised(server: Server, rag: FakeRag) -> None:
    params = {"question": "q", "language": " C# ", "sessionId": "", "extra": [1],
              "hint": {"languageId": " ", "manifests": [" ", "Cargo.toml "]},
              "history": [{"role": "user", "content": "a", "extra": 1}]}
    async with rpc_client(server) as client:
        reply, _ = await client.call("ask", params)
    assert "result" in reply
    call = rag.calls[-1]
    assert call.language == "dotnet"
    assert call.hint is not None and call.hint.language_id is None
    assert call.hint.manifests == ("Cargo.toml",)
    assert call.history == (("user", "a"),)


async def test_a_second_initialize_is_refused_before_its_version_is_read(server: Server) -> None:
    async with rpc_client(server) as client:
        reply, _ = await client.call("initialize", {"protocolVersion": "2"})
    assert reply["error"]["code"] == -32600
