# aihubd — every set-up step lives here (CI runs `make test` on a fresh clone).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

PROTO_SRC := $(wildcard protos/aihubd/v1/*.proto)
GEN_DIR   := clients/python

NODE_DIR   := clients/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
BUF        := $(NODE_DIR)/node_modules/.bin/buf
PROTO_IMAGE := protos/released/aihubd-v1.binpb

.PHONY: venv install proto proto-check lint test demo bench clean node-check node-install node-build lint-proto lint-node proto-release test-node

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## node-check: fail, saying how to get it, when Node >= 20 (with npm) is not on PATH
node-check:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "need Node.js >= 20 with npm on PATH for clients/node, buf and the proto generator:"; \
	  echo "  Debian/Ubuntu: https://github.com/nodesource/distributions (apt-get install nodejs), or"; \
	  echo "  nvm: nvm install 20   (https://github.com/nvm-sh/nvm), or https://nodejs.org/en/download"; exit 1; }
	@node -e 'const m=+process.versions.node.split(".")[0]; if (m<20) { console.error("need Node.js >= 20, found "+process.version+" (nvm install 20, or https://nodejs.org/en/download)"); process.exit(1) }'

## node-install: `npm ci` in clients/node (the only Node install step: grpc-js, ts-proto, buf, typescript)
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json | node-check
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

node-install: node-check $(NODE_STAMP)

## node-build: compile the TypeScript client, its tests and examples into clients/node/dist/
node-build: node-install
	cd $(NODE_DIR) && npm run --silent build

## proto: regenerate the committed gRPC code (clients/python/aihubd_api/, clients/node/src/gen/) from protos/
proto: $(STAMP) node-install
	$(PY) tools/gen_proto.py --out $(GEN_DIR)

## proto-check: fail when the committed generated code differs from what protos/ produces
proto-check: $(STAMP) node-install
	$(PY) tools/gen_proto.py --check --out $(GEN_DIR)

## lint-proto: buf lint over protos/ (protos/buf.yaml) and buf breaking against the released contract image
lint-proto: node-install
	$(BUF) lint protos
	$(BUF) breaking protos --against $(PROTO_IMAGE)

## lint-node: type-check (tsc --noEmit) and prettier --check of clients/node
lint-node: node-install
	cd $(NODE_DIR) && npm run --silent lint

## proto-release: record the current contract as the released one (run when releasing, never to silence lint-proto)
proto-release: node-install
	$(BUF) build protos --exclude-source-info -o $(PROTO_IMAGE)

## test-node: the Node client's tests (node --test, compiled first) against a real daemon and emulator,
## and the socket rule shared with the Python client; `make test` runs them too (they live in tests/node)
test-node: $(STAMP) node-install
	$(PY) -m pytest -q tests/node

## lint: every static check, one entry point (make test runs it first, so CI does too)
lint: $(STAMP) lint-proto lint-node
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy daemon/aihubd clients/python/aihubd_client
	$(VENV)/bin/lint-imports

test: $(STAMP) lint proto-check
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) tools/demo.py

## bench: the performance table (also written to bench-results.json); BENCH_ARGS=--quick for a short run
bench: $(STAMP)
	$(PY) -m tools.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
