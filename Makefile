# artifactstore — every target sets itself up; `make demo` and `make test` need only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAM_VENV := .venv-sam
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup test lint lint-template demo dev migrate-fresh smoke bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip uv
	@# the venv's real path, so console scripts never name a symlinked view of the checkout
	@$(BIN)/uv pip install --quiet --python "$$(cd $(VENV) && pwd -P)/bin/python" -e '.[dev]'
	@touch $(STAMP)

# Three workers on two cores: the suite waits on subprocesses, sockets and moto as much as it
# computes (two workers left the cores about 40 % idle; three took 7 min 17 s against 8 min 32 s).
test: setup
	$(BIN)/python -m pytest -n 3 --dist loadgroup

lint: setup lint-template
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src functions localdev tests $(wildcard scripts/*.py) $(wildcard bench/*.py)

# The template gate: cfn-lint, `sam validate --lint` and a real `sam build` (no Docker: SAM
# fetches manylinux aarch64 wheels itself). aws-sam-cli pins clash with ours, so it gets its own
# virtualenv, installed once (stamp file).
SAM_STAMP := $(SAM_VENV)/.installed
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam

lint-template: setup $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template-file template.yaml --region us-east-1
	$(SAM) build --template-file template.yaml --build-dir .aws-sam/build --region us-east-1

$(SAM_STAMP): | $(STAMP)
	@test -x $(SAM_VENV)/bin/python || $(BIN)/uv venv --quiet --python $(PYTHON) $(SAM_VENV)
	@$(BIN)/uv pip install --quiet --python $(SAM_VENV)/bin/python 'aws-sam-cli>=1.130,<2'
	@touch $@

demo: setup
	$(BIN)/python -m localdev.demo

dev: setup
	$(BIN)/python -m localdev.dev

migrate-fresh: setup
	$(BIN)/python -m localdev.migrate_fresh

# The pilot guide end to end against $$ARTIFACTSTORE_API_URL with $$ARTIFACTSTORE_API_TOKEN: a
# running `make dev`, or a deployment (docs/deploy.md). SMOKE_ARGS passes options (--help).
smoke: setup
	$(BIN)/python scripts/smoke.py $(SMOKE_ARGS)

bench: setup
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(SAM_VENV) .localdev .mypy_cache .ruff_cache .pytest_cache
