/**
 * The client's TCP path and its start-up errors, against a tiny in-process server that speaks the
 * same framing (the real server over TCP would need a free port handed to `serve`; the stdio tests
 * in client.test.ts cover the real server).
 */

import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { frameServer, listen, type Json } from "./support/frameServer";
import {
  AzsdkRagClient,
  ResponseError,
  RpcErrorCodes,
  ServerClosedError,
  ProtocolMismatchError,
  ServerNotFoundError,
  ServerUnreachableError,
  type Route,
} from "../src/client";

describe("AzsdkRagClient over TCP", () => {
  const seen: Json[] = [];
  const route: Route = {
    languages: ["rust"],
    query: "q",
    signal: "forced",
    reason: "forced by /rust",
  };
  const server = frameServer((message, send) => {
    seen.push(message);
    const id = message.id;
    switch (message.method) {
      case "initialize":
        send({
          id,
          result: {
            protocolVersion: "1",
            serverInfo: { name: "fake", version: "0" },
            capabilities: { streaming: true, cancel: true, languages: ["rust"] },
          },
        });
        break;
      case "ask":
        // A notification for some other request first: the client must not hand it to this ask.
        send({ method: "answer/delta", params: { requestId: 999, text: "not yours" } });
        send({ method: "answer/route", params: { requestId: id, route } });
        send({ method: "answer/sources", params: { requestId: id, sources: [] } });
        send({ method: "answer/delta", params: { requestId: id, text: "use " } });
        send({ method: "answer/delta", params: { requestId: id, text: "azure_core" } });
        send({ id, result: { text: "use azure_core", route, sources: [] } });
        break;
      case "shutdown":
        send({ id, result: null });
        break;
    }
  });
  let port = 0;

  before(async () => {
    port = await listen(server);
  });

  after(() => {
    server.close();
  });

  test("initializes with the token, streams an ask by its request id, and shuts down", async () => {
    const client = await AzsdkRagClient.connect({
      address: { host: "127.0.0.1", port },
      token: "s3cret",
      clientInfo: { name: "t", version: "1" },
    });
    const deltas: string[] = [];
    const routes: Route[] = [];
    const answer = await client.ask("hi", {
      language: "rust",
      sessionId: "s1",
      onRoute: (r) => routes.push(r),
      onDelta: (t) => deltas.push(t),
    });
    await client.dispose();

    assert.deepEqual(deltas, ["use ", "azure_core"]);
    assert.deepEqual(routes, [route]);
    assert.equal(answer.text, "use azure_core");
    const methods = seen.map((m) => m.method);
    assert.deepEqual(methods, ["initialize", "ask", "shutdown", "exit"]);
    assert.deepEqual(seen[0].params, {
      protocolVersion: "1",
      token: "s3cret",
      clientInfo: { name: "t", version: "1" },
    });
    assert.deepEqual(seen[1].params, { question: "hi", sessionId: "s1", language: "rust" });
    assert.equal(client.isOpen, false);
  });
});

/** Run in a child: answers initialize (the client's first request, id 0), then dies. */
function dyingServer(): void {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 0,
    result: {
      protocolVersion: "1",
      serverInfo: { name: "dying", version: "0" },
      capabilities: { streaming: true, cancel: true, languages: [] },
    },
  });
  let seen = 0;
  process.stdin.on("data", () => {
    if (seen++ === 0) {
      process.stdout.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    } else {
      process.stderr.write("out of memory\n");
      process.exit(5);
    }
  });
}

