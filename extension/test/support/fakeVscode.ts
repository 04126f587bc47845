/**
 * Just enough of the `vscode` module to run extension.ts under plain Node: the chat participant
 * registry, configuration, an output channel, Uri and the chat history classes.
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
  toString(): string {
    return this.value;
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
  request: { prompt: string; command?: string },
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

export interface FakeVscode {
  participants: Map<string, Handler>;
  settings: Map<string, string>;
  fireConfigurationChange(section: string): void;
}

export function installFakeVscode(): FakeVscode {
  const participants = new Map<string, Handler>();
  const settings = new Map<string, string>();
  const configListeners: Array<(e: { affectsConfiguration: (s: string) => boolean }) => void> = [];
  const disposable = { dispose: () => undefined };
  const api = {
    version: "1.90.0-fake",
    ThemeIcon,
    Uri,
    ChatRequestTurn,
    ChatResponseTurn,
    chat: {
      createChatParticipant(id: string, handler: Handler) {
        participants.set(id, handler);
        return { ...disposable, iconPath: undefined };
      },
    },
    window: {
      createOutputChannel: () => ({ ...disposable, append: () => undefined }),
    },
    workspace: {
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
    fireConfigurationChange(section: string) {
      for (const listener of configListeners) {
        listener({ affectsConfiguration: (s) => s === section || section.startsWith(`${s}.`) });
      }
    },
  };
}
