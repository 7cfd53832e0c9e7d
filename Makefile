# artifactstore — every target sets itself up; `make demo` and `make test` need only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAM_VENV := .venv-sam
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup test lint lint-template demo dev migrate-fresh bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip uv
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src functions localdev scripts tests bench
	$(BIN)/cfn-lint template.yaml

demo: setup
	$(BIN)/python -m localdev.demo

dev: setup
	$(BIN)/python -m localdev.dev

migrate-fresh: setup
	$(BIN)/python -m localdev.migrate_fresh

bench: setup
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(SAM_VENV) .localdev .mypy_cache .ruff_cache .pytest_cache
