/**
 * Activation: the `@azsdk` chat participant, the `#azsdk` agent tool, the MCP server definition,
 * and the "Azure SDK: Open Chat" panel, all on one shared connection to the server.
 */

import * as vscode from "vscode";
import { CONFIG_SECTION, disposeClient, setOutput } from "./connection";
import { trackEditors } from "./hint";
import { registerMcpProvider } from "./mcp";
import { ChatPanel, OPEN_CHAT_COMMAND } from "./panel";
import { PARTICIPANT_ID, handleRequest } from "./participant";
import { SearchDocsTool, TOOL_NAME } from "./tool";

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("Azure SDK RAG");
  setOutput(output);
  const participant = vscode.chat.createChatParticipant(PARTICIPANT_ID, handleRequest);
  participant.iconPath = new vscode.ThemeIcon("azure");
  const version = String(context.extension?.packageJSON?.version ?? "0.0.0");
  context.subscriptions.push(
    participant,
    output,
    vscode.lm.registerTool(TOOL_NAME, new SearchDocsTool()),
    ...registerMcpProvider(version),
    vscode.commands.registerCommand(OPEN_CHAT_COMMAND, () => {
      ChatPanel.show(context.extensionUri);
    }),
    ...trackEditors(),
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
