#!/usr/bin/env bash
# Installs the built wheel (../../dist/python) in a fresh virtualenv with the
# CDK, synthesizes the reference deployment from Python and asserts on it.
# Usage: examples/python/check.sh   (from any directory; after the packages are built)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

shopt -s nullglob
wheels=(../../dist/python/cdk_iot_ingest-*.whl)
if (( ${#wheels[@]} != 1 )); then
  echo "check.sh: expected one wheel in dist/python, found ${#wheels[@]}; build the packages first (npx projen build)" >&2
  exit 1
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1

start=$SECONDS
rm -rf .venv
python3 -m venv .venv
.venv/bin/pip install --quiet --require-virtualenv -r requirements.txt pytest "${wheels[0]}"
.venv/bin/python - <<'PY'
from importlib.metadata import version
print("installed:", ", ".join(f"{d} {version(d)}" for d in ("cdk-iot-ingest", "aws-cdk-lib", "constructs", "jsii", "pytest")))
PY
echo "virtualenv ready ($(( SECONDS - start )) s)"

# pytest's exit status is the script's; its last line is the summary.
exec .venv/bin/python -m pytest
