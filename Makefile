# aihubd — every set-up step lives here (CI runs `make test` on a fresh clone).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

PROTO_SRC := $(wildcard protos/aihubd/v1/*.proto)
GEN_DIR   := clients/python

.PHONY: venv install proto proto-check lint test demo bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## proto: regenerate the committed gRPC code in clients/python/aihubd_api/ from protos/
proto: $(STAMP)
	$(PY) tools/gen_proto.py --out $(GEN_DIR)

## proto-check: fail when the committed generated code differs from what protos/ produces
proto-check: $(STAMP)
	$(PY) tools/gen_proto.py --check --out $(GEN_DIR)

## lint: every static check, one entry point (make test runs it first, so CI does too)
lint: $(STAMP)
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
