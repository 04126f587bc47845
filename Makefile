# Two commands for a fresh clone (see README):  make run   |   make test
PYTHON ?= python3
VENV   ?= .venv
SHARED ?= ../shared
BIN    := $(VENV)/bin

# Offline copies of the models and tiktoken encodings, when ../shared is beside the clone (CI, dev
# machines). Without it, fastembed and tiktoken download as usual.
ifneq ($(wildcard $(SHARED)/models),)
export AZSDK_RAG_MODEL_DIR ?= $(abspath $(SHARED)/models)
export HF_HUB_OFFLINE ?= 1
endif
ifneq ($(wildcard $(SHARED)/tiktoken),)
export TIKTOKEN_CACHE_DIR ?= $(abspath $(SHARED)/tiktoken)
endif
ifneq ($(wildcard $(SHARED)/corpus),)
export AZSDK_RAG_CORPUS ?= $(abspath $(SHARED)/corpus)
endif

.PHONY: setup run test test-python test-fast test-extension test-mcp-node vsix lint eval bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

## The main job on the embedded defaults: index the READMEs, show the index, answer a question.
run: setup
	$(BIN)/azsdk-rag ingest
	$(BIN)/azsdk-rag status
	$(BIN)/azsdk-rag ask "/python upload a file to a blob container"

## Everything CI runs: lint, the Python suite, the VS Code extension's build and tests, and an
## independent MCP client in Node against `azsdk-rag mcp`.
test: setup lint test-python test-extension test-mcp-node

# The whole suite, with the 15 slowest tests listed (each test is bounded by pytest-timeout).
test-python: setup
	$(BIN)/pytest -q -p no:cacheprovider --durations=15

## The edit loop: the suite without the tests marked slow (under a minute).
test-fast: setup
	$(BIN)/pytest -q -p no:cacheprovider -m "not slow"

# The extension's client tests run twice through vscode-jsonrpc: against our server over a scripted
# RAG (deterministic, incl. TCP), then against the real `azsdk-rag serve --stdio` over a small index.
EXT_INDEX := $(abspath build/extension-index)
EXT_CORPUS := $(SHARED)/corpus/sample/python.jsonl
test-extension: setup
	cd extension && npm ci --no-audit --no-fund && npm run build
	cd extension && \
	  AZSDK_RAG_SERVER_CMD='["$(abspath $(BIN))/python","$(abspath tests/support/serve_fake.py)","--stdio"]' \
	  AZSDK_RAG_TCP_SERVER_CMD='["$(abspath $(BIN))/python","$(abspath tests/support/serve_fake.py)"]' \
	  npm test
	@if [ -f $(EXT_CORPUS) ]; then \
	  rm -rf $(EXT_INDEX) && \
	  $(BIN)/azsdk-rag --qdrant-path $(EXT_INDEX) ingest --corpus $(EXT_CORPUS) && \
	  cd extension && AZSDK_RAG_QDRANT_PATH=$(EXT_INDEX) AZSDK_RAG_LLM=extractive \
	  AZSDK_RAG_SERVER_CMD='["$(abspath $(BIN))/azsdk-rag","serve","--stdio"]' npm test; \
	fi
	cd extension && AZSDK_RAG_SCREENSHOT=$(abspath build/panel.png) npm run test:panel

# The chat panel's browser test drives Debian's chromium (never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium
export AZSDK_RAG_CHROMIUM ?= $(CHROMIUM)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

## The installable extension: build/azsdk-rag-<version>.vsix (@vscode/vsce).
vsix:
	cd extension && npm ci --no-audit --no-fund && npm run build && npm run package

# @modelcontextprotocol/sdk's Client (stdio and streamable HTTP) against the real `azsdk-rag mcp`
# over a small index (the sample corpus' python READMEs).
MCP_INDEX := $(abspath build/mcp-index)
test-mcp-node: setup
	@if [ -f $(EXT_CORPUS) ]; then \
	  rm -rf $(MCP_INDEX) && \
	  $(BIN)/azsdk-rag --qdrant-path $(MCP_INDEX) ingest --corpus $(EXT_CORPUS) && \
	  cd tests/mcp_node && npm ci --no-audit --no-fund && \
	  AZSDK_RAG_QDRANT_PATH=$(MCP_INDEX) AZSDK_RAG_LLM=extractive \
	  AZSDK_RAG_MCP_CMD='["$(abspath $(BIN))/azsdk-rag","mcp"]' npm test; \
	else echo "skipping the Node MCP client test: $(EXT_CORPUS) not found"; fi

# ruff; the layers of docs/architecture.md (import-linter: an import pointing up fails); mypy on src/.
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

## Routing and retrieval quality on the public question set and the real developers' posts.
eval: setup
	$(BIN)/azsdk-rag eval $(SHARED)/eval/questions.jsonl $(SHARED)/eval/real-questions.jsonl

bench: setup
	AZSDK_RAG_SHARED=$(abspath $(SHARED)) $(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) build dist src/*.egg-info extension/node_modules extension/out .mypy_cache \
	  tests/mcp_node/node_modules
