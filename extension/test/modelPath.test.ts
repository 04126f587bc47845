/**
 * The participant's answer from the user's own model (`request.model`, scripted), its fallback to
 * the server's answer, the `#azsdk` tool, the MCP server definition, the chat panel's host side
 * and the editor's hint, with a fake `vscode` module and a scripted JSON-RPC server on loopback.
 */

import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { CancellationTokenSource } from "vscode-jsonrpc/node";
import {
  CancellationError,
  FakeModel,
  FakeStream,
  LanguageModelError,
  Uri,
  installFakeVscode,
  type Handler,
} from "./support/fakeVscode";
import { frameServer, listen, type Json } from "./support/frameServer";

const vscode = installFakeVscode();
const extension = require("../src/extension") as typeof import("../src/extension");
const hint = require("../src/hint") as typeof import("../src/hint");

const PARTICIPANT = "azsdk-rag.azsdk";
const notCancelled = new CancellationTokenSource().token;
const BLOB_URL = "https://github.com/Azure/azure-sdk-for-python/tree/main/sdk/storage/azure-storage-blob";
const IDENTITY_URL = "https://github.com/Azure/azure-sdk-for-python/tree/main/sdk/identity/azure-identity";

/** What the scripted server does; tests change it. */
const script = {
  llm: "ExtractiveChatModel",
  retrieveMissing: false,
};

function routeFor(params: Json): Json {
  const language = params.language as string | undefined;
  const hint = params.hint as { languageId?: string } | undefined;
  if (language) {
    return { languages: [language], query: params.question, signal: "forced", reason: "forced" };
  }
  if (hint?.languageId === "python") {
    return { languages: ["python"], query: params.question, signal: "hint", reason: "editor: python" };
  }
  return { languages: [], query: params.question, signal: "none", reason: "no language named" };
}

const sources = [BLOB_URL, BLOB_URL, IDENTITY_URL].map((url) => ({
  language: "python",
  package: url.split("/").pop(),
  title: "README",
  url,
  score: 1,
  section: "",
}));

