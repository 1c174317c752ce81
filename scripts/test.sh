#!/usr/bin/env bash
# The project's whole check: set-up included. Run from anywhere: `bash scripts/test.sh`.
# Creates .venv (if missing) with Python 3.11 when installed (else $PYTHON or python3),
# installs the project with its test extra (nox included), then runs the nox matrix
# (noxfile.py, driven by scripts/matrix.py):
#   full        ruff, mypy --strict, mkdocs build --strict and pytest, in .venv (3.11)
#   packaging   sdist + wheel built, twine-checked, installed into fresh venvs (no extra;
#               each extra alone), tests/test_packaging.py
#   tests-3.X   mypy --strict and pytest (minus the docs build) on every other supported
#               Python found (3.10, 3.12, 3.13); one not installed is reported SKIPPED
# Sessions run in parallel (CWMETRICS_TEST_JOBS, default: CPU count + 1), each into its own
# log under build/test-matrix/, printed in turn at the end, then a summary and a combined
# `matrix: N passed, N failed, N skipped` line. Any failure, or a session that ran no
# test, fails the run. Arguments are passed to every pytest run (and skip packaging).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  PY=${PYTHON:-$(python3 - <<'PYEOF'
import sys
sys.path.insert(0, "scripts")
from pythons import FULL_VERSION, find_python
print(find_python(FULL_VERSION) or "python3")
PYEOF
)}
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip uv
# uv installs in seconds what pip takes minutes for; pip is the fallback.
if ! .venv/bin/uv pip install -q --python .venv/bin/python -e '.[test]'; then
  echo "uv could not install the test extra; using pip" >&2
  .venv/bin/python -m pip install -q -e '.[test]'
fi
exec .venv/bin/python scripts/matrix.py "$@"
