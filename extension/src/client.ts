/**
 * A JSON-RPC client for `azsdk-rag serve`, with no dependency on VS Code.
 *
 * It speaks the server's protocol (LSP base-protocol framing, JSON-RPC 2.0) either to a child
 * process it starts (`azsdk-rag serve --stdio`) or to a running server over TCP, so the extension
 * and the Node tests share exactly the same code path.
 */

import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import {
  CancellationToken,
  ErrorCodes,
  Message,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  createMessageConnection,
  type MessageConnection,
  type RequestMessage,
} from "vscode-jsonrpc/node";

export { CancellationTokenSource, ResponseError } from "vscode-jsonrpc/node";

/** The protocol version this client speaks; `initialize` fails on any other. */
export const PROTOCOL_VERSION = "1";

/** JSON-RPC error codes the server uses that callers may want to tell apart. */
export const RpcErrorCodes = {
  InvalidParams: -32602,
  /** Too many connections or requests in flight. */
  ServerBusy: -32000,
  /** The RAG failed with a message fit for the user (model unavailable, empty index, ...). */
  RagError: -32001,
  /** `initialize` carried no token, or the wrong one. */
  Unauthorized: -32003,
  RequestCancelled: -32800,
} as const;

export interface Route {
  /** Sorted language ids; empty means "no language named: all were searched". */
  languages: string[];
  /** The text that was searched with. */
  query: string;
  /** What decided the route: forced, slash, text, code, history, llm, hint or none. */
  signal: string;
  /** A human-readable sentence saying why. */
  reason: string;
}

export interface Source {
  language: string;
  package: string;
  title: string;
  url: string;
  score: number;
  section: string;
}

export interface Answer {
  text: string;
  route: Route;
  sources: Source[];
}

/** What the editor knows when a question names no language; the server's router decides. */
export interface Hint {
  /** The active editor's language id (VS Code's `languageId`: python, csharp, typescriptreact, ...). */
  languageId?: string;
  /** Manifest file names found in the workspace (pyproject.toml, Cargo.toml, App.csproj, ...). */
  manifests?: string[];
}

/** One chat message, as a model is to be sent it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** `retrieve`'s result: everything an answer is built from, without the model call. */
export interface Retrieval {
  route: Route;
  sources: Source[];
  /** The README excerpts, as one text. */
  context: string;
  /** Exactly the messages the server's own model would be sent (system, history, question). */
  messages: ChatMessage[];
}

/** An earlier turn of a chat, as the client keeps it (`history` on ask and retrieve). */
export interface HistoryMessage {
  role: "user" | "assistant";
  content: string;
}

export interface RetrieveOptions {
  sessionId?: string;
  language?: string;
  hint?: Hint;
  /** The chat so far (oldest first): used instead of the server's session, which records nothing. */
  history?: HistoryMessage[];
  token?: CancellationToken;
}

export interface InitializeResult {
  protocolVersion: string;
  serverInfo: { name: string; version: string };
  capabilities: { streaming: boolean; cancel: boolean; languages: string[] };
}

export interface AskOptions {
  sessionId?: string;
  /** A language id (dotnet, java, javascript, python, rust) that overrides the router. */
  language?: string;
  /** The editor's language and workspace manifests, used only when the question names none. */
  hint?: Hint;
  /** The chat so far (oldest first): used instead of the server's session, which records nothing. */
  history?: HistoryMessage[];
  onRoute?: (route: Route) => void;
  onSources?: (sources: Source[]) => void;
  onDelta?: (text: string) => void;
  /** Cancelling sends `$/cancelRequest`; the ask then rejects with code -32800. */
  token?: CancellationToken;
}

