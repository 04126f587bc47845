/**
 * The `@azsdk` chat participant. It answers in one of two ways (`azsdkRag.answerWith`):
 *
 * - with the user's own chat model (`request.model`): the server only routes and retrieves
 *   (`retrieve`), and the model writes the answer from the README excerpts;
 * - with the server's model (`ask`): Azure OpenAI when the server has it, else the offline
 *   extractive answer.
 *
 * `auto` (the default) uses the user's model when the server has none of its own, and falls back
 * to the server's answer when that model is unavailable, refused or cancelled, saying so.
 */

import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import type { AzsdkRagClient, Hint, HistoryMessage, Retrieval, Source } from "./client";
import { languageForCommand } from "./command";
import {
  CONFIG_SECTION,
  askErrorMarkdown,
  getClient,
  isCancelled,
  isConnecting,
  isMethodNotFound,
  noteFailure,
  routeProgress,
  serverHasModel,
  startErrorMarkdown,
  touchSession,
} from "./connection";
import { editorHint } from "./hint";

export const PARTICIPANT_ID = "azsdk-rag.azsdk";

export type AnswerWith = "auto" | "copilot" | "server";

/** Who wrote the answer: the user's chat model, or the server. */
export type AnsweredBy = "copilot" | "server";

/** What the handler returns, so a later turn of the same chat can find its session. */
export interface AzsdkResultMetadata {
  sessionId: string;
  answeredBy?: AnsweredBy;
}

export function answerWithSetting(): AnswerWith {
  const value = vscode.workspace.getConfiguration(CONFIG_SECTION).get<string>("answerWith", "auto");
  return value === "copilot" || value === "server" ? value : "auto";
}

