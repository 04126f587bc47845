/**
 * The chat participant (extension.ts) under plain Node, with a fake `vscode` module and a scripted
 * JSON-RPC server on loopback TCP (`azsdkRag.serverAddress`).
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CancellationTokenSource } from "vscode-jsonrpc/node";
import {
  ChatRequestTurn,
  ChatResponseTurn,
  FakeStream,
  installFakeVscode,
  type Handler,
} from "./support/fakeVscode";
import { frameServer, listen, type Json } from "./support/frameServer";

const vscode = installFakeVscode();
const extension = require("../src/extension") as typeof import("../src/extension");

const PARTICIPANT = "azsdk-rag.azsdk";
const notCancelled = new CancellationTokenSource().token;

describe("the @azsdk chat participant", () => {
  const seen: Json[] = [];
  const server = frameServer((message, send) => {
    seen.push(message);
    const { id, method } = message;
    const params = (message.params ?? {}) as Json;
    if (method === "initialize") {
      send({
        id,
        result: {
          protocolVersion: "1",
          serverInfo: { name: "scripted", version: "0" },
          capabilities: { streaming: true, cancel: true, languages: [] },
        },
      });
    } else if (method === "ask") {
      const language = params.language as string | undefined;
      const route = {
        languages: language ? [language] : [],
        query: params.question,
        signal: language ? "forced" : "none",
        reason: language ? `forced by /${language}` : "no language named",
      };
      send({ method: "answer/route", params: { requestId: id, route } });
      if (params.question === "fail") {
        send({ id, error: { code: -32001, message: "The chat model is unavailable right now." } });
        return;
      }
      const url = "https://github.com/Azure/azure-sdk-for-js/blob/main/sdk/storage/README.md";
      const sources = [url, url, "https://learn.microsoft.com/javascript/api/"].map((u) => ({
        language: "javascript",
        package: "@azure/storage-blob",
        title: "README",
        url: u,
        score: 1,
        section: "",
      }));
      send({ method: "answer/sources", params: { requestId: id, sources } });
      send({ method: "answer/delta", params: { requestId: id, text: "Use " } });
      if (params.question === "slow") {
        return; // answered with -32800 when the cancel arrives
      }
      send({ method: "answer/delta", params: { requestId: id, text: "`BlobClient`." } });
      send({ id, result: { text: "Use `BlobClient`.", route, sources } });
    } else if (method === "$/cancelRequest") {
      send({ id: params.id, error: { code: -32800, message: "Request cancelled." } });
    } else if (method === "shutdown" || method === "session/reset" || method === "status") {
      send({ id, result: null });
    }
  });
  let handler: Handler;
  const asks = (): Json[] => seen.filter((m) => m.method === "ask").map((m) => m.params as Json);

  before(async () => {
    const port = await listen(server);
    vscode.settings.set("azsdkRag.serverAddress", `127.0.0.1:${port}`);
    extension.activate({ subscriptions: [] } as never);
    handler = vscode.participants.get(PARTICIPANT)!;
    assert.ok(handler, "activate registers the participant");
  });

  after(async () => {
    await extension.deactivate();
    server.close();
  });

  test("a slash command picks the language and the answer streams with its sources", async () => {
    const stream = new FakeStream();
    const request = { prompt: "upload a blob", command: "js" };
    const result = await handler(request, { history: [] }, stream, notCancelled);

    const ask = asks().at(-1)!;
    assert.equal(ask.question, "upload a blob");
    assert.equal(ask.language, "javascript");
    assert.equal(typeof ask.sessionId, "string");
    assert.equal(result.metadata?.sessionId, ask.sessionId);
    const progress = stream.text("progress");
    assert.ok(progress.some((p) => p.includes("forced by /javascript")), progress.join("|"));
    assert.deepEqual(stream.text("reference"), [
      "https://github.com/Azure/azure-sdk-for-js/blob/main/sdk/storage/README.md",
      "https://learn.microsoft.com/javascript/api/",
    ]);
    assert.equal(stream.text("markdown").join(""), "Use `BlobClient`.");
  });

  test("a follow-up in the same chat reuses its session; a new chat gets a new one", async () => {
    const request = { prompt: "upload a blob", command: "python" };
    const first = await handler(request, { history: [] }, new FakeStream(), notCancelled);
    const history = [
      new ChatRequestTurn("upload a blob", "python", PARTICIPANT),
      new ChatResponseTurn([], first, PARTICIPANT, "python"),
    ];
    await handler({ prompt: "and download it?" }, { history }, new FakeStream(), notCancelled);
    const followUp = asks().at(-1)!;
    assert.equal(followUp.sessionId, first.metadata?.sessionId);
    assert.equal("language" in followUp, false, "no slash command: the server's router decides");

    await handler({ prompt: "something else" }, { history: [] }, new FakeStream(), notCancelled);
    assert.notEqual(asks().at(-1)!.sessionId, first.metadata?.sessionId);
  });

  test("each request carries the chat's earlier turns, so any server answers in context", async () => {
    const request = { prompt: "upload a blob", command: "python" };
    const first = await handler(request, { history: [] }, new FakeStream(), notCancelled);
    assert.deepEqual(asks().at(-1)!.history, []);
    const history = [
      new ChatRequestTurn("upload a blob", "python", PARTICIPANT),
      new ChatResponseTurn(
        [{ value: { value: "Use " } }, { value: { value: "`BlobClient`." } }],
        first,
        PARTICIPANT,
        "python",
      ),
      new ChatRequestTurn("hello", undefined, "someone.else"),
    ];
    await handler({ prompt: "and download it?" }, { history }, new FakeStream(), notCancelled);
    assert.deepEqual(asks().at(-1)!.history, [
      { role: "user", content: "/python upload a blob" },
      { role: "assistant", content: "Use `BlobClient`." },
    ]);
  });

  test("a server error is shown as one markdown sentence", async () => {
    const stream = new FakeStream();
    await handler({ prompt: "fail" }, { history: [] }, stream, notCancelled);
    assert.deepEqual(stream.text("markdown"), [
      "**azsdk-rag:** The chat model is unavailable right now.",
    ]);
  });

  test("cancelling the chat request cancels the ask and shows no error", async () => {
    const source = new CancellationTokenSource();
    const stream = new FakeStream();
    const markdown = stream.markdown.bind(stream);
    stream.markdown = (value: string) => {
      markdown(value);
      source.cancel();
    };
    await handler({ prompt: "slow" }, { history: [] }, stream, source.token);
    const ask = seen.filter((m) => m.method === "ask").at(-1)!;
    const cancel = seen.find((m) => m.method === "$/cancelRequest");
    assert.deepEqual(cancel?.params, { id: ask.id });
    assert.deepEqual(stream.text("markdown"), ["Use "]);
  });

  test("deactivate shuts the server connection down", async () => {
    await extension.deactivate();
    const methods = seen.map((m) => m.method);
    assert.deepEqual(methods.slice(-2), ["shutdown", "exit"]);
  });

  test("a missing azsdk-rag command says how to install it", async () => {
    vscode.settings.set("azsdkRag.serverAddress", "");
    vscode.settings.set("azsdkRag.pythonCommand", "azsdk-rag-not-installed-42");
    vscode.fireConfigurationChange("azsdkRag");
    const stream = new FakeStream();
    await handler({ prompt: "upload a blob" }, { history: [] }, stream, notCancelled);
    const text = stream.text("markdown").join("");
    assert.match(text, /azsdk-rag was not found/);
    assert.match(text, /pip install azsdk-rag/);
    assert.match(text, /azsdkRag\.pythonCommand/);
  });

  test("a bad server address says what it should look like", async () => {
    vscode.settings.set("azsdkRag.serverAddress", "localhost");
    vscode.fireConfigurationChange("azsdkRag");
    const stream = new FakeStream();
    await handler({ prompt: "upload a blob" }, { history: [] }, stream, notCancelled);
    assert.match(stream.text("markdown").join(""), /must look like host:port/);
  });
});