describe("AzsdkRagClient start-up errors", () => {
  test("a refused token is the server's -32003, even though it closes right after", async () => {
    const refusing = frameServer((message, send, end) => {
      const refusal = "Unauthorized: the token is missing or wrong.";
      send({ id: message.id, error: { code: -32003, message: refusal } });
      end();
    });
    const port = await listen(refusing);
    try {
      await assert.rejects(
        AzsdkRagClient.connect({ address: { host: "127.0.0.1", port }, token: "s3cret-token" }),
        (error: unknown) =>
          error instanceof ResponseError &&
          error.code === RpcErrorCodes.Unauthorized &&
          !error.message.includes("s3cret-token"),
      );
    } finally {
      refusing.close();
    }
  });

  test("a server of another protocol version is refused", async () => {
    const old = frameServer((message, send) => {
      if (message.method === "initialize") {
        send({
          id: message.id,
          result: { protocolVersion: "0", serverInfo: {}, capabilities: {} },
        });
      }
    });
    const port = await listen(old);
    try {
      await assert.rejects(
        AzsdkRagClient.connect({ address: { host: "127.0.0.1", port } }),
        ProtocolMismatchError,
      );
    } finally {
      old.close();
    }
  });

  test("a missing command is ServerNotFoundError", async () => {
    await assert.rejects(
      AzsdkRagClient.connect({ command: ["azsdk-rag-does-not-exist-42", "serve", "--stdio"] }),
      (error: unknown) => error instanceof ServerNotFoundError && error.code === "ENOENT",
    );
  });

  test("a server that exits at once is ServerClosedError with its last stderr line", async () => {
    const script = "process.stderr.write('boom: no index here\\n'); process.exit(3)";
    await assert.rejects(
      AzsdkRagClient.connect({ command: [process.execPath, "-e", script] }),
      (error: unknown) =>
        error instanceof ServerClosedError &&
        /code 3/.test(error.message) &&
        /boom: no index here/.test(error.message),
    );
  });

  test("a server that dies mid-answer fails the ask with ServerClosedError, not a hang", async () => {
    const script = `(${dyingServer.toString()})()`;
    const client = await AzsdkRagClient.connect({ command: [process.execPath, "-e", script] });
    await assert.rejects(
      client.ask("anything"),
      (error: unknown) =>
        error instanceof ServerClosedError &&
        /code 5/.test(error.message) &&
        /out of memory/.test(error.message),
    );
    assert.equal(client.isOpen, false);
    await client.dispose();
  });

  test("nothing listening is ServerUnreachableError", async () => {
    const closed = net.createServer();
    const port = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(
      AzsdkRagClient.connect({ address: { host: "127.0.0.1", port } }),
      ServerUnreachableError,
    );
  });
});

/**
 * The real server over TCP, when `AZSDK_RAG_TCP_SERVER_CMD` (JSON argv) names a command that binds
 * ephemeral ports and prints `{"rpc": port, ...}` as its first line on stdout, as
 * `tests/support/serve_fake.py` (without --stdio) does.
 */
describe("AzsdkRagClient over TCP against the Python server", {
  skip: process.env.AZSDK_RAG_TCP_SERVER_CMD ? false : "AZSDK_RAG_TCP_SERVER_CMD is not set",
  timeout: 60_000,
}, () => {
  test("initialize, ask python and dispose", async () => {
    const [command, ...args] = JSON.parse(process.env.AZSDK_RAG_TCP_SERVER_CMD!) as string[];
    const server = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise((resolve) => server.once("exit", resolve));
    try {
      const lines = createInterface({ input: server.stdout! });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once("line", resolve);
        server.once("exit", (code) => reject(new Error(`TCP server exited (code ${code})`)));
      });
      lines.close();
      const port = (JSON.parse(first) as { rpc: number }).rpc;
      const client = await AzsdkRagClient.connect({ address: { host: "127.0.0.1", port } });
      const deltas: string[] = [];
      const answer = await client.ask("How do I upload a blob?", {
        language: "python",
        onDelta: (t) => deltas.push(t),
      });
      await client.dispose();
      assert.equal(answer.text, deltas.join(""));
      assert.ok(answer.text.length > 0);
      assert.deepEqual(answer.route.languages, ["python"]);
      assert.equal(client.isOpen, false);
    } finally {
      server.kill("SIGTERM");
      await exited;
    }
  });
});
