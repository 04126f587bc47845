/**
 * The chat panel's page, with no `vscode` import: the extension fills it with webview URIs, the
 * browser test with the URLs of a loopback server, and both get the same Content-Security-Policy.
 */

import { randomBytes } from "node:crypto";

export interface PanelPage {
  /** `webview.cspSource`: the only origin scripts, styles, fonts and images may come from. */
  cspSource: string;
  /** A fresh random value for each page load; only scripts carrying it run. */
  nonce: string;
  scriptUri: string;
  markdownUri: string;
  styleUri: string;
}

/** The language picker's choices: the server's ids and how they are shown. */
export const PANEL_LANGUAGES: ReadonlyArray<readonly [string, string]> = [
  ["", "Auto"],
  ["dotnet", ".NET"],
  ["java", "Java"],
  ["javascript", "JavaScript"],
  ["python", "Python"],
  ["rust", "Rust"],
];

export function makeNonce(): string {
  return randomBytes(18).toString("base64url");
}

/** No remote scripts, styles, fonts or images; no inline script or style; no frames or forms. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
    "connect-src 'none'",
    "frame-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join("; ");
}

function escapeAttribute(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/"/g, "&quot;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

export function panelHtml(page: PanelPage): string {
  const nonce = escapeAttribute(page.nonce);
  const csp = escapeAttribute(contentSecurityPolicy(page.cspSource, page.nonce));
  const options = PANEL_LANGUAGES.map(
    ([id, label]) => `<option value="${escapeAttribute(id)}">${escapeAttribute(label)}</option>`,
  ).join("");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttribute(page.styleUri)}">
<title>Azure SDK Chat</title>
</head>
<body>
<main id="transcript" aria-live="polite">
<p class="welcome">Ask about the Azure SDKs for .NET, Java, JavaScript, Python and Rust.
Answers come from the SDKs' README files. Type <code>/reset</code> to start over.</p>
</main>
<form id="ask" autocomplete="off">
<textarea id="question" rows="2" placeholder="How do I upload a blob? (Enter to send, Shift+Enter for a new line)" aria-label="Question"></textarea>
<div class="controls">
<label for="language">Language</label>
<select id="language" aria-label="Language">${options}</select>
<button id="send" type="submit">Ask</button>
<button id="stop" type="button" disabled>Stop</button>
</div>
</form>
<script nonce="${nonce}" src="${escapeAttribute(page.markdownUri)}"></script>
<script nonce="${nonce}" src="${escapeAttribute(page.scriptUri)}"></script>
</body>
</html>
`;
}
