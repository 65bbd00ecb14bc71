#!/usr/bin/env bash
# A user's CDK app on the newest aws-cdk-lib, constructs and cdk-nag 3, resolved
# now (not pinned: a change upstream shows here before it reaches users),
# installs the packed npm tarball and runs test/packages/newest-consumer-app.ts:
# the default pipeline, the example stacks and every user app of the cdk-nag
# test, synthesized with cdk-nag 3's AwsSolutions pack, and the resource census
# compared with the same apps on our aws-cdk-lib floor.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tgz=$(ls "$root"/dist/js/cdk-iot-ingest@*.tgz | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# The app, transpiled file by file (not bundled): each `../src` import reaches
# app/src/index.js, which is the installed package.
"$root/node_modules/.bin/esbuild" "$root"/examples/*.ts "$root/test/constructs/nag-user-apps.ts" "$root/test/packages/newest-consumer-app.ts" \
  --outbase="$root" --outdir="$work/app" --format=cjs --platform=node --target=node20 --log-level=warning
mkdir -p "$work/app/src"
echo "module.exports = require('cdk-iot-ingest');" > "$work/app/src/index.js"

# The newest: one install, as a user's `npm install` resolves it today (not
# --prefer-offline, which would take "latest" from a cached package list).
mkdir -p "$work/newest"
cd "$work/newest"
echo '{"name":"consumer-newest","version":"1.0.0","private":true}' > package.json
start=$(date +%s%N)
npm install --no-audit --no-fund --loglevel=error "$tgz" aws-cdk-lib@latest constructs@latest cdk-nag@3 >/dev/null
echo "npm install of the tarball with the newest aws-cdk-lib, constructs and cdk-nag 3: $(ms "$start") ms"
version() { node -p "require('./node_modules/$1/package.json').version"; }
echo "newest: aws-cdk-lib $(version aws-cdk-lib), constructs $(version constructs), cdk-nag $(version cdk-nag)"
cp -r "$work/app" "$work/newest/app"

# The floor: the repository's own aws-cdk-lib and constructs (the lock file
# pins aws-cdk-lib to the floor) and the same tarball, unpacked; nothing to install.
mkdir -p "$work/floor/node_modules/cdk-iot-ingest"
tar -xzf "$tgz" -C "$work/floor/node_modules/cdk-iot-ingest" --strip-components=1
ln -s "$root/node_modules/aws-cdk-lib" "$root/node_modules/constructs" "$work/floor/node_modules/"
echo "floor: aws-cdk-lib $(cd "$work/floor" && version aws-cdk-lib), constructs $(cd "$work/floor" && version constructs)"
cp -r "$work/app" "$work/floor/app"
(cd "$work/floor/app" && node test/packages/newest-consumer-app.js floor "$work/floor-census.json")

cd "$work/newest/app"
node test/packages/newest-consumer-app.js newest "$work/floor-census.json"
echo "newest consumer, all steps: $(ms "$started") ms"
