#!/usr/bin/env bash
# The main job, set-up included: `bash scripts/demo.sh [demo options]`.
# Creates .venv (if missing), installs the project with its demo extra (moto server,
# boto3, httpx, matplotlib), then runs the demo against an embedded local CloudWatch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[demo]'
exec .venv/bin/python -m cloudwatch_metrics_client demo "$@"