export interface ConnectOptions {
  /** argv of a server speaking the protocol on stdio, e.g. `["azsdk-rag", "serve", "--stdio"]`. */
  command?: readonly string[];
  /** A running server's JSON-RPC port; used when `command` is not given. */
  address?: { host: string; port: number };
  /** Environment of the child process (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Sent in `initialize`; never logged or put in an error. */
  token?: string;
  clientInfo?: { name: string; version: string };
  /** How long the server may take to answer `initialize` (it may load models first). */
  startTimeoutMs?: number;
  /** Receives the child's stderr, for an output channel. */
  onStderr?: (text: string) => void;
}

/** Base of the errors this client raises itself; their messages are fit to show to a user. */
export class AzsdkRagClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The server command could not be run at all (not installed, not on PATH, not executable). */
export class ServerNotFoundError extends AzsdkRagClientError {
  constructor(readonly command: string, readonly code: string) {
    super(`Could not run "${command}" (${code}).`);
  }
}

/** Nothing accepts connections at the configured address. */
export class ServerUnreachableError extends AzsdkRagClientError {
  constructor(readonly host: string, readonly port: number, detail: string) {
    super(`Could not connect to the azsdk-rag server at ${host}:${port} (${detail}).`);
  }
}

/** The server went away: it exited, or the connection closed, before answering. */
export class ServerClosedError extends AzsdkRagClientError {
  constructor(message: string, readonly stderr: string = "") {
    super(message);
  }
}

/** The server did not answer `initialize` in time. */
export class ServerStartTimeoutError extends AzsdkRagClientError {}

/** The server speaks another protocol version. */
export class ProtocolMismatchError extends AzsdkRagClientError {}

interface AskStream {
  /** The JSON-RPC id vscode-jsonrpc gave the request, once it is written. */
  id?: RequestId;
  onRoute?: (route: Route) => void;
  onSources?: (sources: Source[]) => void;
  onDelta?: (text: string) => void;
}

type RequestId = number | string;

/**
 * A writer that reports every request it sends, so `ask` can learn the JSON-RPC id that
 * vscode-jsonrpc assigned (streamed notifications carry it as `requestId`).
 *
 * Write failures are swallowed here: they also fire `onError`, which closes the client and rejects
 * what is pending; letting them reject would surface as an unhandled rejection inside
 * vscode-jsonrpc's `sendRequest`.
 */
class RequestTrackingWriter extends StreamMessageWriter {
  constructor(
    writable: NodeJS.WritableStream,
    private readonly onRequestWritten: (message: RequestMessage) => void,
  ) {
    super(writable, "utf-8");
  }

  override write(message: Message): Promise<void> {
    if (Message.isRequest(message)) {
      this.onRequestWritten(message);
    }
    return super.write(message).catch(() => undefined);
  }
}

const STDERR_TAIL = 4000;
const SHUTDOWN_TIMEOUT_MS = 2000;
const EXIT_TIMEOUT_MS = 3000;

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One connection to an azsdk-rag server, initialized and ready. Create it with
 * {@link AzsdkRagClient.connect}; end it with {@link AzsdkRagClient.dispose}.
 *
 * Correlating streamed notifications with their `ask`: vscode-jsonrpc numbers requests itself and
 * does not return the id, so each `ask` registers its stream handlers under its own params object;
 * {@link RequestTrackingWriter} sees the request message (whose `params` is that same object) as it
 * is written, before any byte reaches the server, and moves the handlers under the assigned id.
 * Notifications are then routed by their `requestId`, so several asks may stream at once.
 */
export class AzsdkRagClient {
  /** Resolves once the connection has closed, for whatever reason. */
  readonly closed: Promise<void>;
  private readonly pendingAsks = new Map<object, AskStream>();
  private readonly streams = new Map<RequestId, AskStream>();
  private connection!: MessageConnection;
  private markClosed!: () => void;
  private isClosed = false;
  private closeReason: ServerClosedError | undefined;
  private exitReason: string | undefined;
  private stderrTail = "";
  private disposing: Promise<void> | undefined;
  private initializeResult: InitializeResult | undefined;

