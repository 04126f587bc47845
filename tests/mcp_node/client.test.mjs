// An independent MCP client: @modelcontextprotocol/sdk's Client, over its stdio and its
// streamable-HTTP transports, runs one script against the real `azsdk-rag mcp`.
//
//   AZSDK_RAG_MCP_CMD='["/path/.venv/bin/azsdk-rag","mcp"]' AZSDK_RAG_QDRANT_PATH=... npm test
//
// The index must hold the python READMEs of the sample corpus (azure-storage-blob among them).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const command = JSON.parse(process.env.AZSDK_RAG_MCP_CMD ?? '["azsdk-rag","mcp"]');
const TOOLS = ["ask_azure_sdk", "get_azure_sdk_readme", "list_azure_sdk_packages",
               "search_azure_sdk_docs"];

function text(result) {
  return result.content.filter((c) => c.type === "text").map((c) => c.text).join("");
}

function oneSentence(message) {
  assert.ok(message.length > 0 && !message.includes("\n"), message);
  assert.ok(!message.includes("Traceback"), message);
  assert.match(message, /[.?]$/);
}

async function script(client) {
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
  for (const tool of tools) {
    assert.equal(tool.outputSchema?.type, "object", tool.name);
    assert.ok(tool.description.length > 200, tool.name);
  }

  const search = await client.callTool({
    name: "search_azure_sdk_docs", arguments: { query: "/python upload a file to a blob container", k: 3 } });
  assert.equal(search.isError ?? false, false, text(search));
  assert.deepEqual(search.structuredContent.route.languages, ["python"]);
  assert.equal(search.structuredContent.route.signal, "slash");
  assert.equal(search.structuredContent.results.length, 3);
  assert.equal(search.structuredContent.results[0].package, "azure-storage-blob");
  assert.match(search.structuredContent.results[0].url, /^https:\/\//);
  assert.match(text(search), /azure-storage-blob/);

  const one = await client.callTool({ name: "search_azure_sdk_docs",
    arguments: { query: "authenticate", package: "azure-storage-blob", k: 2 } });
  assert.ok(one.structuredContent.results.every((r) => r.package === "azure-storage-blob"));

  const readme = await client.callTool({ name: "get_azure_sdk_readme",
    arguments: { package: "azure-storage-blob", language: "python" } });
  assert.equal(readme.isError ?? false, false, text(readme));
  assert.match(readme.structuredContent.markdown, /pip install azure-storage-blob/);
  assert.match(readme.structuredContent.url, /azure-storage-blob/);

  const listed = await client.callTool({ name: "list_azure_sdk_packages",
    arguments: { language: "python", query: "blob" } });
  assert.ok(listed.structuredContent.packages.some((p) => p.package === "azure-storage-blob"));
  assert.equal(listed.structuredContent.count, listed.structuredContent.packages.length);

  const asked = await client.callTool({ name: "ask_azure_sdk",
    arguments: { question: "/python upload a file to a blob container", session: "node" } });
  assert.equal(asked.isError ?? false, false, text(asked));
  assert.equal(asked.structuredContent.extractive, true);
  assert.match(asked.structuredContent.answer, /azure-storage-blob/);
  assert.equal(asked.structuredContent.session, "node");

  const { resources } = await client.listResources();
  const uri = "azsdk://python/azure-storage-blob/readme";
  assert.ok(resources.some((r) => r.uri === uri), "the README resource is listed");
  const read = await client.readResource({ uri });
  assert.match(read.contents[0].text, /azure-storage-blob/);
  assert.equal(read.contents[0].mimeType, "text/markdown");
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.equal(resourceTemplates[0].uriTemplate, "azsdk://{language}/{package}/readme");

  for (const [name, args, pattern] of [
    ["search_azure_sdk_docs", { query: "blob", language: "cobol" }, /known ones are dotnet, java/],
    ["search_azure_sdk_docs", { query: "   " }, /'query' is empty/],
    ["search_azure_sdk_docs", { query: "x".repeat(100_000) }, /at most 16,000/],
    ["search_azure_sdk_docs", { query: "blob", k: 0 }, /from 1 to 20/],
    ["get_azure_sdk_readme", { package: "azure-storage-blop", language: "python" }, /azure-storage-blob/],
  ]) {
    const bad = await client.callTool({ name, arguments: args });
    assert.equal(bad.isError, true, name);
    oneSentence(text(bad));
    assert.match(text(bad), pattern);
  }
  await assert.rejects(client.readResource({ uri: "azsdk://python/no-such-package/readme" }),
                       /Unknown package/);
  // still serving after all of that
  const again = await client.callTool({ name: "list_azure_sdk_packages", arguments: {} });
  assert.ok(again.structuredContent.count >= 1);
}

test("stdio: the SDK's Client runs the script against azsdk-rag mcp", async () => {
  const transport = new StdioClientTransport({
    command: command[0], args: command.slice(1), env: { ...process.env }, stderr: "inherit" });
  const client = new Client({ name: "node-mcp-test", version: "1.0.0" });
  await client.connect(transport);
  try {
    await script(client);
  } finally {
    await client.close();
  }
});

test("streamable HTTP: the SDK's Client runs the script against azsdk-rag mcp --http", async () => {
  const child = spawn(command[0], [...command.slice(1), "--http", "--port", "0"],
                      { stdio: ["ignore", "inherit", "pipe"], env: { ...process.env } });
  try {
    const url = await new Promise((resolve, reject) => {
      let seen = "";
      child.stderr.on("data", (data) => {
        seen += data;
        const found = seen.match(/streamable HTTP at (http:\/\/\S+)/);
        if (found) resolve(found[1]);
      });
      child.on("exit", (code) => reject(new Error(`azsdk-rag mcp --http exited (${code}): ${seen}`)));
    });
    const client = new Client({ name: "node-mcp-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    try {
      await script(client);
    } finally {
      await client.close();
    }
  } finally {
    child.kill("SIGTERM");
  }
});
