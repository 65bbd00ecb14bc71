#!/usr/bin/env bash
# A separate CDK app installs the packed npm tarball (as a user would) and
# synthesizes a default SensorIngestPipeline from it. Checks that each function's
# asset is the handler bundle shipped in the tarball.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tgz=$(ls "$root"/dist/js/cdk-iot-ingest@*.tgz | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cdk=$(node -p "require('$root/node_modules/aws-cdk-lib/package.json').version")
constructs=$(node -p "require('$root/node_modules/constructs/package.json').version")

cd "$work"
echo '{"name":"consumer","version":"1.0.0","private":true}' > package.json
start=$(date +%s%N)
npm install --no-audit --no-fund --prefer-offline --loglevel=error "$tgz" "aws-cdk-lib@$cdk" "constructs@$constructs" >/dev/null
echo "npm install of the tarball: $(( ($(date +%s%N) - start) / 1000000 )) ms"

cat > app.js <<'JS'
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { App, Stack } = require('aws-cdk-lib');
const { SensorIngestPipeline } = require('cdk-iot-ingest');

const started = process.hrtime.bigint();
const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Consumer');
new SensorIngestPipeline(stack, 'Pipeline');
const assembly = app.synth();
const ms = Number(process.hrtime.bigint() - started) / 1e6;

const template = assembly.getStackByName('Consumer').template;
const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
// Every bundle the package's own contract names (processor, archiver, query, replay).
const { HANDLER_NAMES } = require('cdk-iot-ingest/lib/private/handler-contract');
const shipped = new Set(HANDLER_NAMES.map((name) =>
  sha(path.join('node_modules', 'cdk-iot-ingest', 'assets', 'handlers', `${name}.lambda`, 'index.js'))));
// Where each asset was staged, from the assembly's asset manifest.
const manifest = JSON.parse(fs.readFileSync(path.join('cdk.out', 'Consumer.assets.json'), 'utf8'));
let failures = 0;
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures++; };
// The processor, the archiver, the query function, and a replay function beside each of the two failed-batches queues.
check(functions.length === 5, `5 functions synthesized (got ${functions.length})`);
for (const fn of functions) {
  const hash = fn.Properties.Code.S3Key.replace(/\.zip$/, '');
  const source = manifest.files[hash] && manifest.files[hash].source.path;
  const bundle = path.join('cdk.out', String(source), 'index.js');
  check(fs.existsSync(bundle) && shipped.has(sha(bundle)), `${fn.Properties.Description}: asset ${hash.slice(0, 12)} is a shipped bundle`);
  // The runtime the package's own contract pins (the bundles are built for it).
  const { HANDLER_RUNTIME } = require('cdk-iot-ingest/lib/private/handler-contract');
  check(fn.Properties.Runtime === HANDLER_RUNTIME && HANDLER_RUNTIME.startsWith('nodejs'), `runtime ${fn.Properties.Runtime}, pinned ${HANDLER_RUNTIME}`);
}
console.log(`synth from the installed package: ${ms.toFixed(0)} ms`);
console.log(`npm consumer: ${functions.length * 2 + 1 - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
JS
node app.js
