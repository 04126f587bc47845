/**
 * The `@azsdk` chat participant: forwards chat requests to an azsdk-rag server and streams the
 * answer, its sources and its route back into the chat.
 */

import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import {
  AzsdkRagClient,
  ProtocolMismatchError,
  ResponseError,
  RpcErrorCodes,
  ServerClosedError,
  ServerNotFoundError,
  ServerStartTimeoutError,
  ServerUnreachableError,
  type ConnectOptions,
  type Route,
} from "./client";
import { languageForCommand, parseAddress, serverArgv } from "./command";
import { SessionTracker } from "./sessions";

const PARTICIPANT_ID = "azsdk-rag.azsdk";
const CONFIG_SECTION = "azsdkRag";

/** What the handler returns, so a later turn of the same chat can find its session. */
interface AzsdkResultMetadata {
  sessionId: string;
}

let clientPromise: Promise<AzsdkRagClient> | undefined;
/** The sessions each connection holds (a new connection starts with none). */
const sessionsByClient = new WeakMap<AzsdkRagClient, SessionTracker>();
let output: vscode.OutputChannel | undefined;

export function activate(context: vscode.ExtensionContext): void {
  output = vscode.window.createOutputChannel("Azure SDK RAG");
  const participant = vscode.chat.createChatParticipant(PARTICIPANT_ID, handleRequest);
  participant.iconPath = new vscode.ThemeIcon("azure");
  context.subscriptions.push(
    participant,
    output,
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(CONFIG_SECTION)) {
        void disposeClient(); // the next request connects with the new settings
      }
    }),
  );
}

export function deactivate(): Promise<void> {
  return disposeClient();
}

async function handleRequest(
  request: vscode.ChatRequest,
  context: vscode.ChatContext,
  stream: vscode.ChatResponseStream,
  token: vscode.CancellationToken,
): Promise<vscode.ChatResult> {
  const sessionId = sessionFor(context);
  const result: vscode.ChatResult = { metadata: { sessionId } satisfies AzsdkResultMetadata };
  const question = request.prompt.trim();
  if (!question) {
    stream.markdown("Ask a question about the Azure SDKs, for example `/python upload a blob`.");
    return result;
  }

  let client: AzsdkRagClient;
  try {
    if (!clientPromise) {
      stream.progress("Starting azsdk-rag…");
    }
    client = await getClient();
  } catch (error) {
    stream.markdown(startErrorMarkdown(error));
    return result;
  }
  if (token.isCancellationRequested) {
    return result;
  }
  forgetOldSessions(client, sessionId);

  const seen = new Set<string>();
  let streamed = false;
  try {
    const answer = await client.ask(question, {
      sessionId,
      language: languageForCommand(request.command),
      token,
      onRoute: (route) => stream.progress(routeProgress(route)),
      onSources: (sources) => {
        for (const source of sources) {
          if (source.url && !seen.has(source.url)) {
            seen.add(source.url);
            stream.reference(vscode.Uri.parse(source.url));
          }
        }
      },
      onDelta: (text) => {
        streamed = true;
        stream.markdown(text);
      },
    });
    if (!streamed && answer.text) {
      stream.markdown(answer.text);
    }
  } catch (error) {
    if (isCancelled(error) || token.isCancellationRequested) {
      return result;
    }
    if (error instanceof ServerClosedError) {
      void disposeClient(); // the next request starts a fresh server
    }
    stream.markdown(askErrorMarkdown(error));
  }
  return result;
}

/**
 * One server session per chat: reuse the id this participant returned in an earlier turn of the
 * same chat (VS Code keeps each turn's result in `context.history`), or start a new one.
 */
function sessionFor(context: vscode.ChatContext): string {
  for (let i = context.history.length - 1; i >= 0; i--) {
    const turn = context.history[i];
    if (turn instanceof vscode.ChatResponseTurn && turn.participant === PARTICIPANT_ID) {
      const id = (turn.result.metadata as Partial<AzsdkResultMetadata> | undefined)?.sessionId;
      if (typeof id === "string" && id) {
        return id;
      }
    }
  }
  return randomUUID();
}

/** Keep this connection under the server's per-connection session cap by resetting old chats. */
function forgetOldSessions(client: AzsdkRagClient, sessionId: string): void {
  let tracker = sessionsByClient.get(client);
  if (!tracker) {
    tracker = new SessionTracker();
    sessionsByClient.set(client, tracker);
  }
  for (const old of tracker.touch(sessionId)) {
    client.reset(old).catch(() => undefined); // best effort: at worst the server keeps it
  }
}

function routeProgress(route: Route): string {
  const where = route.languages.length > 0 ? route.languages.join(", ") : "all languages";
  return route.reason ? `Searching ${where}: ${route.reason}` : `Searching ${where}…`;
}

function getClient(): Promise<AzsdkRagClient> {
  if (!clientPromise) {
    const promise = AzsdkRagClient.connect(connectOptions());
    clientPromise = promise;
    promise.then(
      (client) => {
        void client.closed.then(() => {
          if (clientPromise === promise) {
            clientPromise = undefined;
          }
        });
      },
      () => {
        if (clientPromise === promise) {
          clientPromise = undefined; // let the next request try again (perhaps after a fix)
        }
      },
    );
  }
  return clientPromise;
}

function connectOptions(): ConnectOptions {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  const address = config.get<string>("serverAddress", "").trim();
  const common: ConnectOptions = {
    token: config.get<string>("token", "") || undefined,
    clientInfo: { name: "vscode-azsdk-rag", version: vscode.version },
    onStderr: (text) => output?.append(text),
  };
  if (address) {
    return { ...common, address: parseAddress(address) };
  }
  return { ...common, command: serverArgv(config.get<string>("pythonCommand", "azsdk-rag")) };
}

async function disposeClient(): Promise<void> {
  const promise = clientPromise;
  clientPromise = undefined;
  if (promise) {
    try {
      await (await promise).dispose();
    } catch {
      // It never started: nothing to dispose.
    }
  }
}

function isCancelled(error: unknown): boolean {
  return error instanceof ResponseError && error.code === RpcErrorCodes.RequestCancelled;
}

function startErrorMarkdown(error: unknown): string {
  if (error instanceof ServerNotFoundError) {
    return (
      `**azsdk-rag was not found** (\`${error.command}\`): install it with ` +
      "`pip install azsdk-rag` or set `azsdkRag.pythonCommand` to the command or the Python " +
      "interpreter that has it."
    );
  }
  if (error instanceof ServerUnreachableError) {
    return (
      `**${error.message}** Start it with \`azsdk-rag serve\`, or clear ` +
      "`azsdkRag.serverAddress` to let the extension start one itself."
    );
  }
  if (error instanceof ServerClosedError || error instanceof ServerStartTimeoutError) {
    return (
      `**The azsdk-rag server could not start.** ${error.message} ` +
      'See the "Azure SDK RAG" output for details.'
    );
  }
  if (error instanceof ResponseError && error.code === RpcErrorCodes.Unauthorized) {
    return (
      "**The azsdk-rag server refused the connection: the token is missing or wrong.** Set " +
      "`azsdkRag.token` to the token the server was started with."
    );
  }
  if (error instanceof ProtocolMismatchError) {
    return `**${error.message}**`;
  }
  return `**azsdk-rag could not start:** ${messageOf(error)}`;
}

function askErrorMarkdown(error: unknown): string {
  return `**azsdk-rag:** ${messageOf(error)}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
