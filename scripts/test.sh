#!/usr/bin/env bash
# The project's whole check: set-up included. Run from anywhere: `bash scripts/test.sh`.
# Creates .venv (if missing), installs the project with its test extra, then runs
# ruff, mypy --strict, the docs build and pytest. Any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy --strict"
.venv/bin/mypy
if [ -f mkdocs.yml ]; then
  echo "== mkdocs build --strict"
  .venv/bin/mkdocs build --strict -d "$(mktemp -d)"
fi
echo "== pytest"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
