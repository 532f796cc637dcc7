# claimguard: `make test` sets itself up on a fresh machine (virtualenv, install,
# lint, format check, type check, tests).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test quick demo demo-web browser services bench lint typecheck unit newcomer install clean docs docs-check postgres

test: lint typecheck docs-check browser services postgres newcomer unit

# Day-to-day: lint, types and every test not marked slow (no gunicorn load or fault
# runs, no browser), stopping at the first failure.
quick: lint typecheck
	$(BIN)/pytest -q -x -m "not slow"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# The distribution was named "claimguard" before "flask-claimguard": a .venv made
	@# then still holds that install's metadata (same code), which is dropped here.
	@if $(BIN)/python -m pip show claimguard >/dev/null 2>&1; then \
	  $(BIN)/python -m pip uninstall --quiet --yes claimguard; fi
	@rm -rf src/claimguard.egg-info
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m example_api.demo

# The Next.js calling side (example_web/): a local stand-in for the Auth0 tenant,
# example_api and `next start`, on loopback. Runs `npm ci` and `next build` when their
# inputs changed; needs Node.js 20+. Ctrl-C stops all three.
demo-web: $(STAMP)
	$(BIN)/python -m example_web.launch

# $(call debian_package,PACKAGE,PRESENT,WHAT): when the shell test PRESENT fails, install
# Debian's PACKAGE if we are root and have apt-get (as in CI); elsewhere say that WHAT
# will skip, and how to run it. Quiet when PRESENT succeeds.
debian_package = { $(2); } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's $(1) for $(3)..."; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	  else \
	    echo "$(1) is missing: $(3) will skip (apt-get install $(1))"; \
	  fi; }

# Debian's chromium for the browser tests (tests/web).
browser:
	@$(call debian_package,chromium,command -v chromium >/dev/null 2>&1,the browser tests)

# Debian's redis-server for the shared DPoP replay store's tests (the suite starts its own
# on loopback).
services:
	@$(call debian_package,redis-server,command -v redis-server >/dev/null 2>&1,the Redis tests)

# The machine's PostgreSQL binaries for example_api's PostgreSQL tests (the suite starts
# a throwaway server on loopback, as the postgres user when we are root).
PG_PRESENT = { command -v pg_config >/dev/null 2>&1 && [ -x "$$(pg_config --bindir)/initdb" ]; } \
	|| ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
postgres:
	@$(call debian_package,postgresql,$(PG_PRESENT),example_api's PostgreSQL tests)

# The throughput, per-call and memory benchmarks (loopback only, bounded runs). Not part
# of `make test`: they take several minutes and want a quiet machine.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.signals
	$(BIN)/python -m bench.dpop

lint: $(STAMP)
	$(BIN)/ruff check src tests example_api example_web bench examples
	$(BIN)/ruff format --check src tests example_api example_web bench examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

# The documentation (docs/), as HTML in docs/_build/html, read afresh (-E) so that the
# tables made from the code are current. The build uses no network: the intersphinx
# inventories are in docs/_inventories/ (see docs/conf.py).
docs: $(STAMP)
	$(BIN)/sphinx-build -q -E -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

# What `make test` checks of the documentation, from scratch: the HTML with warnings as
# errors (nitpicky: every reference must resolve; the generated tables, the API coverage
# and the code-block checks of docs/_ext stop the build), the doctests, and the links
# between pages (linkcheck, external links ignored). The docs tools need Python 3.11+:
# on 3.10 this says so and passes, except in CI.
docs-check: $(STAMP)
	@if [ ! -x $(BIN)/sphinx-build ] && [ "$$CI" != true ]; then \
	  echo "docs-check: skipped, the docs tools need Python 3.11+"; exit 0; fi; \
	$(BIN)/sphinx-build -q -E -W --keep-going -n -b html docs docs/_build/html && \
	$(BIN)/sphinx-build -q -E -W --keep-going -n -b doctest docs docs/_build/doctest && \
	$(BIN)/sphinx-build -q -E -W --keep-going -n -b linkcheck docs docs/_build/linkcheck

unit: $(STAMP)
	$(BIN)/pytest

# The README's install path as a newcomer follows it, timed step by step: a copy of this
# checkout, a new virtualenv, `pip install "./claimguard[testing]"`, the quickstart app
# started (it must refuse and log why), the quickstart's tests. Needs git and the package
# index; about 15 s, downloads included. Its folder is removed after a success.
newcomer:
	$(PYTHON) examples/newcomer.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