  private constructor(
    private readonly child: ChildProcess | undefined,
    private readonly socket: net.Socket | undefined,
  ) {
    this.closed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
  }

  /** Start (or connect to) a server and run `initialize`. */
  static async connect(options: ConnectOptions): Promise<AzsdkRagClient> {
    let client: AzsdkRagClient;
    if (options.command && options.command.length > 0) {
      const child = await spawnServer(options);
      client = new AzsdkRagClient(child, undefined);
      child.stderr?.on("data", (chunk: Buffer) =>
        client.recordStderr(chunk.toString("utf8"), options),
      );
      child.on("exit", (code, signal) => {
        const how = signal ? `signal ${signal}` : `code ${code}`;
        client.exitReason = `The azsdk-rag server exited (${how}).`;
      });
      // "close" comes after "exit" and after the child's stdout has been read to its end.
      child.on("close", () => client.closeSoon("The azsdk-rag server exited."));
      client.attach(child.stdout!, child.stdin!);
    } else if (options.address) {
      const socket = await connectSocket(options.address.host, options.address.port);
      client = new AzsdkRagClient(undefined, socket);
      socket.on("close", () => client.closeSoon("The connection to the azsdk-rag server closed."));
      socket.on("error", () => undefined); // reported through the reader/writer and "close"
      client.attach(socket, socket);
    } else {
      throw new AzsdkRagClientError("Give either a server command or a server address.");
    }
    try {
      await client.initialize(options);
    } catch (error) {
      await client.dispose();
      throw error;
    }
    return client;
  }

  /** What the server said about itself in `initialize`. */
  get serverInfo(): InitializeResult {
    if (!this.initializeResult) {
      throw new AzsdkRagClientError("The client is not initialized.");
    }
    return this.initializeResult;
  }

  /** The child process id, when this client started the server. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /**
   * Ask a question; `onRoute`, `onSources` and `onDelta` see the answer as it streams, and the
   * promise resolves with the whole answer (its text is the concatenated deltas).
   */
  async ask(question: string, options: AskOptions = {}): Promise<Answer> {
    const params = questionParams(question, options);
    const stream: AskStream = {
      onRoute: options.onRoute,
      onSources: options.onSources,
      onDelta: options.onDelta,
    };
    this.pendingAsks.set(params, stream);
    try {
      return await this.sendRequest<Answer>("ask", params, options.token);
    } finally {
      this.pendingAsks.delete(params);
      if (stream.id !== undefined) {
        this.streams.delete(stream.id);
      }
    }
  }

  /**
   * Route and retrieve as `ask` would, without the model call: the route, the sources, the
   * excerpts and the messages a model is to be sent (for answering with the editor's own model).
   */
  retrieve(question: string, options: RetrieveOptions = {}): Promise<Retrieval> {
    return this.sendRequest<Retrieval>("retrieve", questionParams(question, options), options.token);
  }

  /** Forget a session's history on the server. */
  async reset(sessionId: string): Promise<void> {
    await this.sendRequest<null>("session/reset", { sessionId });
  }

  /** The server's index location, collection, model and counts. */
  status(): Promise<Record<string, unknown>> {
    return this.sendRequest<Record<string, unknown>>("status");
  }

  /**
   * Send any request; used for methods this client does not wrap (and by tests to send what
   * `ask` would refuse to build).
   */
  async sendRequest<R>(method: string, params?: object, token?: CancellationToken): Promise<R> {
    if (this.isClosed) {
      throw this.closedError();
    }
    const args: unknown[] = params === undefined ? [] : [params];
    if (token) {
      args.push(token);
    }
    try {
      return (await this.connection.sendRequest(method, ...args)) as R;
    } catch (error) {
      // Disposing the connection (see close) rejects pending requests with this code.
      if (error instanceof ResponseError && error.code === ErrorCodes.PendingResponseRejected) {
        throw this.closedError();
      }
      throw error;
    }
  }

