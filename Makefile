# Two entry points: `make run` and `make test`. Both set up what they need in
# .venv (and webui/node_modules) on a fresh clone, and are fast when already set up.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall when the dependency list or a C extension changes.
C_SOURCES := $(wildcard xdiag/*/*.c xdiag/*/*.h)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(C_SOURCES) 2>/dev/null | sha1sum | cut -c1-12)
WEBUI_SRC := $(shell find webui/src webui/index.html webui/package.json webui/vite.config.* webui/tsconfig*.json -type f 2>/dev/null)
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench bench-pod soak lint setup webui chromium clean pyc

run: $(STAMP) webui pyc
	$(BIN)/python -m xdiag.cli.demo

test: $(STAMP) webui chromium
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	cd webui && npm test --silent
	$(BIN)/python -m pytest

bench: $(STAMP) pyc
	$(BIN)/python -m bench.run

# A 32-host pod session (32 x 1M events): upload, and ingest as the Kubernetes Jobs do
# (`xdiag ingest --host` pods, then --finalize), on the local store and on fake-gcs-server,
# with stock xprof on the same files -> bench/pod_results.md. About 10-20 min; not in `test`.
bench-pod: $(STAMP) pyc
	$(BIN)/python -m bench.pod

# 50 web-UI clients (locust, headless) against `xdiag serve` on a 1M-event profile for
# 60 s: latency per request, req/s, errors, peak RSS -> bench/results.md. Not in `test`.
soak: $(STAMP) pyc
	$(BIN)/python -m bench.soak

# Bytecode for our own sources, as pip writes it for installed packages (xprof, jax):
# with PYTHONDONTWRITEBYTECODE set, as on our VMs, every service, worker and bench
# process would otherwise recompile them (~0.1 s CPU each). Incremental: only
# changed files are recompiled.
pyc: $(STAMP)
	@$(BIN)/python -m compileall -q xdiag trainer bench > /dev/null

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

setup: $(STAMP) webui

$(STAMP): pyproject.toml $(C_SOURCES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=75" wheel
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

webui: webui/dist/index.html

webui/node_modules/.package-lock.json: webui/package-lock.json
	cd webui && npm ci --no-audit --no-fund --loglevel=error

webui/dist/index.html: webui/node_modules/.package-lock.json $(WEBUI_SRC)
	cd webui && npm run build --silent

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) webui/node_modules webui/dist build *.egg-info
