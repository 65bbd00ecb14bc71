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

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
# jsii prints a 20-line banner from every kernel process when Node.js is past
# the end of its support (Node 20 since 2026-10-30); say it once here instead.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 22 )) && [[ -z "${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-}" ]]; then
  echo "note: Node.js $(node --version) is end-of-life for jsii (supported: ^22, ^24); its warning banner is silenced" >&2
  export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="$node_major"
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
