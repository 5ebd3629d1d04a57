# rtlab — every target creates the virtual environment on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: test serve bench simulate loadtest loadtest-compare ci-budget lint format clean node native

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --silent
	mkdir -p server/static/vendor
	cp node_modules/socket.io-client/dist/socket.io.min.js server/static/vendor/
	touch $(NODE_STAMP)

node: $(NODE_STAMP)

# The keystroke path of the sequence CRDTs compiled with mypyc into build/native (about 20 s;
# a no-op while the build matches the sources). RTLAB_NATIVE=0 runs plain Python instead.
native: $(STAMP)
	$(PY) -m server.collab.native_build

test: $(STAMP) $(NODE_STAMP) native
	$(PY) -m pytest -q

serve: $(STAMP) $(NODE_STAMP) native
	$(PY) -m server --host $(HOST) --port $(PORT)

bench: $(STAMP) $(NODE_STAMP) native
	$(PY) -m benchmarks.ws_bench
	$(PY) -m benchmarks.trace_bench
	$(PY) -m benchmarks.crdt
	$(PY) -m benchmarks.fleet_bench

# Load test: our server on a free loopback port, Locust headless, report at the end.
# SCENARIO= USERS= SPAWN_RATE= DURATION= ENGINE=locust|bots WORKERS=N
# TARGET=ws://host:port or a bundled server (rtlab, tutorial-node, tutorial-python)
# TARGET_PROFILE=auto|rtlab|tutorial EVENT_MAP=send-message=chat:send,...
loadtest: $(STAMP) $(NODE_STAMP) native
	$(PY) -m scripts.loadtest

# One scenario, the same seed, several servers, one comparison report (and the options above)
# TARGETS="rtlab tutorial-node tutorial-python" (bundled names or URLs)
loadtest-compare: $(STAMP) $(NODE_STAMP) native
	$(PY) -m scripts.loadtest_compare

# CI gate: the smoke load (well under a minute), the report, then the budgets (exit 1 on violation)
ci-budget: $(STAMP) native
	$(PY) -m scripts.loadtest --smoke --budgets budgets.toml

# a small deterministic experiment (virtual time, a few seconds): strategies side by side
simulate: $(STAMP) native
	$(PY) -m simulate experiment --strategies naive,ot,fugue,rga,yjs,loro,lww --editors 4 --ops 100 \
		--latency 80ms --jitter 30ms --partition 2s@5s --seeds 1..3 --backwards 0.2 --prepends 0.05
	$(PY) -m simulate experiment --preset fugue-cases

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .mypy_cache build/native
