// @ts-check
// The chat panel's page script. It talks to the extension only through postMessage and renders
// answers with markdown-it with raw HTML off, so README text and answers cannot inject markup;
// the page's Content-Security-Policy would block injected scripts and handlers anyway.
(function () {
  "use strict";

  const vscode = acquireVsCodeApi();
  // eslint-disable-next-line no-undef
  const md = window.markdownit({ html: false, linkify: true, breaks: false });
  const SAFE_URL = /^https?:\/\//i;
  md.validateLink = (url) => SAFE_URL.test(url.trim());

  const transcript = /** @type {HTMLElement} */ (document.getElementById("transcript"));
  const form = /** @type {HTMLFormElement} */ (document.getElementById("ask"));
  const input = /** @type {HTMLTextAreaElement} */ (document.getElementById("question"));
  const language = /** @type {HTMLSelectElement} */ (document.getElementById("language"));
  const send = /** @type {HTMLButtonElement} */ (document.getElementById("send"));
  const stop = /** @type {HTMLButtonElement} */ (document.getElementById("stop"));

  /** @type {Map<string, {root: HTMLElement, body: HTMLElement, status: HTMLElement, text: string, pending: boolean}>} */
  const answers = new Map();
  let current = "";

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function scrollDown() {
    transcript.scrollTop = transcript.scrollHeight;
  }

  function setBusy(busy) {
    stop.disabled = !busy;
    send.disabled = busy;
  }

  function addQuestion(text) {
    const turn = element("section", "turn user");
    turn.appendChild(element("div", "who", "You"));
    turn.appendChild(element("div", "text", text));
    transcript.appendChild(turn);
    scrollDown();
  }

  function answerFor(id) {
    let answer = answers.get(id);
    if (!answer) {
      const root = element("section", "turn assistant");
      root.dataset.id = id;
      root.appendChild(element("div", "who", "Azure SDK"));
      const status = element("div", "status");
      const body = element("div", "markdown");
      root.append(status, body);
      transcript.appendChild(root);
      answer = { root, body, status, text: "", pending: false };
      answers.set(id, answer);
    }
    return answer;
  }

  function addCopyButtons(container) {
    for (const pre of container.querySelectorAll("pre")) {
      const button = element("button", "copy", "Copy");
      button.type = "button";
      button.addEventListener("click", () => {
        vscode.postMessage({ type: "copy", text: pre.textContent || "" });
      });
      pre.appendChild(button);
    }
  }

  function render(answer) {
    answer.pending = false;
    answer.body.innerHTML = md.render(answer.text);
    addCopyButtons(answer.body);
    scrollDown();
  }

  function scheduleRender(answer) {
    if (!answer.pending) {
      answer.pending = true;
      requestAnimationFrame(() => render(answer));
    }
  }

  function showSources(answer, sources) {
    answer.root.querySelector(".sources")?.remove();
    if (!Array.isArray(sources) || sources.length === 0) return;
    const box = element("div", "sources");
    box.appendChild(element("div", "label", "Sources"));
    const list = element("ul");
    const seen = new Set();
    for (const source of sources) {
      const url = typeof source.url === "string" ? source.url : "";
      if (seen.has(url)) continue;
      seen.add(url);
      const item = element("li");
      const label = `${source.package || source.title || url} (${source.language || "?"})`;
      if (SAFE_URL.test(url)) {
        const link = element("a", "", label);
        link.setAttribute("href", url);
        link.title = url;
        item.appendChild(link);
      } else {
        item.appendChild(element("span", "", label));
      }
      list.appendChild(item);
    }
    box.appendChild(list);
    answer.root.appendChild(box);
  }

  function finish(id, note, className) {
    const answer = answers.get(id);
    if (answer) {
      render(answer);
      if (note) {
        answer.root.appendChild(element("div", className, note));
      }
    }
    if (id === current) {
      current = "";
      setBusy(false);
    }
  }

  window.addEventListener("message", (event) => {
    const message = event.data;
    if (!message || typeof message !== "object") return;
    switch (message.type) {
      case "answer":
        current = String(message.id);
        answerFor(current);
        setBusy(true);
        break;
      case "route":
        answerFor(String(message.id)).status.textContent = String(message.text || "");
        break;
      case "sources":
        showSources(answerFor(String(message.id)), message.sources);
        break;
      case "delta": {
        const answer = answerFor(String(message.id));
        answer.text += String(message.text || "");
        scheduleRender(answer);
        break;
      }
      case "done": {
        const answer = answerFor(String(message.id));
        if (!answer.text && typeof message.text === "string") answer.text = message.text;
        finish(String(message.id), "", "");
        break;
      }
      case "stopped":
        finish(String(message.id), "Stopped.", "note");
        break;
      case "error":
        finish(String(message.id), String(message.message || "Something went wrong."), "error");
        break;
      case "reset":
        answers.clear();
        current = "";
        transcript.replaceChildren(element("p", "welcome", "A new conversation. Ask away."));
        setBusy(false);
        break;
    }
  });

  function submit() {
    const question = input.value.trim();
    if (!question || current) return;
    input.value = "";
    if (question === "/reset") {
      vscode.postMessage({ type: "reset" });
      return;
    }
    addQuestion(question);
    vscode.postMessage({ type: "ask", question, language: language.value });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  stop.addEventListener("click", () => {
    if (current) vscode.postMessage({ type: "stop" });
  });
  // Links open outside the panel, through the extension, and only when they are http(s).
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("a") : null;
    if (!target) return;
    event.preventDefault();
    const url = target.getAttribute("href") || "";
    if (SAFE_URL.test(url)) vscode.postMessage({ type: "open", url });
  });

  setBusy(false);
  input.focus();
  vscode.postMessage({ type: "ready" });
})();
