/**
 * The editor's hint for the server's router: the active editor's language id and the manifest
 * files in the workspace. The server uses it only when a question names no language.
 */

import * as vscode from "vscode";
import type { Hint } from "./client";

/** The manifest files that say which SDK language a workspace is in (their base names). */
export const MANIFEST_PATTERNS: readonly string[] = [
  "pyproject.toml",
  "requirements.txt",
  "package.json",
  "pom.xml",
  "build.gradle",
  "build.gradle.kts",
  "*.csproj",
  "*.fsproj",
  "*.sln",
  "Cargo.toml",
];

/** The editor language ids the server knows; others are not sent (they would say nothing). */
export const EDITOR_LANGUAGE_IDS: ReadonlySet<string> = new Set([
  "python",
  "java",
  "kotlin",
  "csharp",
  "fsharp",
  "vb",
  "javascript",
  "typescript",
  "javascriptreact",
  "typescriptreact",
  "rust",
]);

const MANIFEST_GLOB = `**/{${MANIFEST_PATTERNS.join(",")}}`;
const EXCLUDE_GLOB = "**/{node_modules,.git,.venv,venv,target,bin,obj,dist,build}/**";
const MAX_MANIFEST_FILES = 50;
const CACHE_MS = 30_000;

let lastLanguageId: string | undefined;
let cached: { at: number; manifests: Promise<string[]> } | undefined;

/** Base names of `paths`, sorted and without repeats. */
export function manifestNames(paths: readonly string[]): string[] {
  const names = paths.map((p) => p.replace(/\\/g, "/").split("/").pop() ?? "").filter(Boolean);
  return [...new Set(names)].sort();
}

/** The manifests of the open workspace (looked up at most every 30 s). */
function workspaceManifests(): Promise<string[]> {
  const now = Date.now();
  if (!cached || now - cached.at > CACHE_MS) {
    const manifests = Promise.resolve(
      vscode.workspace.findFiles(MANIFEST_GLOB, EXCLUDE_GLOB, MAX_MANIFEST_FILES),
    ).then(
      (uris) => manifestNames(uris.map((uri) => uri.path)),
      () => [] as string[],
    );
    cached = { at: now, manifests };
  }
  return cached.manifests;
}

/** Forget the cached manifests (the workspace changed). */
export function forgetManifests(): void {
  cached = undefined;
}

/**
 * Remember the last text editor's language: while the chat panel has the focus, VS Code has no
 * active text editor, yet the file the user was in is still what they are working on.
 */
export function trackEditors(): vscode.Disposable[] {
  lastLanguageId = vscode.window.activeTextEditor?.document.languageId;
  const watcher = vscode.workspace.createFileSystemWatcher(MANIFEST_GLOB, false, true, false);
  return [
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      if (editor) {
        lastLanguageId = editor.document.languageId;
      }
    }),
    watcher,
    watcher.onDidCreate(forgetManifests),
    watcher.onDidDelete(forgetManifests),
  ];
}

/** The hint for a question asked now. */
export async function editorHint(): Promise<Hint> {
  const hint: Hint = {};
  const languageId = vscode.window.activeTextEditor?.document.languageId ?? lastLanguageId;
  if (languageId && EDITOR_LANGUAGE_IDS.has(languageId)) {
    hint.languageId = languageId;
  }
  const manifests = await workspaceManifests();
  if (manifests.length > 0) {
    hint.manifests = manifests;
  }
  return hint;
}
