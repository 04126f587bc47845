/**
 * The client against the REAL Python server over stdio.
 *
 * `AZSDK_RAG_SERVER_CMD` is the server's argv as a JSON array, e.g.
 * `["/work/main/.venv/bin/azsdk-rag","serve","--stdio"]`; everything else the server needs
 * (AZSDK_RAG_QDRANT_PATH, ...) is passed through from this process's environment.
 *
 * With tests/support/serve_fake.py (the protocol adapter over a scripted fake RAG) every test is
 * deterministic. Against `azsdk-rag serve --stdio` over a real index, the cancel test needs an
 * answer that is still streaming when the cancel arrives: AZSDK_RAG_TEST_HANG_QUESTION names one.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AzsdkRagClient,
  CancellationTokenSource,
  ResponseError,
  RpcErrorCodes,
  ServerClosedError,
  type Route,
  type Source,
} from "../src/client";

const TEST_TIMEOUT_MS = 60_000;
/** A question the server is still answering when the test cancels it (see the cancel test). */
const HANG_QUESTION = process.env.AZSDK_RAG_TEST_HANG_QUESTION || "please hang";

function serverCommand(): string[] {
  const raw = process.env.AZSDK_RAG_SERVER_CMD;
  if (!raw) {
    throw new Error(
      'Set AZSDK_RAG_SERVER_CMD to the server argv as JSON, e.g. ["azsdk-rag","serve","--stdio"].',
    );
  }
  const argv: unknown = JSON.parse(raw);
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
    throw new Error("AZSDK_RAG_SERVER_CMD must be a non-empty JSON array of strings.");
  }
  return argv as string[];
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

type Event =
  | { kind: "route"; route: Route }
  | { kind: "sources"; sources: Source[] }
  | { kind: "delta"; text: string };

function recorder(): {
  events: Event[];
  handlers: {
    onRoute: (route: Route) => void;
    onSources: (sources: Source[]) => void;
    onDelta: (text: string) => void;
  };
} {
  const events: Event[] = [];
  return {
    events,
    handlers: {
      onRoute: (route) => events.push({ kind: "route", route }),
      onSources: (sources) => events.push({ kind: "sources", sources }),
      onDelta: (text) => events.push({ kind: "delta", text }),
    },
  };
}

