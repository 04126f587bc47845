/**
 * Turning the extension's settings into a way to reach the server.
 *
 * Kept apart from extension.ts (and free of any `vscode` import) so the rules can be unit-tested
 * under plain Node.
 */

/** The chat's slash commands, mapped to the server's language ids. */
export const COMMAND_LANGUAGES: Readonly<Record<string, string>> = {
  python: "python",
  java: "java",
  js: "javascript",
  dotnet: "dotnet",
  rust: "rust",
};

/** The server's language id for a slash command; `undefined` lets the server's router decide. */
export function languageForCommand(command: string | undefined): string | undefined {
  if (!command) {
    return undefined;
  }
  return Object.prototype.hasOwnProperty.call(COMMAND_LANGUAGES, command)
    ? COMMAND_LANGUAGES[command]
    : undefined;
}

const PYTHON = /(^|[\\/])(python|pythonw|py)(\d+(\.\d+)*)?(\.exe)?$/i;

/**
 * The argv that starts `azsdk-rag serve --stdio` from the `azsdkRag.pythonCommand` setting.
 *
 * The setting names either the `azsdk-rag` command itself or a Python interpreter (then the package
 * is run as a module), so people with a virtual environment can point at its interpreter.
 */
export function serverArgv(pythonCommand: string | undefined): string[] {
  const command = (pythonCommand ?? "").trim() || "azsdk-rag";
  if (PYTHON.test(command)) {
    return [command, "-m", "azsdk_rag", "serve", "--stdio"];
  }
  return [command, "serve", "--stdio"];
}

/** The argv that starts the MCP server (`azsdk-rag mcp`, on stdio) from the same setting. */
export function mcpArgv(pythonCommand: string | undefined): string[] {
  const command = (pythonCommand ?? "").trim() || "azsdk-rag";
  if (PYTHON.test(command)) {
    return [command, "-m", "azsdk_rag", "mcp"];
  }
  return [command, "mcp"];
}

export interface Address {
  host: string;
  port: number;
}

/**
 * Parse `host:port` (or `[v6]:port`, or a bare `:port` / `port` for loopback) from
 * `azsdkRag.serverAddress`.
 *
 * @throws Error with a message fit to show the user when the text is not an address.
 */
export function parseAddress(text: string): Address {
  const value = text.trim();
  const match = /^(?:\[([^\]]+)\]|([^:\s]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(
      "azsdkRag.serverAddress must look like host:port (for example 127.0.0.1:65433), " +
        `not "${value}".`,
    );
  }
  const host = match[1] || match[2] || "127.0.0.1";
  return { host, port };
}
