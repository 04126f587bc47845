import assert from "node:assert/strict";
import { test } from "node:test";
import { languageForCommand, parseAddress, serverArgv } from "../src/command";

test("slash commands map to the server's language ids", () => {
  assert.equal(languageForCommand("python"), "python");
  assert.equal(languageForCommand("js"), "javascript");
  assert.equal(languageForCommand("dotnet"), "dotnet");
  assert.equal(languageForCommand("java"), "java");
  assert.equal(languageForCommand("rust"), "rust");
  assert.equal(languageForCommand(undefined), undefined);
  assert.equal(languageForCommand("toString"), undefined);
  assert.equal(languageForCommand("go"), undefined);
});

test("the azsdk-rag command is run with serve --stdio", () => {
  assert.deepEqual(serverArgv("azsdk-rag"), ["azsdk-rag", "serve", "--stdio"]);
  assert.deepEqual(serverArgv("  "), ["azsdk-rag", "serve", "--stdio"]);
  assert.deepEqual(serverArgv(undefined), ["azsdk-rag", "serve", "--stdio"]);
  const spaced = "/opt/my tools/azsdk-rag";
  assert.deepEqual(serverArgv(spaced), [spaced, "serve", "--stdio"]);
});

test("a Python interpreter runs the package as a module", () => {
  const module = ["-m", "azsdk_rag", "serve", "--stdio"];
  assert.deepEqual(serverArgv("/work/.venv/bin/python"), ["/work/.venv/bin/python", ...module]);
  assert.deepEqual(serverArgv("python3.11"), ["python3.11", ...module]);
  const windows = "C:\\venv\\Scripts\\python.exe";
  assert.deepEqual(serverArgv(windows), [windows, ...module]);
  assert.deepEqual(serverArgv("py"), ["py", ...module]);
});

test("server addresses parse as host:port", () => {
  assert.deepEqual(parseAddress("127.0.0.1:65433"), { host: "127.0.0.1", port: 65433 });
  assert.deepEqual(parseAddress(" example.org:1 "), { host: "example.org", port: 1 });
  assert.deepEqual(parseAddress("[::1]:8080"), { host: "::1", port: 8080 });
  assert.deepEqual(parseAddress(":65433"), { host: "127.0.0.1", port: 65433 });
  assert.deepEqual(parseAddress("65433"), { host: "127.0.0.1", port: 65433 });
});

test("bad server addresses are refused with a clear message", () => {
  for (const bad of ["", "localhost", "host:0", "host:65536", "host:port", "a:b:1"]) {
    assert.throws(() => parseAddress(bad), /azsdkRag\.serverAddress must look like host:port/, bad);
  }
});