async function rejectsWithCode(promise: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ResponseError, `expected a ResponseError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

const suite = { timeout: TEST_TIMEOUT_MS * 4 };

describe("AzsdkRagClient over stdio against the Python server", suite, () => {
  let client: AzsdkRagClient;
  const stderr: string[] = [];

  before(async () => {
    client = await AzsdkRagClient.connect({
      command: serverCommand(),
      env: process.env,
      clientInfo: { name: "azsdk-rag-node-tests", version: "0" },
      startTimeoutMs: TEST_TIMEOUT_MS,
      onStderr: (text) => stderr.push(text),
    });
  });

  after(async () => {
    await client?.dispose();
  });

  test("initialize reports protocol 1, streaming, cancel and the python language", () => {
    const info = client.serverInfo;
    assert.equal(info.protocolVersion, "1");
    assert.equal(typeof info.serverInfo.name, "string");
    assert.equal(info.capabilities.streaming, true);
    assert.equal(info.capabilities.cancel, true);
    assert.ok(info.capabilities.languages.includes("python"), info.capabilities.languages.join());
  });

  test("ask streams route, then sources, then deltas that add up to the answer", async () => {
    const { events, handlers } = recorder();
    const answer = await client.ask("How do I upload a blob?", { language: "python", ...handlers });

    const kinds = events.map((e) => e.kind);
    assert.deepEqual(kinds.slice(0, 2), ["route", "sources"], kinds.join());
    assert.ok(kinds.length > 2, "expected at least one delta");
    assert.ok(kinds.slice(2).every((k) => k === "delta"), kinds.join());

    const deltas = events.flatMap((e) => (e.kind === "delta" ? [e.text] : []));
    assert.ok(answer.text.length > 0);
    assert.equal(answer.text, deltas.join(""));
    assert.deepEqual(answer.route.languages, ["python"]);
    const routed = events[0] as { kind: "route"; route: Route };
    assert.deepEqual(routed.route.languages, ["python"]);
    const sourced = events[1] as { kind: "sources"; sources: Source[] };
    assert.deepEqual(answer.sources, sourced.sources);
  });

  test("retrieve returns the route, sources, context and the messages a model would get", async () => {
    const retrieval = await client.retrieve("How do I upload a blob?", {
      language: "python",
      hint: { languageId: "rust", manifests: ["Cargo.toml"] },
    });
    assert.deepEqual(retrieval.route.languages, ["python"], "a forced language beats the hint");
    assert.ok(Array.isArray(retrieval.sources));
    assert.equal(typeof retrieval.context, "string");
    assert.ok(retrieval.messages.length >= 2, JSON.stringify(retrieval.messages));
    for (const message of retrieval.messages) {
      assert.ok(["system", "user", "assistant"].includes(message.role), message.role);
      assert.equal(typeof message.content, "string");
    }
    assert.equal(retrieval.messages[0].role, "system");
    const last = retrieval.messages.at(-1)!;
    assert.equal(last.role, "user");
    assert.match(last.content, /upload a blob/);
  });

  test("a bad hint is refused with -32602", async () => {
    const asked = client.sendRequest("retrieve", { question: "upload a blob", hint: "python" });
    await rejectsWithCode(asked, RpcErrorCodes.InvalidParams);
  });

  test("concurrent asks each see only their own notifications", async () => {
    const first = recorder();
    const second = recorder();
    const [a, b] = await Promise.all([
      client.ask("How do I upload a blob?", { language: "python", ...first.handlers }),
      client.ask("How do I send a message to a queue?", { language: "java", ...second.handlers }),
    ]);
    for (const [answer, { events }, language] of [
      [a, first, "python"],
      [b, second, "java"],
    ] as const) {
      const routes = events.flatMap((e) => (e.kind === "route" ? [e.route] : []));
      assert.equal(routes.length, 1);
      assert.deepEqual(routes[0].languages, [language]);
      const deltas = events.flatMap((e) => (e.kind === "delta" ? [e.text] : []));
      assert.equal(answer.text, deltas.join(""));
    }
  });

  test("cancelling mid-stream rejects the ask with -32800", async () => {
    // The cancel goes out on the first delta; HANG_QUESTION keeps the answer streaming until then
    // (tests/support/serve_fake.py's fake RAG waits after one delta until it is cancelled).
    const source = new CancellationTokenSource();
    const { events, handlers } = recorder();
    const asked = client.ask(HANG_QUESTION, {
      language: "python",
      token: source.token,
      ...handlers,
      onDelta: (text) => {
        handlers.onDelta(text);
        source.cancel();
      },
    });
    await rejectsWithCode(asked, RpcErrorCodes.RequestCancelled);
    // A few more deltas may already be on their way when the cancel arrives.
    const kinds = events.map((e) => e.kind);
    assert.deepEqual(kinds.slice(0, 3), ["route", "sources", "delta"], kinds.join());
    assert.ok(kinds.slice(3).every((k) => k === "delta"), kinds.join());
    // The connection stays usable after a cancel.
    const answer = await client.ask("How do I upload a blob?", { language: "python" });
    assert.ok(answer.text.length > 0);
  });

  test("an ask without a question is refused with -32602", async () => {
    const asked = client.sendRequest("ask", { language: "python" });
    await rejectsWithCode(asked, RpcErrorCodes.InvalidParams);
  });

  test("status answers with an object and session/reset with null", async () => {
    const status = await client.status();
    assert.equal(typeof status, "object");
    assert.notEqual(status, null);
    assert.equal(await client.sendRequest("session/reset", { sessionId: "node-test" }), null);
    await client.reset("node-test");
  });

  test("dispose shuts the server down and leaves no child process", async () => {
    const pid = client.pid;
    assert.equal(typeof pid, "number");
    assert.ok(isRunning(pid!));
    await client.dispose();
    assert.equal(client.isOpen, false);
    assert.equal(isRunning(pid!), false, `server process ${pid} is still running`);
    await assert.rejects(client.ask("anything"), ServerClosedError);
  });
});
