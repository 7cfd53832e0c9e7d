#!/usr/bin/env bash
# Fuzz the API from its /openapi.json against moto (minutes; not part of `make test`).
# Usage: bench/schemathesis.sh [schemathesis options]   (default: --max-examples 30)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec .venv/bin/python bench/schemathesis_run.py "$@"
