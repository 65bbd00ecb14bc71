#!/usr/bin/env bash
# The local runner package as a user gets it: a fresh TypeScript CDK app
# installs the library's tarball (dist/js) and the runner's (dist/local),
# defines a pipeline with a multi-measurement payload mapping and an extra
# processor of its own (a NodejsFunction, bundled by the app's esbuild: no
# Docker), then
#   1. `npx cdk-iot-ingest-local --readings 300` synthesizes the app (no
#      cdk.out yet), runs it and exits 0; its summary's counts are exact;
#   2. the app's own jest test starts a run with the API, puts readings and
#      asserts what its processor wrote.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
lib=$(ls "$root"/dist/js/cdk-iot-ingest@*.tgz | head -n 1)
runner=$(ls "$root"/dist/local/cdk-iot-ingest-local-*.tgz | head -n 1)
work=$(mktemp -d)
[ -n "${KEEP_LOCAL_CONSUMER:-}" ] && echo "work directory: $work" || trap 'rm -rf "$work"' EXIT
version() { node -p "require('$root/node_modules/$1/package.json').version"; }

cd "$work"
cat > package.json <<'JSON'
{
  "name": "sensor-app",
  "version": "1.0.0",
  "private": true,
  "jest": { "preset": "ts-jest", "testEnvironment": "node", "testMatch": ["<rootDir>/test/**/*.test.ts"] }
}
JSON
start=$(date +%s)
npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "$lib" "$runner" "aws-cdk-lib@$(version aws-cdk-lib)" "constructs@$(version constructs)" \
  "aws-cdk@$(version aws-cdk)" "esbuild@$(version esbuild)" "typescript@$(version typescript)" "ts-node@$(version ts-node)" \
  "jest@$(version jest)" "ts-jest@$(version ts-jest)" "@types/jest@$(version @types/jest)" "@types/node@$(version @types/node)" \
  "@aws-sdk/client-dynamodb@$(version @aws-sdk/client-dynamodb)" "@types/aws-lambda@$(version @types/aws-lambda)" >/dev/null
echo "npm install of both tarballs and the app's tools: $(( $(date +%s) - start )) s"

cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022", "module": "commonjs", "lib": ["es2022"], "strict": true, "esModuleInterop": true,
    "skipLibCheck": true, "types": ["node", "jest"]
  },
  "exclude": ["node_modules", "cdk.out"]
}
JSON
echo '{ "app": "npx ts-node --prefer-ts-exts bin/app.ts" }' > cdk.json
mkdir -p bin lambda test
cat > bin/app.ts <<'TS'
import { App, CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { IngestProcessor, SensorIngestPipeline } from 'cdk-iot-ingest';

const app = new App();
const stack = new Stack(app, 'SensorApp');
const pipeline = new SensorIngestPipeline(stack, 'Pipeline', {
  payloadMapping: { sensorIdField: 'deviceId', timestampField: 'ts', measurementFields: ['temperature', 'humidity'] },
});
// The newest reading of each device: a processor of the app's own, beside the built-in one.
const latest = new dynamodb.Table(stack, 'Latest', {
  partitionKey: { name: 'deviceId', type: dynamodb.AttributeType.STRING },
  billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
  removalPolicy: RemovalPolicy.DESTROY,
});
const fn = new NodejsFunction(stack, 'LatestFunction', {
  entry: 'lambda/latest.ts',
  runtime: lambda.Runtime.NODEJS_20_X,
  environment: { LATEST_TABLE: latest.tableName },
});
latest.grantWriteData(fn);
pipeline.addProcessor('Latest', IngestProcessor.fromFunction(fn, { grantTableAccess: false }));
new CfnOutput(stack, 'LatestTableName', { value: latest.tableName });
TS
cat > lambda/latest.ts <<'TS'
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';

const db = new DynamoDBClient({});

/** Keeps each device's newest reading; a payload that is not one is skipped. */
export async function handler(event: KinesisStreamEvent): Promise<void> {
  const newest = new Map<string, { ts: string; temperature: number; humidity: number }>();
  for (const record of event.Records) {
    let p: { deviceId?: unknown; ts?: unknown; temperature?: unknown; humidity?: unknown };
    try {
      p = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
    } catch {
      continue;
    }
    if (typeof p.deviceId !== 'string' || typeof p.ts !== 'string' || Number.isNaN(Date.parse(p.ts))) continue;
    if (typeof p.temperature !== 'number' || typeof p.humidity !== 'number') continue;
    const seen = newest.get(p.deviceId);
    if (!seen || seen.ts < p.ts) newest.set(p.deviceId, { ts: p.ts, temperature: p.temperature, humidity: p.humidity });
  }
  for (const [deviceId, r] of newest) {
    await db.send(new PutItemCommand({
      TableName: process.env.LATEST_TABLE,
      Item: { deviceId: { S: deviceId }, ts: { S: r.ts }, temperature: { N: String(r.temperature) }, humidity: { N: String(r.humidity) } },
    }));
  }
}
TS
cat > test/latest.test.ts <<'TS'
import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { LocalTestRun, startLocalRun } from 'cdk-iot-ingest-local';

let run: LocalTestRun;
beforeAll(async () => {
  run = await startLocalRun({ cdkOut: 'cdk.out' });
}, 120_000);
afterAll(() => run?.stop());

test('the Latest processor keeps the newest reading of each device; the pipeline stores both measurements', async () => {
  await run.putReadings([
    { deviceId: 'boiler', ts: '2026-01-01T10:00:00.000Z', temperature: 61.5, humidity: 20 },
    { deviceId: 'boiler', ts: '2026-01-01T10:01:00.000Z', temperature: 63, humidity: 21 },
    { deviceId: 'cellar', ts: '2026-01-01T10:00:30.000Z', temperature: 12.25, humidity: 80 },
    'not a reading',
  ]);
  await run.settled();

  const db = new DynamoDBClient(run.clientConfig('dynamodb'));
  const latest = run.physicalName('LatestTableName');
  const boiler = await db.send(new GetItemCommand({ TableName: latest, Key: { deviceId: { S: 'boiler' } } }));
  expect(boiler.Item).toEqual({ deviceId: { S: 'boiler' }, ts: { S: '2026-01-01T10:01:00.000Z' }, temperature: { N: '63' }, humidity: { N: '21' } });
  const all = await db.send(new ScanCommand({ TableName: latest }));
  expect(all.Items?.map((i) => i.deviceId.S).sort()).toEqual(['boiler', 'cellar']);

  // The built-in processor: a reading per measurement, and the malformed record dead-lettered.
  const summary = await run.summary();
  expect(summary.recordsPut).toBe(4);
  expect(summary.tableItems[run.physicalName('Pipeline/Table')]).toBe(6);
  expect(summary.mappings).toHaveLength(3);
  for (const m of summary.mappings) expect(m.recordsDone).toBe(4);
  expect(summary.functions.every((f) => f.errors === 0)).toBe(true);
  db.destroy();
}, 120_000);

test('the page ships with the package and is served for the app, its config from the app', async () => {
  const page = await fetch(run.url);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('dist/main.js');
  expect((await fetch(`${run.url}dist/main.js`)).status).toBe(200);
  const config = (await (await fetch(`${run.url}config.json`)).json()) as { streamName: string };
  expect(config.streamName).toBe(run.physicalName('Pipeline/Stream'));
});
TS

# 1. The bin, with no --cdk-out, in the app's folder: it synthesizes the app first.
start=$(date +%s)
npx cdk-iot-ingest-local --readings 300 --rate 150 --port 0 --summary-json summary.json > run.log 2>&1 || { cat run.log; exit 1; }
echo "npx cdk-iot-ingest-local --readings 300 (synth included): $(( $(date +%s) - start )) s"
grep -q 'synthesizing the app' run.log || { cat run.log; echo 'FAIL the bin did not synthesize the app'; exit 1; }
node - <<'JS'
const fs = require('fs');
const s = JSON.parse(fs.readFileSync('summary.json', 'utf8'));
const tables = Object.entries(s.tableItems);
const pipelineTable = tables.find(([name]) => /PipelineTable/.test(name));
const latestTable = tables.find(([name]) => /Latest/.test(name));
let failures = 0;
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures++; };
check(s.readings.put === 300 && s.readings.valid + s.readings.malformed === 300 && s.readings.malformed > 0,
  `300 readings put: ${s.readings.valid} valid, ${s.readings.malformed} malformed`);
check(pipelineTable && pipelineTable[1] === s.readings.valid * 2, `the pipeline's table holds 2 items per valid reading: ${pipelineTable && pipelineTable[1]}`);
check(latestTable && latestTable[1] === 10, `the app's own processor holds the newest reading of each of the 10 devices: ${latestTable && latestTable[1]}`);
check(s.deadLetters === s.readings.malformed, `each malformed reading dead-lettered: ${s.deadLetters}`);
check(s.failedBatches === 0, `no failed batch: ${s.failedBatches}`);
check(s.mappings.length === 3 && s.mappings.every((m) => m.stats.recordsDone === 300 && m.stats.recordsDiscarded === 0),
  `3 mappings (processor, archiver, the app's own), each done with the 300 records: ${s.mappings.map((m) => m.stats.recordsDone).join(', ')}`);
check(s.functions.every((f) => f.stats.errors === 0), 'no function error');
check(s.latencyMs && s.latencyMs.count === s.readings.valid, `every valid reading stored and timed: ${s.latencyMs && s.latencyMs.count}`);
console.log(`local consumer, the bin: ${8 - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
JS

# 2. The app's own test, with the API.
start=$(date +%s)
npx jest --ci 2>&1 | tail -n 40
echo "the app's jest test with the API: $(( $(date +%s) - start )) s"
