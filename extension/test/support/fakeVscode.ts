/**
 * Just enough of the `vscode` module to run extension.ts under plain Node: the chat participant
 * registry, configuration, an output channel, Uri, the chat history classes, the language-model
 * API (chat messages, errors, tools, MCP server definitions), commands, the active editor,
 * workspace manifests and webview panels.
 *
 * `installFakeVscode()` must run before extension.js is first required.
 */

import Module from "node:module";

export class ThemeIcon {
  constructor(readonly id: string) {}
}

export class Uri {
  private constructor(readonly value: string) {}
  static parse(value: string): Uri {
    return new Uri(value);
  }
  static file(path: string): Uri {
    return new Uri(`file://${path}`);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri([base.value.replace(/\/$/, ""), ...parts].join("/"));
  }
  get path(): string {
    return this.value.replace(/^[a-z]+:\/\/[^/]*/, "");
  }
  toString(): string {
    return this.value;
  }
}

export class CancellationError extends Error {
  constructor() {
    super("Canceled");
    this.name = "Canceled";
  }
}

/** Like VS Code's: the static factories' `.name` is the code an error carries. */
export class LanguageModelError extends Error {
  static NoPermissions(message?: string): LanguageModelError {
    return new LanguageModelError(message ?? "no permissions", "NoPermissions");
  }
  static Blocked(message?: string): LanguageModelError {
    return new LanguageModelError(message ?? "blocked", "Blocked");
  }
  static NotFound(message?: string): LanguageModelError {
    return new LanguageModelError(message ?? "not found", "NotFound");
  }
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class LanguageModelChatMessage {
  constructor(
    readonly role: "user" | "assistant",
    readonly content: string,
  ) {}
  static User(content: string): LanguageModelChatMessage {
    return new LanguageModelChatMessage("user", content);
  }
  static Assistant(content: string): LanguageModelChatMessage {
    return new LanguageModelChatMessage("assistant", content);
  }
}

export class LanguageModelTextPart {
  constructor(readonly value: string) {}
}

export class LanguageModelToolResult {
  constructor(readonly content: LanguageModelTextPart[]) {}
}

export class McpStdioServerDefinition {
  constructor(
    readonly label: string,
    readonly command: string,
    readonly args: string[],
    readonly env: Record<string, string>,
    readonly version?: string,
  ) {}
}

export class EventEmitter<T> {
  private readonly listeners: Array<(value: T) => void> = [];
  readonly event = (listener: (value: T) => void) => {
    this.listeners.push(listener);
    return { dispose: () => undefined };
  };
  fire(value: T): void {
    for (const listener of this.listeners) listener(value);
  }
  dispose(): void {
    this.listeners.length = 0;
  }
}

/** A scripted `request.model`: streams `chunks`, or throws `error` after them. */
export class FakeModel {
  readonly requests: LanguageModelChatMessage[][] = [];
  constructor(
    readonly chunks: string[],
    readonly error?: Error,
    readonly name = "Fake GPT",
    readonly onChunk?: (index: number) => void,
  ) {}
  async sendRequest(messages: LanguageModelChatMessage[]) {
    this.requests.push(messages);
    if (this.error && this.chunks.length === 0) {
      throw this.error;
    }
    const { chunks, error, onChunk } = this;
    return {
      text: (async function* () {
        for (let i = 0; i < chunks.length; i++) {
          yield chunks[i];
          onChunk?.(i);
        }
        if (error) throw error;
      })(),
    };
  }
}

export class ChatRequestTurn {
  constructor(
    readonly prompt: string,
    readonly command: string | undefined,
    readonly participant: string,
  ) {}
}

export class ChatResponseTurn {
  constructor(
    readonly response: unknown[],
    readonly result: { metadata?: Record<string, unknown> },
    readonly participant: string,
    readonly command?: string,
  ) {}
}

export type Handler = (
  request: { prompt: string; command?: string; model?: FakeModel },
  context: { history: unknown[] },
  stream: FakeStream,
  token: { isCancellationRequested: boolean; onCancellationRequested: (f: () => void) => unknown },
) => Promise<{ metadata?: Record<string, unknown> }>;

/** Records what the handler streams, in order. */
export class FakeStream {
  readonly parts: Array<{ kind: "markdown" | "progress" | "reference"; value: string }> = [];
  markdown(value: string): void {
    this.parts.push({ kind: "markdown", value });
  }
  progress(value: string): void {
    this.parts.push({ kind: "progress", value });
  }
  reference(value: Uri): void {
    this.parts.push({ kind: "reference", value: value.toString() });
  }
  text(kind: "markdown" | "progress" | "reference"): string[] {
    return this.parts.filter((p) => p.kind === kind).map((p) => p.value);
  }
}

export interface FakeTool {
  prepareInvocation(options: { input: Record<string, unknown> }): { invocationMessage: string };
  invoke(
    options: { input: Record<string, unknown> },
    token: { isCancellationRequested: boolean; onCancellationRequested: (f: () => void) => unknown },
  ): Promise<LanguageModelToolResult>;
}

export interface FakeMcpProvider {
  provideMcpServerDefinitions(): McpStdioServerDefinition[];
  onDidChangeMcpServerDefinitions?: (listener: () => void) => unknown;
}

/** A webview panel that records what the extension posts and lets a test post as the page. */
export class FakePanel {
  readonly posted: Array<Record<string, unknown>> = [];
  private receive: ((message: unknown) => void) | undefined;
  private disposed: (() => void) | undefined;
  readonly webview = {
    html: "",
    cspSource: "vscode-webview://fake",
    asWebviewUri: (uri: Uri) => uri,
    postMessage: async (message: Record<string, unknown>) => {
      this.posted.push(message);
      return true;
    },
    onDidReceiveMessage: (listener: (message: unknown) => void) => {
      this.receive = listener;
      return { dispose: () => undefined };
    },
  };
  constructor(
    readonly viewType: string,
    readonly title: string,
    readonly options: Record<string, unknown>,
  ) {}
  reveal(): void {}
  onDidDispose(listener: () => void) {
    this.disposed = listener;
    return { dispose: () => undefined };
  }
  dispose(): void {
    this.disposed?.();
  }
  /** Send a message as the page would. */
  fromPage(message: Record<string, unknown>): void {
    this.receive?.(message);
  }
}

export interface FakeVscode {
  participants: Map<string, Handler>;
  settings: Map<string, string>;
  tools: Map<string, FakeTool>;
  mcpProviders: Map<string, FakeMcpProvider>;
  commands: Map<string, () => unknown>;
  /** The active editor's language id (undefined: no editor). */
  editor: { languageId: string | undefined };
  /** Paths `workspace.findFiles` returns. */
  workspaceFiles: string[];
  panels: FakePanel[];
  fireConfigurationChange(section: string): void;
}

export function installFakeVscode(): FakeVscode {
  const participants = new Map<string, Handler>();
  const settings = new Map<string, string>();
  const tools = new Map<string, FakeTool>();
  const mcpProviders = new Map<string, FakeMcpProvider>();
  const commands = new Map<string, () => unknown>();
  const editor: { languageId: string | undefined } = { languageId: undefined };
  const workspaceFiles: string[] = [];
  const panels: FakePanel[] = [];
  const configListeners: Array<(e: { affectsConfiguration: (s: string) => boolean }) => void> = [];
  const disposable = { dispose: () => undefined };
  const api = {
    version: "1.90.0-fake",
    ThemeIcon,
    Uri,
    ChatRequestTurn,
    ChatResponseTurn,
    CancellationError,
    LanguageModelError,
    LanguageModelChatMessage,
    LanguageModelTextPart,
    LanguageModelToolResult,
    McpStdioServerDefinition,
    EventEmitter,
    ViewColumn: { Beside: -2 },
    lm: {
      registerTool(name: string, tool: FakeTool) {
        tools.set(name, tool);
        return disposable;
      },
      registerMcpServerDefinitionProvider(id: string, provider: FakeMcpProvider) {
        mcpProviders.set(id, provider);
        return disposable;
      },
    },
    commands: {
      registerCommand(id: string, run: () => unknown) {
        commands.set(id, run);
        return disposable;
      },
    },
    env: {
      openExternal: async () => true,
      clipboard: { writeText: async () => undefined },
    },
    chat: {
      createChatParticipant(id: string, handler: Handler) {
        participants.set(id, handler);
        return { ...disposable, iconPath: undefined };
      },
    },
    window: {
      createOutputChannel: () => ({ ...disposable, append: () => undefined }),
      get activeTextEditor() {
        return editor.languageId === undefined
          ? undefined
          : { document: { languageId: editor.languageId } };
      },
      onDidChangeActiveTextEditor: () => disposable,
      createWebviewPanel(viewType: string, title: string, _column: unknown, options: Record<string, unknown>) {
        const panel = new FakePanel(viewType, title, options);
        panels.push(panel);
        return panel;
      },
    },
    workspace: {
      findFiles: async () => workspaceFiles.map((path) => Uri.file(path)),
      createFileSystemWatcher: () => ({
        ...disposable,
        onDidCreate: () => disposable,
        onDidDelete: () => disposable,
      }),
      getConfiguration(section: string) {
        return {
          get: <T>(key: string, fallback: T): T =>
            (settings.has(`${section}.${key}`) ? settings.get(`${section}.${key}`) : fallback) as T,
        };
      },
      onDidChangeConfiguration(listener: (typeof configListeners)[number]) {
        configListeners.push(listener);
        return disposable;
      },
    },
  };
  const moduleApi = Module as unknown as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
  };
  const resolve = moduleApi._resolveFilename;
  moduleApi._resolveFilename = function (request: string, ...rest: unknown[]): string {
    return request === "vscode" ? "vscode" : resolve.call(this, request, ...rest);
  };
  const fake = new Module("vscode");
  fake.exports = api;
  fake.loaded = true;
  require.cache.vscode = fake;
  return {
    participants,
    settings,
    tools,
    mcpProviders,
    commands,
    editor,
    workspaceFiles,
    panels,
    fireConfigurationChange(section: string) {
      for (const listener of configListeners) {
        listener({ affectsConfiguration: (s) => s === section || section.startsWith(`${s}.`) });
      }
    },
  };
}
