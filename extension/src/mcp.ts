/**
 * Offers `azsdk-rag mcp` to VS Code as an MCP server (`mcpServerDefinitionProviders`), so agent
 * mode and any MCP-aware chat can use the README search and resources without configuring it.
 */

import * as vscode from "vscode";
import { mcpArgv } from "./command";
import { CONFIG_SECTION } from "./connection";

export const MCP_PROVIDER_ID = "azsdk-rag.mcp";

export function mcpServerDefinition(version: string): vscode.McpStdioServerDefinition {
  const config = vscode.workspace.getConfiguration(CONFIG_SECTION);
  const [command, ...args] = mcpArgv(config.get<string>("pythonCommand", "azsdk-rag"));
  return new vscode.McpStdioServerDefinition("Azure SDK RAG", command, args, {}, version);
}

/** Register the provider; it offers a new definition when `azsdkRag.pythonCommand` changes. */
export function registerMcpProvider(version: string): vscode.Disposable[] {
  const changed = new vscode.EventEmitter<void>();
  const provider: vscode.McpServerDefinitionProvider<vscode.McpStdioServerDefinition> = {
    onDidChangeMcpServerDefinitions: changed.event,
    provideMcpServerDefinitions: () => [mcpServerDefinition(version)],
  };
  return [
    changed,
    vscode.lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, provider),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${CONFIG_SECTION}.pythonCommand`)) {
        changed.fire();
      }
    }),
  ];
}
