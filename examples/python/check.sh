#!/usr/bin/env bash
# Installs the built wheel (../../dist/python) in a fresh virtualenv with the
# CDK, synthesizes the reference deployment from Python and asserts on it, then
# runs the Python app's cloud assembly in the local runner and checks its counts.
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

# pytest first; a failure ends the script with its status.
.venv/bin/python -m pytest

# The cloud assembly the Python app synthesizes runs in the local runner: the
# reference deployment, its functions the Node.js handlers inside the wheel.
# Every reading put is counted where it ends up: stored, or dead-lettered.
cdk_out="$(mktemp -d)"
trap 'rm -rf "$cdk_out"' EXIT
CDK_OUTDIR="$cdk_out/cdk.out" .venv/bin/python app.py
readings=300
(cd ../.. && npx ts-node --transpile-only --project tsconfig.dev.json local/src/runner/cli.ts \
  --cdk-out "$cdk_out/cdk.out" --stack IotBackendReference --port 0 --readings "$readings" --rate 300 \
  --malformed 5% --poll-interval 200ms --summary-json "$cdk_out/summary.json")
.venv/bin/python - "$cdk_out/summary.json" "$readings" "$cdk_out/cdk.out" <<'PY'
import hashlib
import json
import os
import sys
import tarfile
from importlib import resources

summary = json.load(open(sys.argv[1]))
readings = int(sys.argv[2])
cdk_out = sys.argv[3]

# The code the local run ran: the asset directory of each function it started, in the Python app's cdk.out.
template = json.load(open(os.path.join(cdk_out, "IotBackendReference.template.json")))
assets = json.load(open(os.path.join(cdk_out, "IotBackendReference.assets.json")))["files"]
ran = {}
for function in summary["functions"]:
    logical_id = function["path"].split("/")[-1]
    asset = assets[template["Resources"][logical_id]["Properties"]["Code"]["S3Key"].removesuffix(".zip")]
    with open(os.path.join(cdk_out, asset["source"]["path"], "index.js"), "rb") as f:
        ran[logical_id] = hashlib.sha256(f.read()).hexdigest()
# The Node.js handlers inside the installed wheel (its embedded jsii tarball).
[tarball] = [p for p in resources.files("cdk_iot_ingest._jsii").iterdir() if p.name.endswith(".jsii.tgz")]
with tarfile.open(str(tarball), "r:gz") as tar:
    packaged = {
        hashlib.sha256(tar.extractfile(m).read()).hexdigest()
        for m in tar.getmembers() if m.name.startswith("package/assets/handlers/") and m.name.endswith(".lambda/index.js")
    }
put, valid, malformed = (summary["readings"][k] for k in ("put", "valid", "malformed"))
stored = [n for table, n in summary["tableItems"].items() if "-PipelineTable" in table]
checks = {
    f"the {len(ran)} functions run are the wheel's Node.js handlers": len(ran) >= 3 and set(ran.values()) <= packaged,
    f"{readings} readings put": put == readings,
    "valid and malformed add up": valid + malformed == put and malformed > 0,
    "every valid reading stored once": stored == [valid],
    "every malformed reading dead-lettered": summary["deadLetters"] == malformed,
    "no failed batches": summary["failedBatches"] == 0,
    "every mapping took every record, none skipped":
        all(m["stats"]["recordsDone"] == put and m["stats"]["recordsDiscarded"] == 0 for m in summary["mappings"]),
    "no function errors": all(f["stats"]["errors"] == 0 for f in summary["functions"]),
}
for name, ok in checks.items():
    print(("ok    " if ok else "FAILED"), name)
print(f"local run of the Python app's cdk.out: {put} put, {stored} stored, {summary['deadLetters']} dead letters")
sys.exit(0 if all(checks.values()) else 1)
PY
