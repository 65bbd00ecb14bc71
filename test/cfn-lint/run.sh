#!/usr/bin/env bash
# Runs cfn-lint over every template worth checking, and fails on any error:
#  - the pipeline in each prop combination that changes its template
#    (pipeline-variants.ts beside this file),
#  - the example app (examples/app.ts), nested stack included,
#  - the deploy tests, as their committed snapshots (test/integ/*.snapshot),
#    test stacks and assertion stacks; npx projen integ:snapshots keeps those
#    equal to what the apps synthesize.
# cfn-lint comes from PyPI, into a virtualenv beside this file that is made
# when missing or when requirements.txt changes.
# Usage: test/cfn-lint/run.sh   (from any directory; needs the handler bundles: npx projen bundle)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=test/cfn-lint
venv=$here/.venv
out=$here/cdk.out

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1

start=$SECONDS
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --require-virtualenv -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
  echo "cfn-lint virtualenv ready ($(( SECONDS - start )) s)"
fi

rm -rf "$out"
synth() {
  CDK_OUTDIR="$out/$1" npx ts-node --transpile-only --project tsconfig.dev.json "$2"
}
synth variants "$here/pipeline-variants.ts"
synth example examples/app.ts

shopt -s nullglob
ours=("$out"/variants/*.template.json)
example=("$out"/example/*.template.json)
deploy_tests=(test/integ/integ.pipeline.ts.snapshot/*.template.json)
example_deploy_tests=(test/integ/integ.reference-deployment.ts.snapshot/*.template.json)
total=$(( ${#ours[@]} + ${#example[@]} + ${#deploy_tests[@]} + ${#example_deploy_tests[@]} ))
echo "$("$venv/bin/cfn-lint" --version) over $total templates, every region"

# Only errors fail the build; warnings are printed for review. All regions,
# since the templates are region-agnostic and deploy anywhere.
lint() {
  "$venv/bin/cfn-lint" --regions ALL_REGIONS --non-zero-exit-code error --format parseable "$@"
}
status=0
# W3005 (DependsOn already enforced by a GetAtt): aws-cdk-lib makes every
# function depend on its role, whose ARN it also references; redundant, harmless,
# and it would bury the warnings worth reading.
lint --ignore-checks W3005 -- "${ours[@]}" || status=1
# E3006 (resource type missing in a region) for the example: its test client is a
# Cognito identity pool, which the China regions do not have; the demo deploys
# to the aws partition. Kept on for the pipeline's own templates.
lint --ignore-checks W3005 E3006 -- "${example[@]}" || status=1
# W3037 (unknown IAM action) in the deploy tests' assertion stacks:
# integ-tests-alpha derives an action from each SDK call's name (lambda:Invoke,
# s3:ListObjectsV2), which IAM does not know; the real ones (lambda:InvokeFunction,
# s3:ListBucket) are granted beside them. Kept on for the pipeline's own templates.
lint --ignore-checks W3005 W3037 -- "${deploy_tests[@]}" || status=1
lint --ignore-checks W3005 W3037 E3006 -- "${example_deploy_tests[@]}" || status=1

if (( status != 0 )); then
  echo "cfn-lint: errors above (templates in $out and test/integ/*.snapshot)" >&2
  exit 1
fi
echo "cfn-lint: no errors ($total templates, $(( SECONDS - start )) s)"