  /**
   * End the session politely (`shutdown`, then `exit`), then make sure the child is gone:
   * end its stdin, wait for it, and kill it if it lingers. Safe to call more than once.
   */
  dispose(): Promise<void> {
    this.disposing ??= this.doDispose();
    return this.disposing;
  }

  private async doDispose(): Promise<void> {
    if (!this.isClosed && this.initializeResult) {
      try {
        await withTimeout(
          this.connection.sendRequest("shutdown"),
          SHUTDOWN_TIMEOUT_MS,
          () => new Error("shutdown timed out"),
        );
        await this.connection.sendNotification("exit");
      } catch {
        // The server may already be gone; what follows cleans up either way.
      }
    }
    this.close("The azsdk-rag client was disposed.");
    if (this.socket && !this.socket.destroyed) {
      this.socket.end();
      await settlesWithin(once(this.socket, "close"), EXIT_TIMEOUT_MS);
      this.socket.destroy();
    }
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.stdin?.end();
      if (!(await settlesWithin(exited, EXIT_TIMEOUT_MS))) {
        child.kill("SIGTERM");
        if (!(await settlesWithin(exited, EXIT_TIMEOUT_MS))) {
          child.kill("SIGKILL");
          await settlesWithin(exited, EXIT_TIMEOUT_MS);
        }
      }
    }
  }

  private attach(readable: NodeJS.ReadableStream, writable: NodeJS.WritableStream): void {
    const reader = new StreamMessageReader(readable, "utf-8");
    const writer = new RequestTrackingWriter(writable, (message) => this.onRequestWritten(message));
    this.connection = createMessageConnection(reader, writer);
    this.connection.onClose(() => this.closeSoon("The connection to the azsdk-rag server closed."));
    this.connection.onError(() => this.closeSoon("The connection to the azsdk-rag server failed."));
    this.connection.onNotification("answer/route", (p: { requestId: RequestId; route: Route }) =>
      this.streams.get(p.requestId)?.onRoute?.(p.route),
    );
    this.connection.onNotification(
      "answer/sources",
      (p: { requestId: RequestId; sources: Source[] }) =>
        this.streams.get(p.requestId)?.onSources?.(p.sources),
    );
    this.connection.onNotification("answer/delta", (p: { requestId: RequestId; text: string }) =>
      this.streams.get(p.requestId)?.onDelta?.(p.text),
    );
    this.connection.listen();
  }

  private onRequestWritten(message: RequestMessage): void {
    if (message.method !== "ask" || message.id === null || typeof message.params !== "object") {
      return;
    }
    const stream = this.pendingAsks.get(message.params);
    if (stream) {
      this.pendingAsks.delete(message.params);
      stream.id = message.id;
      this.streams.set(message.id, stream);
    }
  }

  private async initialize(options: ConnectOptions): Promise<void> {
    const params: Record<string, unknown> = {
      protocolVersion: PROTOCOL_VERSION,
      clientInfo: options.clientInfo ?? { name: "azsdk-rag-node-client", version: "0.1.0" },
    };
    if (options.token) {
      params.token = options.token;
    }
    const result = await withTimeout(
      Promise.race([
        this.sendRequest<InitializeResult>("initialize", params),
        this.closed.then(() => Promise.reject(this.closedError())),
      ]),
      options.startTimeoutMs ?? 120_000,
      () => new ServerStartTimeoutError("The azsdk-rag server did not answer initialize in time."),
    );
    if (result?.protocolVersion !== PROTOCOL_VERSION) {
      throw new ProtocolMismatchError(
        `The azsdk-rag server speaks protocol ${String(result?.protocolVersion)}, this client ` +
          `speaks ${PROTOCOL_VERSION}: update one of them.`,
      );
    }
    this.initializeResult = result;
  }

  private recordStderr(text: string, options: ConnectOptions): void {
    this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL);
    options.onStderr?.(text);
  }

  /**
   * The transport ended. Settle a moment before rejecting what is pending: vscode-jsonrpc may still
   * be dispatching the last messages read (a server that refuses a token answers, then closes),
   * and a child's exit (with its code and the rest of its stderr) usually follows and says more.
   */
  private closeSoon(reason: string): void {
    const child = this.child;
    const exited =
      child && child.exitCode === null && child.signalCode === null
        ? settlesWithin(once(child, "exit"), 1000)
        : Promise.resolve(true);
    void exited.then(() => delay(20)).then(() => this.close(reason));
  }

  private close(reason: string): void {
    if (this.isClosed) {
      return;
    }
    this.isClosed = true;
    this.closeReason = new ServerClosedError(this.exitReason ?? reason, this.stderrTail);
    // Disposing rejects every pending request; sendRequest turns that into closedError().
    this.connection?.dispose();
    this.pendingAsks.clear();
    this.streams.clear();
    this.markClosed();
  }

  private closedError(): ServerClosedError {
    const reason =
      this.closeReason ?? new ServerClosedError("The azsdk-rag server is not connected.");
    const lastLine = this.stderrTail.trim().split(/\r?\n/).pop() ?? "";
    if (lastLine && reason.message.indexOf(lastLine) < 0) {
      return new ServerClosedError(`${reason.message} It said: ${lastLine}`, this.stderrTail);
    }
    return new ServerClosedError(reason.message, this.stderrTail);
  }
}

