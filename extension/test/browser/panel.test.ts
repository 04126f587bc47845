/**
 * The chat panel's page in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core; nothing downloads a browser). A loopback HTTP server serves the page exactly as
 * the extension builds it (panelHtml, the same CSP), a stub `acquireVsCodeApi` records what the
 * page posts, and the test posts what the extension would: route, sources, deltas, done.
 *
 * `AZSDK_RAG_CHROMIUM` overrides the browser path (default /usr/bin/chromium);
 * `AZSDK_RAG_SCREENSHOT` where the screenshot goes (default ../build/panel.png).
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { makeNonce, panelHtml } from "../../src/panelHtml";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const CHROMIUM = process.env.AZSDK_RAG_CHROMIUM || "/usr/bin/chromium";
const SCREENSHOT = process.env.AZSDK_RAG_SCREENSHOT || path.resolve(ROOT, "..", "build", "panel.png");
const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const FILES: Record<string, [string, string]> = {
  "/media/panel.js": [path.join(ROOT, "media", "panel.js"), "text/javascript"],
  "/media/panel.css": [path.join(ROOT, "media", "panel.css"), "text/css"],
  "/vendor/markdown-it.js": [
    path.join(ROOT, "node_modules", "markdown-it", "dist", "browser", "markdown-it.umd.min.js"),
    "text/javascript",
  ],
};

/** Everything the page asked for, so the test can show nothing came from elsewhere. */
const requested: string[] = [];

function startServer(): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const url = request.url ?? "/";
    requested.push(url);
    const origin = `http://${request.headers.host}`;
    if (url === "/panel.html") {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      response.end(
        panelHtml({
          cspSource: origin,
          nonce: makeNonce(),
          scriptUri: `${origin}/media/panel.js`,
          styleUri: `${origin}/media/panel.css`,
          markdownUri: `${origin}/vendor/markdown-it.js`,
        }),
      );
      return;
    }
    const file = FILES[url];
    if (file) {
      response.writeHead(200, { "content-type": file[1] });
      response.end(readFileSync(file[0]));
      return;
    }
    response.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Runs in the page before its scripts: what VS Code's webview provides, recorded. */
function stubVsCodeApi(): void {
  const w = globalThis as any;
  w.__posted = [];
  w.__violations = [];
  w.__pwned = [];
  w.acquireVsCodeApi = () => ({
    postMessage: (message: unknown) => w.__posted.push(message),
    getState: () => undefined,
    setState: () => undefined,
  });
  w.document.addEventListener("securitypolicyviolation", (event: any) => {
    w.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
  });
}

/** Post as the extension would (VS Code delivers host messages as window "message" events). */
/** A message from the extension host, handled before this returns: dispatchEvent runs the
 * page's listeners at once, where postMessage would queue a task and race the assertions. */
async function fromHost(page: Page, message: Record<string, unknown>): Promise<void> {
  await page.evaluate((m) => globalThis.dispatchEvent(new MessageEvent("message", { data: m })),
    message);
}

async function posted(page: Page): Promise<Array<Record<string, unknown>>> {
  return page.evaluate(() => (globalThis as any).__posted);
}

const SOURCES = [
  {
    language: "python",
    package: "azure-storage-blob",
    title: "Azure Storage Blobs client library for Python",
    url: "https://github.com/Azure/azure-sdk-for-python/tree/main/sdk/storage/azure-storage-blob",
    score: 0.8,
    section: "Upload a blob",
  },
  {
    language: "python",
    package: "azure-identity",
    title: "Azure Identity client library for Python",
    url: "https://github.com/Azure/azure-sdk-for-python/tree/main/sdk/identity/azure-identity",
    score: 0.5,
    section: "DefaultAzureCredential",
  },
  {
    language: "python",
    package: "evil-package",
    title: "Evil",
    url: "javascript:(globalThis.__pwned.push('source'))",
    score: 0.1,
    section: "",
  },
];

const ANSWER = [
  "Install `azure-storage-blob`, then upload with ",
  "`BlobClient.upload_blob`:\n\n```py",
  "thon\nfrom azure.storage.blob import BlobClient\n\nclient = BlobClient.from_connection_string(conn, ",
  '"container", "blob.txt")\nwith open("blob.txt", "rb") as data:\n    client.upload_blob(data)\n```\n\n',
  "See the [Storage README](https://github.com/Azure/azure-sdk-for-python/tree/main/sdk/storage/azure-storage-blob) for more.",
];

