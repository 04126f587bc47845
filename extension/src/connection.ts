/**
 * The one connection to the azsdk-rag server that the participant, the chat panel and the tool
 * share, with the sessions it holds and the messages shown when it cannot be made.
 */

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
import { parseAddress, serverArgv } from "./command";
import { SessionTracker } from "./sessions";

export const CONFIG_SECTION = "azsdkRag";

let clientPromise: Promise<AzsdkRagClient> | undefined;
/** The sessions each connection holds (a new connection starts with none). */
const sessionsByClient = new WeakMap<AzsdkRagClient, SessionTracker>();
/** Whether each connection's server answers with a language model of its own. */
const serverModels = new WeakMap<AzsdkRagClient, Promise<boolean>>();
let output: vscode.OutputChannel | undefined;

export function setOutput(channel: vscode.OutputChannel | undefined): void {
  output = channel;
}

export function isConnecting(): boolean {
  return clientPromise !== undefined;
}

/** The shared client, connecting (or starting the server) on first use. */
export function getClient(): Promise<AzsdkRagClient> {
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

export async function disposeClient(): Promise<void> {
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

/** Keep this connection under the server's per-connection session cap by resetting old chats. */
export function touchSession(client: AzsdkRagClient, sessionId: string): void {
  let tracker = sessionsByClient.get(client);
  if (!tracker) {
    tracker = new SessionTracker();
    sessionsByClient.set(client, tracker);
  }
  for (const old of tracker.touch(sessionId)) {
    client.reset(old).catch(() => undefined); // best effort: at worst the server keeps it
  }
}

/**
 * Whether the server answers with a language model of its own (Azure OpenAI, ...) rather than
 * the offline extractive answerer; asked once per connection through `status`.
 */
export function serverHasModel(client: AzsdkRagClient): Promise<boolean> {
  let known = serverModels.get(client);
  if (!known) {
    known = client.status().then(
      (status) => {
        const llm = status.llm ?? status.model;
        return typeof llm === "string" && llm !== "" && !/extractive/i.test(llm);
      },
      () => false,
    );
    serverModels.set(client, known);
  }
  return known;
}

export function routeProgress(route: Route): string {
  const where = route.languages.length > 0 ? route.languages.join(", ") : "all languages";
  return route.reason ? `Searching ${where}: ${route.reason}` : `Searching ${where}…`;
}

export function isCancelled(error: unknown): boolean {
  return error instanceof ResponseError && error.code === RpcErrorCodes.RequestCancelled;
}

export function isMethodNotFound(error: unknown): boolean {
  return error instanceof ResponseError && error.code === -32601;
}

/** After a failed request: forget a connection that is gone, so the next one starts afresh. */
export function noteFailure(error: unknown): void {
  if (error instanceof ServerClosedError) {
    void disposeClient();
  }
}

export function startErrorMarkdown(error: unknown): string {
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

export function askErrorMarkdown(error: unknown): string {
  return `**azsdk-rag:** ${messageOf(error)}`;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
