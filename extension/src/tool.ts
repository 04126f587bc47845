/**
 * `azsdk_searchDocs` (`#azsdk`): a language-model tool for agent mode over the same retrieval as
 * the participant. It returns the README excerpts and their sources; the agent's model answers.
 */

import * as vscode from "vscode";
import type { Retrieval } from "./client";
import { getClient, messageOf, noteFailure, startErrorMarkdown } from "./connection";
import { editorHint } from "./hint";

export const TOOL_NAME = "azsdk_searchDocs";

const LANGUAGES = ["dotnet", "java", "javascript", "python", "rust"] as const;

export interface SearchDocsInput {
  /** What to look up, in the user's words ("upload a blob with a SAS token"). */
  query: string;
  /** One of dotnet, java, javascript, python, rust; omitted: the server's router decides. */
  language?: string;
}

/** The tool's answer as text: why these languages, the excerpts, then the sources. */
export function formatRetrieval(retrieval: Retrieval): string {
  const where =
    retrieval.route.languages.length > 0 ? retrieval.route.languages.join(", ") : "all languages";
  const lines = [`Searched the Azure SDK READMEs for ${where} (${retrieval.route.reason}).`, ""];
  if (retrieval.context.trim()) {
    lines.push(retrieval.context.trim(), "");
  } else {
    lines.push("No README excerpt matched the query.", "");
  }
  if (retrieval.sources.length > 0) {
    lines.push("Sources:");
    const seen = new Set<string>();
    for (const source of retrieval.sources) {
      if (!seen.has(source.url)) {
        seen.add(source.url);
        lines.push(`- ${source.package} (${source.language}): ${source.url}`);
      }
    }
  }
  return lines.join("\n");
}

function validLanguage(language: unknown): string | undefined {
  return typeof language === "string" && (LANGUAGES as readonly string[]).includes(language)
    ? language
    : undefined;
}

export class SearchDocsTool implements vscode.LanguageModelTool<SearchDocsInput> {
  prepareInvocation(
    options: vscode.LanguageModelToolInvocationPrepareOptions<SearchDocsInput>,
  ): vscode.PreparedToolInvocation {
    const query = String(options.input?.query ?? "").trim();
    const language = validLanguage(options.input?.language);
    const where = language ? ` (${language})` : "";
    return {
      invocationMessage: `Searching the Azure SDK READMEs${where} for "${query}"`,
    };
  }

  async invoke(
    options: vscode.LanguageModelToolInvocationOptions<SearchDocsInput>,
    token: vscode.CancellationToken,
  ): Promise<vscode.LanguageModelToolResult> {
    const query = typeof options.input?.query === "string" ? options.input.query.trim() : "";
    if (!query) {
      return textResult("azsdk_searchDocs needs a non-empty `query`.");
    }
    let client;
    try {
      client = await getClient();
    } catch (error) {
      return textResult(startErrorMarkdown(error).replace(/\*\*/g, ""));
    }
    try {
      const retrieval = await client.retrieve(query, {
        language: validLanguage(options.input.language),
        hint: await editorHint(),
        token,
      });
      return textResult(formatRetrieval(retrieval));
    } catch (error) {
      noteFailure(error);
      if (token.isCancellationRequested) {
        throw new vscode.CancellationError();
      }
      return textResult(`The Azure SDK README search failed: ${messageOf(error)}`);
    }
  }
}

function textResult(text: string): vscode.LanguageModelToolResult {
  return new vscode.LanguageModelToolResult([new vscode.LanguageModelTextPart(text)]);
}
