# ambient-lb: the two commands of the quick start (make run, make test), plus make test-fast, make lint and make lab.
# Each target creates .venv and installs the project into it when missing or out of date.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# What make test-fast leaves out (the markers are in pyproject.toml; README "Tests" says which to run when).
SLOW_TIERS  := kubectl or notebooks or browser or slow

.PHONY: run test test-fast lint lab bench clean-runs

$(STAMP): pyproject.toml lib/ambient_lb/_logscan.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/ambient-lb run --params params/sim.yaml --out runs/latest

# The gate before the tests (CI's .ci/run runs make test): ruff (style, bugs, docstrings of public names),
# mypy on lib/ (strict on sim/mesh/model and logs/), and the import layers. Settings: pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist loadscope $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope -m "not ($(SLOW_TIERS))" $(PYTEST_ARGS)

lab: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-runs:
	rm -rf runs
