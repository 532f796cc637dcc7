# claimguard: `make test` sets itself up on a fresh machine (virtualenv, install,
# lint, format check, type check, tests).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench lint typecheck unit install clean

test: lint typecheck unit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m example_api.demo

# The throughput, per-call and memory benchmarks (loopback only, bounded runs). Not part
# of `make test`: they take several minutes and want a quiet machine.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.memory

lint: $(STAMP)
	$(BIN)/ruff check src tests example_api bench
	$(BIN)/ruff format --check src tests example_api bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: $(STAMP)
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