describe("the chat panel page in headless Chromium", { timeout: 120_000 }, () => {
  let server: http.Server;
  let browser: Browser;
  let page: Page;
  let origin: string;

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `No Chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) ` +
        "or set AZSDK_RAG_CHROMIUM.",
    );
    server = await startServer();
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 760, height: 720 } });
    await page.addInitScript(stubVsCodeApi);
    await page.goto(`${origin}/panel.html`);
    // VS Code sets the theme's colours as CSS variables; a dark theme's, through the CSSOM.
    await page.evaluate(() => {
      const style = (globalThis as any).document.documentElement.style;
      const colours: Record<string, string> = {
        "--vscode-editor-background": "#1f1f1f",
        "--vscode-foreground": "#cccccc",
        "--vscode-textLink-foreground": "#4daafc",
        "--vscode-textCodeBlock-background": "#2b2b2b",
        "--vscode-button-background": "#0078d4",
      };
      for (const [name, value] of Object.entries(colours)) style.setProperty(name, value);
    });
  });

  after(async () => {
    await browser?.close();
    server?.close();
  });

  test("the page loads its local script and style only, under a nonce CSP", async () => {
    const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', "content");
    assert.match(csp ?? "", /default-src 'none'; script-src 'nonce-[^']+'/);
    assert.deepEqual((await posted(page)).map((m) => m.type), ["ready"]);
    assert.deepEqual(
      [...new Set(requested)].filter((u) => u !== "/favicon.ico").sort(),
      ["/media/panel.css", "/media/panel.js", "/panel.html", "/vendor/markdown-it.js"],
    );
    const background = await page.evaluate(
      () => (globalThis as any).getComputedStyle((globalThis as any).document.body).backgroundColor,
    );
    assert.equal(background, "rgb(31, 31, 31)", "the theme's colours apply");
    const options = await page.$$eval("#language option", (nodes) =>
      nodes.map((n) => (n as any).value as string),
    );
    assert.deepEqual(options, ["", "dotnet", "java", "javascript", "python", "rust"]);
  });

  test("a question goes to the extension with the picked language", async () => {
    await page.selectOption("#language", "python");
    await page.fill("#question", "How do I upload a blob?");
    await page.press("#question", "Enter");
    const messages = await posted(page);
    assert.deepEqual(messages.at(-1), {
      type: "ask",
      question: "How do I upload a blob?",
      language: "python",
    });
    assert.equal(await page.textContent(".turn.user .text"), "How do I upload a blob?");
  });

  test("the answer streams in: markdown with a code block, sources as links, stop while streaming", async () => {
    await fromHost(page, { type: "answer", id: "a1" });
    assert.equal(await page.isEnabled("#stop"), true, "stop is enabled while an answer streams");
    assert.equal(await page.isEnabled("#send"), false);
    await fromHost(page, { type: "route", id: "a1", text: "Searching python: forced" });
    await fromHost(page, { type: "sources", id: "a1", sources: SOURCES });
    for (const text of ANSWER.slice(0, 2)) {
      await fromHost(page, { type: "delta", id: "a1", text });
    }
    await page.waitForSelector('.turn.assistant[data-id="a1"] .markdown code');
    for (const text of ANSWER.slice(2)) {
      await fromHost(page, { type: "delta", id: "a1", text });
    }
    await fromHost(page, { type: "done", id: "a1", text: ANSWER.join("") });
    assert.equal(await page.isEnabled("#stop"), false, "stop is disabled once the answer is done");

    const answer = page.locator('.turn.assistant[data-id="a1"]');
    const code = answer.locator("pre code.language-python");
    assert.equal(await code.count(), 1);
    assert.match((await code.textContent()) ?? "", /client\.upload_blob\(data\)/);
    assert.equal(await answer.locator(".markdown p code").first().textContent(), "azure-storage-blob");
    assert.equal(await answer.locator(".status").textContent(), "Searching python: forced");

    const links = await answer.locator(".sources a").evaluateAll((nodes) =>
      nodes.map((n) => [(n as any).textContent, (n as any).getAttribute("href")]),
    );
    assert.deepEqual(links, [
      ["azure-storage-blob (python)", SOURCES[0].url],
      ["azure-identity (python)", SOURCES[1].url],
    ]);
    assert.match((await answer.locator(".sources li").last().textContent()) ?? "", /evil-package/);

    await answer.locator(".sources a").first().click();
    assert.deepEqual((await posted(page)).at(-1), { type: "open", url: SOURCES[0].url });
    await answer.locator("pre .copy").click();
    const copy = (await posted(page)).at(-1)!;
    assert.equal(copy.type, "copy");
    assert.match(String(copy.text), /^from azure\.storage\.blob import BlobClient/);

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(existsSync(SCREENSHOT));
  });

  test("the stop button asks the extension to stop; a stopped answer says so", async () => {
    await page.fill("#question", "something slow");
    await page.click("#send");
    await fromHost(page, { type: "answer", id: "a2" });
    await fromHost(page, { type: "delta", id: "a2", text: "Partial" });
    await page.click("#stop");
    assert.deepEqual((await posted(page)).at(-1), { type: "stop" });
    await fromHost(page, { type: "stopped", id: "a2" });
    assert.equal(await page.textContent('.turn.assistant[data-id="a2"] .note'), "Stopped.");
    assert.equal(await page.isEnabled("#stop"), false);
    assert.equal(await page.isEnabled("#send"), true);
  });

  test("an injected <script>, onerror handler and javascript: link in an answer do nothing", async () => {
    const evil = [
      "Look: <script>globalThis.__pwned.push('script')</script>\n\n",
      '<img src="x" onerror="globalThis.__pwned.push(\'onerror\')">\n\n',
      "[click me](javascript:globalThis.__pwned.push('link')) and ",
      "<a href=\"javascript:globalThis.__pwned.push('html-link')\">raw</a> and ",
      "![img](javascript:globalThis.__pwned.push('img'))\n\n",
      "<iframe src=\"https://example.com\"></iframe>",
    ];
    await fromHost(page, { type: "answer", id: "a3" });
    for (const text of evil) {
      await fromHost(page, { type: "delta", id: "a3", text });
    }
    await fromHost(page, { type: "done", id: "a3" });
    const answer = page.locator('.turn.assistant[data-id="a3"] .markdown');
    assert.equal(await answer.locator("script, img, iframe").count(), 0, "no element was injected");
    assert.match((await answer.textContent()) ?? "", /<script>globalThis/, "shown as text");
    const hrefs = await page.$$eval("a", (nodes) => nodes.map((n) => (n as any).getAttribute("href")));
    assert.ok(hrefs.every((h) => /^https:\/\//.test(h)), hrefs.join(" "));
    await answer.getByText("click me").click();
    await answer.getByText("raw", { exact: false }).first().click();
    assert.deepEqual(await page.evaluate(() => (globalThis as any).__pwned), []);
    assert.equal((await posted(page)).filter((m) => m.type === "open" && /^javascript:/.test(String(m.url))).length, 0);
  });

  test("the CSP is in force: inline scripts, inline handlers and remote resources are blocked", async () => {
    const port = (server.address() as AddressInfo).port;
    await page.evaluate((remote) => {
      const w = globalThis as any;
      const d = w.document;
      const script = d.createElement("script");
      script.textContent = "globalThis.__pwned.push('inline script')";
      d.body.appendChild(script);
      const holder = d.createElement("div");
      holder.innerHTML = `<img src="/missing.png" onerror="globalThis.__pwned.push('inline handler')">`;
      d.body.appendChild(holder);
      const remoteScript = d.createElement("script");
      remoteScript.src = `${remote}/media/panel.js?remote`;
      d.body.appendChild(remoteScript);
      const sheet = d.createElement("link");
      sheet.rel = "stylesheet";
      sheet.href = `${remote}/media/panel.css?remote`;
      d.head.appendChild(sheet);
    }, `http://localhost:${port}`);
    await page.waitForFunction(() => (globalThis as any).__violations.length >= 4);
    assert.deepEqual(await page.evaluate(() => (globalThis as any).__pwned), []);
    const violations: string[] = await page.evaluate(() => (globalThis as any).__violations);
    assert.ok(violations.some((v) => v.startsWith("script-src-elem inline")), violations.join("\n"));
    assert.ok(violations.some((v) => v.startsWith("script-src-attr inline")), violations.join("\n"));
    assert.ok(violations.some((v) => v.includes("?remote") && v.startsWith("script-src")), violations.join("\n"));
    assert.ok(violations.some((v) => v.includes("?remote") && v.startsWith("style-src")), violations.join("\n"));
    assert.equal(requested.filter((u) => u.includes("?remote")).length, 0, "nothing was fetched");
  });

  test("/reset asks the extension to reset, which clears the conversation", async () => {
    await page.fill("#question", "/reset");
    await page.press("#question", "Enter");
    assert.deepEqual((await posted(page)).at(-1), { type: "reset" });
    assert.ok((await page.locator(".turn").count()) > 0, "cleared only when the extension says");
    await fromHost(page, { type: "reset" });
    // postMessage is delivered as a task of its own: wait for the page to have handled it
    await page.waitForFunction(() => document.querySelectorAll(".turn").length === 0,
      undefined, { timeout: 5000 });
    assert.equal(await page.locator(".turn").count(), 0);
    assert.match((await page.textContent(".welcome")) ?? "", /new conversation/);
  });
});