export async function handleRequest(
  request: vscode.ChatRequest,
  context: vscode.ChatContext,
  stream: vscode.ChatResponseStream,
  token: vscode.CancellationToken,
): Promise<vscode.ChatResult> {
  const sessionId = sessionFor(context);
  const metadata: AzsdkResultMetadata = { sessionId };
  const result: vscode.ChatResult = { metadata };
  const question = request.prompt.trim();
  if (!question) {
    stream.markdown("Ask a question about the Azure SDKs, for example `/python upload a blob`.");
    return result;
  }

  let client: AzsdkRagClient;
  try {
    if (!isConnecting()) {
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
  touchSession(client, sessionId);

  const turn: Turn = {
    client,
    question,
    sessionId,
    language: languageForCommand(request.command),
    hint: await editorHint(),
    history: chatHistory(context),
    stream,
    token,
    seen: new Set<string>(),
  };
  const mode = answerWithSetting();
  const useModel =
    request.model !== undefined &&
    (mode === "copilot" || (mode === "auto" && !(await serverHasModel(client))));
  if (useModel) {
    metadata.answeredBy = await answerWithModel(turn, request.model);
  } else {
    metadata.answeredBy = (await answerWithServer(turn)) ? "server" : undefined;
  }
  return result;
}

interface Turn {
  client: AzsdkRagClient;
  question: string;
  sessionId: string;
  language: string | undefined;
  hint: Hint;
  /** The chat's earlier turns: the server answers follow-ups from them, keeping no state. */
  history: HistoryMessage[];
  stream: vscode.ChatResponseStream;
  token: vscode.CancellationToken;
  /** Source URLs already shown as references. */
  seen: Set<string>;
}

function showSources(turn: Turn, sources: readonly Source[]): void {
  for (const source of sources) {
    if (source.url && !turn.seen.has(source.url)) {
      turn.seen.add(source.url);
      turn.stream.reference(vscode.Uri.parse(source.url));
    }
  }
}

/** The server's own answer, streamed; false when there was none (an error or a cancel). */
async function answerWithServer(turn: Turn, routeShown = false): Promise<boolean> {
  const { stream, token } = turn;
  let streamed = false;
  try {
    const answer = await turn.client.ask(turn.question, {
      sessionId: turn.sessionId,
      language: turn.language,
      hint: turn.hint,
      history: turn.history,
      token,
      onRoute: (route) => {
        if (!routeShown) {
          stream.progress(routeProgress(route));
        }
      },
      onSources: (sources) => showSources(turn, sources),
      onDelta: (text) => {
        streamed = true;
        stream.markdown(text);
      },
    });
    if (!streamed && answer.text) {
      stream.markdown(answer.text);
    }
    return true;
  } catch (error) {
    if (isCancelled(error) || token.isCancellationRequested) {
      return false;
    }
    noteFailure(error);
    stream.markdown(askErrorMarkdown(error));
    return false;
  }
}

/**
 * Retrieve on the server, then let `model` write the answer. Falls back to the server's answer
 * when the server cannot retrieve (an older server) or the model fails without the user having
 * cancelled.
 */
async function answerWithModel(
  turn: Turn,
  model: vscode.LanguageModelChat,
): Promise<AnsweredBy | undefined> {
  const { stream, token } = turn;
  let retrieval: Retrieval;
  try {
    retrieval = await turn.client.retrieve(turn.question, {
      sessionId: turn.sessionId,
      language: turn.language,
      hint: turn.hint,
      history: turn.history,
      token,
    });
  } catch (error) {
    if (isCancelled(error) || token.isCancellationRequested) {
      return undefined;
    }
    if (isMethodNotFound(error)) {
      return (await answerWithServer(turn)) ? "server" : undefined;
    }
    noteFailure(error);
    stream.markdown(askErrorMarkdown(error));
    return undefined;
  }
  stream.progress(routeProgress(retrieval.route));
  showSources(turn, retrieval.sources);

  let written = false;
  try {
    const response = await model.sendRequest(modelMessages(retrieval), {}, token);
    for await (const text of response.text) {
      if (token.isCancellationRequested) {
        break;
      }
      if (text) {
        written = true;
        stream.markdown(text);
      }
    }
    if (!written) {
      throw new Error("the model's answer was empty");
    }
    return "copilot";
  } catch (error) {
    if (token.isCancellationRequested) {
      return written ? "copilot" : undefined;
    }
    const separator = written ? "\n\n---\n\n" : "";
    stream.markdown(
      `${separator}_${modelName(model)} ${failureOf(error)}, so this is azsdk-rag's own ` +
        "answer from the same READMEs:_\n\n",
    );
    return (await answerWithServer(turn, true)) ? "server" : undefined;
  }
}

/**
 * The retrieved messages as chat messages. The stable API has user and assistant messages only,
 * so system text goes first, as a user message of its own.
 */
export function modelMessages(retrieval: Retrieval): vscode.LanguageModelChatMessage[] {
  return retrieval.messages
    .filter((message) => message.content)
    .map((message) =>
      message.role === "assistant"
        ? vscode.LanguageModelChatMessage.Assistant(message.content)
        : vscode.LanguageModelChatMessage.User(message.content),
    );
}

function modelName(model: vscode.LanguageModelChat): string {
  return model.name ? `The chat model (${model.name})` : "The chat model";
}

/** Why the model gave no answer, as the end of a sentence: "was unavailable", "refused", ... */
export function failureOf(error: unknown): string {
  const code =
    error instanceof vscode.LanguageModelError ? error.code : (error as { code?: unknown })?.code;
  const name = error instanceof Error ? error.name : "";
  if (error instanceof vscode.CancellationError || name === "Canceled") {
    return "was cancelled";
  }
  if (code === vscode.LanguageModelError.NoPermissions.name || code === "NoPermissions") {
    return "refused (no permission to use it)";
  }
  if (code === vscode.LanguageModelError.Blocked.name || code === "Blocked") {
    return "refused the request";
  }
  if (code === vscode.LanguageModelError.NotFound.name || code === "NotFound") {
    return "is unavailable";
  }
  const message = error instanceof Error ? error.message : String(error);
  return `failed (${message.replace(/[_*`]/g, "").slice(0, 200)})`;
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

/** The most recent messages of a chat that go with a question (older ones cost tokens only). */
export const MAX_HISTORY_MESSAGES = 40;
const MAX_HISTORY_CHARS = 20_000;

/**
 * The chat's earlier turns with this participant as `history` (oldest first): questions with
 * their slash command (so `/java ...` then "and delete it?" stays Java), answers as the markdown
 * that was shown. Sent with each request, so a restarted server, or one server behind many
 * windows, answers follow-ups in context without keeping the chat.
 */
export function chatHistory(context: vscode.ChatContext): HistoryMessage[] {
  const messages: HistoryMessage[] = [];
  for (const turn of context.history) {
    if (turn.participant !== PARTICIPANT_ID) {
      continue;
    }
    if (turn instanceof vscode.ChatRequestTurn) {
      const prompt = turn.command ? `/${turn.command} ${turn.prompt}` : turn.prompt;
      messages.push({ role: "user", content: prompt.slice(0, MAX_HISTORY_CHARS) });
    } else if (turn instanceof vscode.ChatResponseTurn) {
      const text = turn.response.map(markdownOf).join("");
      messages.push({ role: "assistant", content: text.slice(0, MAX_HISTORY_CHARS) });
    }
  }
  return messages.slice(-MAX_HISTORY_MESSAGES);
}

/** The markdown of one response part (`ChatResponseMarkdownPart.value`), else nothing. */
function markdownOf(part: unknown): string {
  const value = (part as { value?: unknown } | undefined)?.value;
  if (typeof value === "string") {
    return value;
  }
  const inner = (value as { value?: unknown } | undefined)?.value;
  return typeof inner === "string" ? inner : "";
}
