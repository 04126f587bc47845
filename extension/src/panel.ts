/**
 * "Azure SDK: Open Chat": a webview chat panel that needs no Copilot. It asks the server's own
 * model over the same JSON-RPC client as the participant, one server session per panel.
 */

import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import { CancellationTokenSource, type AzsdkRagClient } from "./client";
import {
  getClient,
  isCancelled,
  messageOf,
  noteFailure,
  routeProgress,
  startErrorMarkdown,
  touchSession,
} from "./connection";
import { editorHint } from "./hint";
import { makeNonce, panelHtml } from "./panelHtml";

export const OPEN_CHAT_COMMAND = "azsdkRag.openChat";

const SERVER_LANGUAGES = new Set(["dotnet", "java", "javascript", "python", "rust"]);

/** Messages the page sends. */
type FromPage =
  | { type: "ready" }
  | { type: "ask"; question: string; language?: string }
  | { type: "stop" }
  | { type: "reset" }
  | { type: "open"; url: string }
  | { type: "copy"; text: string };

export class ChatPanel {
  private static current: ChatPanel | undefined;
  readonly sessionId = randomUUID();
  private asking: CancellationTokenSource | undefined;
  private answerCount = 0;
  private readonly disposables: vscode.Disposable[] = [];

  /** Show the panel, creating it the first time. */
  static show(extensionUri: vscode.Uri): ChatPanel {
    if (ChatPanel.current) {
      ChatPanel.current.panel.reveal();
      return ChatPanel.current;
    }
    const media = vscode.Uri.joinPath(extensionUri, "media");
    const markdownDir = vscode.Uri.joinPath(extensionUri, "node_modules", "markdown-it", "dist");
    const panel = vscode.window.createWebviewPanel(
      "azsdkRag.chat",
      "Azure SDK Chat",
      vscode.ViewColumn.Beside,
      {
        enableScripts: true,
        enableForms: false,
        retainContextWhenHidden: true,
        localResourceRoots: [media, markdownDir],
      },
    );
    ChatPanel.current = new ChatPanel(panel, media, markdownDir);
    return ChatPanel.current;
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    media: vscode.Uri,
    markdownDir: vscode.Uri,
  ) {
    const webview = panel.webview;
    webview.html = panelHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, "panel.js")).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, "panel.css")).toString(),
      markdownUri: webview
        .asWebviewUri(vscode.Uri.joinPath(markdownDir, "browser", "markdown-it.umd.min.js"))
        .toString(),
    });
    this.disposables.push(
      webview.onDidReceiveMessage((message: FromPage) => void this.onMessage(message)),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private post(message: Record<string, unknown>): void {
    void this.panel.webview.postMessage(message);
  }

  private async onMessage(message: FromPage): Promise<void> {
    switch (message?.type) {
      case "ask":
        await this.ask(String(message.question ?? ""), message.language);
        break;
      case "stop":
        this.asking?.cancel();
        break;
      case "reset":
        await this.reset();
        break;
      case "open":
        if (/^https?:\/\//i.test(String(message.url))) {
          await vscode.env.openExternal(vscode.Uri.parse(String(message.url)));
        }
        break;
      case "copy":
        await vscode.env.clipboard.writeText(String(message.text ?? ""));
        break;
    }
  }

  /** Answer one question into the page: route, sources, deltas, then done / stopped / error. */
  async ask(question: string, language: string | undefined): Promise<void> {
    const id = `a${++this.answerCount}`;
    this.post({ type: "answer", id });
    const trimmed = question.trim();
    if (!trimmed || this.asking) {
      this.post({ type: "error", id, message: trimmed ? "Wait for the answer." : "Ask a question." });
      return;
    }
    const source = new CancellationTokenSource();
    this.asking = source;
    try {
      let client: AzsdkRagClient;
      try {
        client = await getClient();
      } catch (error) {
        this.post({ type: "error", id, message: plain(startErrorMarkdown(error)) });
        return;
      }
      touchSession(client, this.sessionId);
      const answer = await client.ask(trimmed, {
        sessionId: this.sessionId,
        language: language && SERVER_LANGUAGES.has(language) ? language : undefined,
        hint: await editorHint(),
        token: source.token,
        onRoute: (route) => this.post({ type: "route", id, text: routeProgress(route) }),
        onSources: (sources) => this.post({ type: "sources", id, sources }),
        onDelta: (text) => this.post({ type: "delta", id, text }),
      });
      this.post({ type: "done", id, text: answer.text });
    } catch (error) {
      if (isCancelled(error) || source.token.isCancellationRequested) {
        this.post({ type: "stopped", id });
      } else {
        noteFailure(error);
        this.post({ type: "error", id, message: messageOf(error) });
      }
    } finally {
      this.asking = undefined;
      source.dispose();
    }
  }

  /** `/reset`: forget this panel's server session and clear the page. */
  async reset(): Promise<void> {
    this.asking?.cancel();
    try {
      const client = await getClient();
      await client.reset(this.sessionId);
    } catch {
      // A server that is gone has forgotten the session anyway.
    }
    this.post({ type: "reset" });
  }

  dispose(): void {
    this.asking?.cancel();
    if (ChatPanel.current === this) {
      ChatPanel.current = undefined;
    }
    for (const disposable of this.disposables.splice(0)) {
      disposable.dispose();
    }
  }
}

function plain(markdown: string): string {
  return markdown.replace(/\*\*|`/g, "");
}