describe("answers from the user's model, the tool, the MCP server and the panel", () => {
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
    } else if (method === "status") {
      send({ id, result: { llm: script.llm } });
    } else if (method === "retrieve") {
      if (script.retrieveMissing) {
        send({ id, error: { code: -32601, message: "Method not found: retrieve" } });
        return;
      }
      send({
        id,
        result: {
          route: routeFor(params),
          sources,
          context: "[1] azure-storage-blob | Upload a blob\nblob_client.upload_blob(data)",
          messages: [
            { role: "system", content: "Answer from the README excerpts only." },
            { role: "user", content: "earlier question" },
            { role: "assistant", content: "earlier answer" },
            { role: "user", content: `Excerpts...\n\nQuestion: ${String(params.question)}` },
          ],
        },
      });
    } else if (method === "ask") {
      const route = routeFor(params);
      send({ method: "answer/route", params: { requestId: id, route } });
      send({ method: "answer/sources", params: { requestId: id, sources } });
      send({ method: "answer/delta", params: { requestId: id, text: "Server says: " } });
      if (params.question === "slow") {
        return; // answered with -32800 when the cancel arrives
      }
      send({ method: "answer/delta", params: { requestId: id, text: "use `upload_blob`." } });
      send({ id, result: { text: "Server says: use `upload_blob`.", route, sources } });
    } else if (method === "$/cancelRequest") {
      send({ id: params.id, error: { code: -32800, message: "Request cancelled." } });
    } else if (method === "shutdown" || method === "session/reset") {
      send({ id, result: null });
    }
  });
  let handler: Handler;
  const sent = (method: string): Json[] =>
    seen.filter((m) => m.method === method).map((m) => m.params as Json);
  const ask = (prompt: string, model?: FakeModel, token = notCancelled) => {
    const stream = new FakeStream();
    return handler({ prompt, model }, { history: [] }, stream, token).then((result) => ({
      stream,
      result,
    }));
  };

  /** A new connection (the server's model is asked once per connection). */
  const reconnect = (): void => vscode.fireConfigurationChange("azsdkRag");

  before(async () => {
    const port = await listen(server);
    vscode.settings.set("azsdkRag.serverAddress", `127.0.0.1:${port}`);
    extension.activate({ subscriptions: [], extensionUri: Uri.file("/ext") } as never);
    handler = vscode.participants.get(PARTICIPANT)!;
  });

  beforeEach(() => {
    seen.length = 0;
    script.llm = "ExtractiveChatModel";
    script.retrieveMissing = false;
    vscode.settings.delete("azsdkRag.answerWith");
    vscode.editor.languageId = "python";
    vscode.workspaceFiles.splice(0, vscode.workspaceFiles.length, "/w/pyproject.toml");
    hint.forgetManifests(); // manifests are cached for 30 s
    reconnect();
  });

  after(async () => {
    await extension.deactivate();
    server.close();
  });

  test("auto, server without a model: retrieve, then the user's model writes the answer", async () => {
    const model = new FakeModel(["Call ", "`upload_blob`", "."]);
    const { stream, result } = await ask("how do I upload a blob?", model);

    assert.equal(sent("ask").length, 0, "the server's model is not asked");
    const retrieve = sent("retrieve").at(-1)!;
    assert.equal(retrieve.question, "how do I upload a blob?");
    assert.equal(retrieve.sessionId, result.metadata?.sessionId);
    assert.deepEqual(retrieve.hint, { languageId: "python", manifests: ["pyproject.toml"] });

    assert.equal(model.requests.length, 1);
    const messages = model.requests[0];
    assert.deepEqual(
      messages.map((m) => m.role),
      ["user", "user", "assistant", "user"],
      "the system text goes first, as a user message",
    );
    assert.equal(messages[0].content, "Answer from the README excerpts only.");
    assert.match(messages[3].content, /Question: how do I upload a blob\?/);

    assert.equal(stream.text("markdown").join(""), "Call `upload_blob`.");
    assert.deepEqual(stream.text("reference"), [BLOB_URL, IDENTITY_URL]);
    assert.ok(
      stream.text("progress").some((p) => p.includes("editor: python")),
      stream.text("progress").join("|"),
    );
    assert.equal(result.metadata?.answeredBy, "copilot");
  });

  test("auto, server with its own model: the server answers", async () => {
    script.llm = "AzureChatOpenAI";
    const model = new FakeModel(["never"]);
    const { stream, result } = await ask("how do I upload a blob?", model);
    assert.equal(model.requests.length, 0);
    assert.equal(sent("retrieve").length, 0);
    assert.equal(sent("ask").length, 1);
    assert.deepEqual(sent("ask")[0].hint, { languageId: "python", manifests: ["pyproject.toml"] });
    assert.equal(stream.text("markdown").join(""), "Server says: use `upload_blob`.");
    assert.equal(result.metadata?.answeredBy, "server");
  });

  test("copilot always uses the user's model; server always the server's", async () => {
    script.llm = "AzureChatOpenAI";
    vscode.settings.set("azsdkRag.answerWith", "copilot");
    const model = new FakeModel(["From the model."]);
    const first = await ask("upload a blob", model);
    assert.equal(first.stream.text("markdown").join(""), "From the model.");
    assert.equal(first.result.metadata?.answeredBy, "copilot");

    vscode.settings.set("azsdkRag.answerWith", "server");
    const second = await ask("upload a blob", model);
    assert.equal(model.requests.length, 1, "server mode never calls the model");
    assert.equal(second.stream.text("markdown").join(""), "Server says: use `upload_blob`.");
    assert.equal(second.result.metadata?.answeredBy, "server");
  });

  test("no request.model (an older VS Code): the server answers", async () => {
    const { stream, result } = await ask("upload a blob");
    assert.equal(sent("retrieve").length, 0);
    assert.equal(stream.text("markdown").join(""), "Server says: use `upload_blob`.");
    assert.equal(result.metadata?.answeredBy, "server");
  });

  for (const [why, error, said] of [
    ["unavailable", LanguageModelError.NotFound(), /The chat model \(Fake GPT\) is unavailable/],
    ["refused", LanguageModelError.NoPermissions(), /refused \(no permission to use it\)/],
    ["blocked", LanguageModelError.Blocked(), /refused the request/],
    ["cancelled", new CancellationError(), /was cancelled/],
  ] as const) {
    test(`a model that is ${why} falls back to the server's answer and says so`, async () => {
      const model = new FakeModel([], error);
      const { stream, result } = await ask("upload a blob", model);
      const markdown = stream.text("markdown");
      assert.match(markdown[0], said);
      assert.match(markdown[0], /this is azsdk-rag's own answer/);
      assert.equal(markdown.slice(1).join(""), "Server says: use `upload_blob`.");
      const [retrieved, asked] = [sent("retrieve").at(-1)!, sent("ask").at(-1)!];
      assert.equal(asked.sessionId, retrieved.sessionId);
      assert.deepEqual(asked.hint, retrieved.hint);
      assert.deepEqual(stream.text("reference"), [BLOB_URL, IDENTITY_URL], "no repeats");
      const routes = stream.text("progress").filter((p) => p.startsWith("Searching"));
      assert.equal(routes.length, 1, "the route is shown once");
      assert.equal(result.metadata?.answeredBy, "server");
    });
  }

  test("a model that stops mid-answer: the server's answer follows a rule", async () => {
    const model = new FakeModel(["Partial "], new Error("connection reset"));
    const { stream } = await ask("upload a blob", model);
    const markdown = stream.text("markdown");
    assert.equal(markdown[0], "Partial ");
    assert.match(markdown[1], /^\n\n---\n\n_The chat model \(Fake GPT\) failed \(connection reset\)/);
    assert.equal(markdown.slice(2).join(""), "Server says: use `upload_blob`.");
  });

  test("the user cancelling during the model's answer stops there: no fallback", async () => {
    const source = new CancellationTokenSource();
    const model = new FakeModel(["One ", "two"], new CancellationError(), "Fake GPT", () =>
      source.cancel(),
    );
    const { stream, result } = await ask("upload a blob", model, source.token);
    assert.equal(sent("ask").length, 0);
    assert.equal(stream.text("markdown").join(""), "One ");
    assert.equal(result.metadata?.answeredBy, "copilot");
  });

  test("a server without retrieve (older): the server answers", async () => {
    script.retrieveMissing = true;
    const model = new FakeModel(["never"]);
    const { stream, result } = await ask("upload a blob", model);
    assert.equal(model.requests.length, 0);
    assert.equal(stream.text("markdown").join(""), "Server says: use `upload_blob`.");
    assert.equal(result.metadata?.answeredBy, "server");
  });

  test("the hint: only known editor languages, manifests by base name, nothing when empty", async () => {
    vscode.editor.languageId = "markdown";
    vscode.workspaceFiles.splice(0, vscode.workspaceFiles.length, "/w/a/Cargo.toml", "/w/b/Cargo.toml", "/w/App.csproj");
    await ask("upload a blob", new FakeModel(["ok"]));
    assert.deepEqual(sent("retrieve").at(-1)!.hint, { manifests: ["App.csproj", "Cargo.toml"] });
  });

  test("no editor and no manifests: no hint is sent", async () => {
    vscode.editor.languageId = undefined;
    vscode.workspaceFiles.splice(0);
    await ask("upload a blob", new FakeModel(["ok"]));
    assert.equal("hint" in sent("retrieve").at(-1)!, false);
  });

  test("#azsdk: the tool retrieves with the hint and returns excerpts and sources", async () => {
    const tool = vscode.tools.get("azsdk_searchDocs");
    assert.ok(tool, "activate registers azsdk_searchDocs");
    const prepared = tool.prepareInvocation({ input: { query: "upload a blob", language: "python" } });
    assert.equal(prepared.invocationMessage, 'Searching the Azure SDK READMEs (python) for "upload a blob"');

    const result = await tool.invoke({ input: { query: "upload a blob", language: "python" } }, notCancelled);
    const retrieve = sent("retrieve").at(-1)!;
    assert.equal(retrieve.question, "upload a blob");
    assert.equal(retrieve.language, "python");
    assert.deepEqual(retrieve.hint, { languageId: "python", manifests: ["pyproject.toml"] });
    const text = result.content.map((part) => part.value).join("");
    assert.match(text, /^Searched the Azure SDK READMEs for python \(forced\)\./);
    assert.match(text, /blob_client\.upload_blob\(data\)/);
    assert.equal(text.split(BLOB_URL).length - 1, 1, "each source once");
    assert.match(text, new RegExp(`- azure-identity \\(python\\): ${IDENTITY_URL}`));
  });

  test("#azsdk: a language outside the five is left to the router; an empty query is refused", async () => {
    const tool = vscode.tools.get("azsdk_searchDocs")!;
    await tool.invoke({ input: { query: "upload a blob", language: "cobol" } }, notCancelled);
    assert.equal("language" in sent("retrieve").at(-1)!, false);
    const empty = await tool.invoke({ input: { query: "  " } }, notCancelled);
    assert.match(empty.content[0].value, /needs a non-empty `query`/);
  });

  test("the MCP provider offers `azsdk-rag mcp` from azsdkRag.pythonCommand", () => {
    const provider = vscode.mcpProviders.get("azsdk-rag.mcp");
    assert.ok(provider, "activate registers the MCP server definition provider");
    vscode.settings.delete("azsdkRag.pythonCommand");
    let [definition] = provider.provideMcpServerDefinitions();
    assert.equal(definition.label, "Azure SDK RAG");
    assert.deepEqual([definition.command, ...definition.args], ["azsdk-rag", "mcp"]);
    vscode.settings.set("azsdkRag.pythonCommand", "/venv/bin/python3");
    [definition] = provider.provideMcpServerDefinitions();
    assert.deepEqual(
      [definition.command, ...definition.args],
      ["/venv/bin/python3", "-m", "azsdk_rag", "mcp"],
    );
    vscode.settings.delete("azsdkRag.pythonCommand");
  });

  test("Open Chat: a webview with a nonce CSP and local resources only", () => {
    vscode.commands.get("azsdkRag.openChat")!();
    const panel = vscode.panels.at(-1)!;
    assert.equal(panel.title, "Azure SDK Chat");
    assert.equal(panel.options.enableScripts, true);
    const roots = (panel.options.localResourceRoots as unknown[]).map(String);
    assert.deepEqual(roots, ["file:///ext/media", "file:///ext/node_modules/markdown-it/dist"]);
    const html = panel.webview.html;
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? "";
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1] ?? "";
    assert.ok(nonce.length >= 16, csp);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https:/);
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    assert.equal(scripts.length, 2);
    for (const attributes of scripts) {
      assert.ok(attributes.includes(`nonce="${nonce}"`), attributes);
      assert.match(attributes, /src="file:\/\/\/ext\//);
    }
    assert.doesNotMatch(html, /<script[^>]*>[^<]+<\/script>/, "no inline script");
  });

  test("the panel streams the server's answer with the hint and its own session; stop and /reset", async () => {
    const panel = vscode.panels.at(-1)!;
    panel.posted.length = 0;
    panel.fromPage({ type: "ask", question: "upload a blob", language: "python" });
    await waitFor(() => panel.posted.some((m) => m.type === "done"));
    assert.deepEqual(
      panel.posted.map((m) => m.type),
      ["answer", "route", "sources", "delta", "delta", "done"],
    );
    const asked = sent("ask").at(-1)!;
    assert.equal(asked.language, "python");
    assert.deepEqual(asked.hint, { languageId: "python", manifests: ["pyproject.toml"] });
    const sessionId = asked.sessionId;

    panel.posted.length = 0;
    panel.fromPage({ type: "ask", question: "slow", language: "" });
    await waitFor(() => panel.posted.some((m) => m.type === "delta"));
    assert.equal("language" in sent("ask").at(-1)!, false, "Auto leaves it to the router");
    assert.equal(sent("ask").at(-1)!.sessionId, sessionId, "one session per panel");
    panel.fromPage({ type: "stop" });
    await waitFor(() => panel.posted.some((m) => m.type === "stopped"));
    assert.ok(sent("$/cancelRequest").length > 0);

    panel.posted.length = 0;
    panel.fromPage({ type: "reset" });
    await waitFor(() => panel.posted.some((m) => m.type === "reset"));
    assert.deepEqual(sent("session/reset").at(-1), { sessionId });
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(condition(), "condition not reached");
}
