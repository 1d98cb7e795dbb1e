# The two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TOOLS  := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-stamp

.PHONY: run test test-fast lint typecheck unit integration e2e deploy-check bench install clean prometheus chromium

run: $(STAMP) prometheus  ## the platform on the embedded stack, in the foreground
	$(BIN)/shop run

# Test workers: each gets its own embedded stack; whole files go to one worker (their
# module fixtures start platforms once). The suite mostly waits on servers, so four
# workers overlap the waits on two cores (README "Tests"). TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 4

test: $(STAMP) $(TOOLS_STAMP) lint typecheck prometheus chromium  ## lint, type checks and the whole test suite
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The same checks without the tests marked slow (the longest files, tests/conftest.py).
test-fast: $(STAMP) lint typecheck  ## lint, type checks and every test not marked slow
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow"

# Prometheus and promtool (Debian's package): `make run` starts one scraping every process,
# the tests check the rules with promtool. Installed here when we are root; without it
# `make run` runs the platform without Prometheus and says how to install it (ADR 0029).
prometheus:
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq prometheus || { apt-get update -qq && apt-get install -y -qq prometheus; }; } \
	  >/dev/null 2>&1; } || echo "prometheus not installed: apt-get install prometheus"

install: $(STAMP) $(TOOLS_STAMP)

# checkov in a virtualenv of its own: its pins (packaging<24 among others) would downgrade
# the project's. kubectl (for `kubectl kustomize`) from the system where it can be installed.
$(TOOLS_STAMP): Makefile
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet 'checkov>=3.2,<4'
	@command -v kubectl >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq kubectl || { apt-get update -qq && apt-get install -y -qq kubectl; }; } \
	  >/dev/null 2>&1; } || echo "install: kubectl not found; tests/deploy will skip rendering"
	touch $(TOOLS_STAMP)

# The manifest, image, workflow, Terraform and gateway checks alone (seconds).
deploy-check: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/pytest tests/deploy -q

# Re-installs when pyproject.toml changes; no prompts, no system services.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) chromium
	$(BIN)/pytest tests/e2e

# Debian's headless Chromium, for the test that renders /docs offline and takes a screenshot
# (tests/e2e/test_docs_render.py); installed here when we are root, else that test is skipped.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; } \
	  >/dev/null 2>&1; } || echo "chromium not installed: the /docs rendering test will be skipped"

# Shop beside a yardstick per scenario, on its own embedded stack; e.g. ARGS="--smoke".
# The HTTP scenarios use wrk (Debian's package, installed here when we are root) if it is
# there, and the bench's own Python load generator otherwise.
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; } \
	  >/dev/null 2>&1; } || echo "bench: wrk not installed, using the Python load generator"
	$(BIN)/python -m benchmarks $(ARGS)

clean:  ## removes the embedded stack's data too
	rm -rf .data $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .hypothesis