interface QuestionParams {
  question: string;
  sessionId?: string;
  language?: string;
  hint?: Hint;
  history?: HistoryMessage[];
}

function questionParams(
  question: string,
  options: { sessionId?: string; language?: string; hint?: Hint; history?: HistoryMessage[] },
): QuestionParams {
  const params: QuestionParams = { question };
  if (options.history !== undefined) {
    params.history = options.history;
  }
  if (options.sessionId !== undefined) {
    params.sessionId = options.sessionId;
  }
  if (options.language !== undefined) {
    params.language = options.language;
  }
  const hint = cleanHint(options.hint);
  if (hint) {
    params.hint = hint;
  }
  return params;
}

/** The hint with its empty parts left out; `undefined` when nothing is left. */
export function cleanHint(hint: Hint | undefined): Hint | undefined {
  if (!hint) {
    return undefined;
  }
  const out: Hint = {};
  if (hint.languageId) {
    out.languageId = hint.languageId;
  }
  if (hint.manifests && hint.manifests.length > 0) {
    out.manifests = [...hint.manifests];
  }
  return out.languageId || out.manifests ? out : undefined;
}

function once(emitter: NodeJS.EventEmitter, event: string): Promise<void> {
  return new Promise((resolve) => emitter.once(event, () => resolve()));
}

/** Whether `promise` settles within `ms` (the timer is cleared as soon as it does). */
function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  return withTimeout(promise, ms, () => new Error("timeout")).then(
    () => true,
    () => false,
  );
}

/** Spawn the server and wait until the OS has started it, so "not found" is an error here. */
function spawnServer(options: ConnectOptions): Promise<ChildProcess> {
  const [command, ...args] = options.command!;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        env: options.env ?? process.env,
        cwd: options.cwd,
        stdio: ["pipe", "pipe", "pipe"],
        windowsHide: true,
      });
    } catch (error) {
      reject(new ServerNotFoundError(command, (error as NodeJS.ErrnoException).code ?? "error"));
      return;
    }
    child.once("spawn", () => resolve(child));
    child.once("error", (error: NodeJS.ErrnoException) => {
      reject(new ServerNotFoundError(command, error.code ?? error.message));
    });
  });
}

function connectSocket(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const onError = (error: NodeJS.ErrnoException): void => {
      socket.destroy();
      reject(new ServerUnreachableError(host, port, error.code ?? error.message));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}
