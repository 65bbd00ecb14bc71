/**
 * End to end, for users who keep the reference deployment's own test page: a
 * page that makes the reference page's calls with the AWS SDK for JavaScript
 * v2 browser build, served by the local run of the reference example and
 * driven in headless Chromium. It submits readings (the value as a string,
 * straight from a text box), then queries the sensor by invoking the query
 * function and lists `Timestamp` and `Value` of each of `JSON.parse(Payload).Items`.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, REFERENCE_STACK, screenshotPath, synthesizeExample } from './helpers';
import { CREDENTIALS } from '../../local/src';
import { LocalRun } from '../../local/src/runner/local-run';

jest.setTimeout(180_000);

/**
 * The reference page's script, with its five hand-edited settings filled in
 * and one more: the endpoint, which points the SDK at the local run. The
 * query request is built by string concatenation and the answer read from
 * `Items`, exactly as the reference page does; the v2 SDK is served beside the
 * page instead of from the CDN (no network in tests).
 */
function referencePage(settings: {
  accessKeyId: string; secretAccessKey: string; region: string; lambdaAPIFunction: string; kinesisStreamName: string; endpoint: string;
}): string {
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8" />
  <title>IoT backend test page (reference)</title>
  <script src="aws-sdk.min.js"></script>
</head>
<body>
  <label>Sensor ID <input type="text" id="uSensorId" /></label>
  <label>Value <input type="text" id="uSensorValue" /></label>
  <button id="submit" onclick="update();">Submit</button>
  <label>Sensor ID <input type="text" id="qSensorId" /></label>
  <button id="query" onclick="query();">Query</button>
  <textarea id="output" cols="100" rows="30"></textarea>
  <script>
    var settings = ${JSON.stringify(settings)};
    function log(text) { document.getElementById('output').value += text; }
    AWS.config.update({
      accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, region: settings.region,
      endpoint: settings.endpoint,
    });
    var lambda = new AWS.Lambda();
    var kinesis = new AWS.Kinesis();

    function update() {
      var sensorid = document.getElementById('uSensorId').value;
      var value = document.getElementById('uSensorValue').value;
      kinesis.putRecord({
        Data: JSON.stringify({ sensorid: sensorid, value: value, timestamp: new Date().toISOString() }),
        PartitionKey: sensorid,
        StreamName: settings.kinesisStreamName,
      }, function (err, data) {
        if (err) log(err + ' ' + err.stack);
        else log(JSON.stringify(data));
      });
    }

    function query() {
      var sensorid = document.getElementById('qSensorId').value;
      var params = { FunctionName: settings.lambdaAPIFunction, Payload: '{"operation": "query", "sensorid": "' + sensorid + '"}' };
      lambda.invoke(params, function (err, data) {
        log('Data submitted: ' + params.Payload + '\\n');
        if (err) {
          log(JSON.stringify(err, null, '\\t'));
        } else {
          log(data.Payload + '\\n');
          var items = JSON.parse(data.Payload).Items;
          for (var item of items) {
            log(item.Timestamp + '\\t' + item.Value + '\\n');
          }
        }
      });
    }
  </script>
</body>
</html>
`;
}

let run: LocalRun;
let browser: Browser;
let page: Page;
let dynamodb: DynamoDBClient;
let table: string;
const pageErrors: string[] = [];
const warnings: string[] = [];

beforeAll(async () => {
  const pageDirectory = mkdtempSync(path.join(tmpdir(), 'reference-page-'));
  copyFileSync(require.resolve('aws-sdk/dist/aws-sdk.min.js'), path.join(pageDirectory, 'aws-sdk.min.js'));
  run = await LocalRun.start({
    cdkOut: synthesizeExample(), stacks: [REFERENCE_STACK], port: 0, pollIntervalMs: 200, pageDirectory, onWarning: (m) => warnings.push(m),
  });
  // Served by the run itself, so the page calls its own origin, as the page in local/page does.
  writeFileSync(path.join(pageDirectory, 'index.html'), referencePage({
    accessKeyId: CREDENTIALS.accessKeyId,
    secretAccessKey: CREDENTIALS.secretAccessKey,
    region: run.region,
    lambdaAPIFunction: run.pageConfig.queryFunctionName,
    kinesisStreamName: run.pageConfig.streamName,
    endpoint: run.endpoint,
  }));
  table = run.plan.tables.find((t) => t.input.KeySchema?.some((k) => k.AttributeName === 'SensorId'))!.name;
  dynamodb = new DynamoDBClient({ region: run.region, credentials: CREDENTIALS, endpoint: run.endpoints.dynamodb });

  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(run.url);
  await page.waitForFunction(() => typeof (window as unknown as { AWS?: { VERSION?: string } }).AWS?.VERSION === 'string');
});

afterAll(async () => {
  dynamodb?.destroy();
  await browser?.close();
  await run?.stop();
});

const output = () => page.locator('#output').inputValue();

/** Submit, and wait for the page to log PutRecord's answer. */
async function submit(sensor: string, value: string): Promise<void> {
  const before = await output();
  await page.locator('#uSensorId').fill(sensor);
  await page.locator('#uSensorValue').fill(value);
  await page.locator('#submit').click();
  await page.waitForFunction((n) => (document.getElementById('output') as HTMLTextAreaElement).value.length > n, before.length);
  expect((await output()).slice(before.length)).toMatch(/^\{"ShardId":"shardId-\d+","SequenceNumber":"\d+"\}$/);
}

/** Query as the page does; the lines the page printed after the raw answer, and the answer. */
async function query(sensor: string): Promise<{ payload: Record<string, unknown>; lines: string[] }> {
  await page.locator('#output').fill('');
  await page.locator('#qSensorId').fill(sensor);
  await page.locator('#query').click();
  // The callback logs the answer and every item in one task: once the answer is there, so is the list.
  await page.waitForFunction(() => (document.getElementById('output') as HTMLTextAreaElement).value.split('\n').length > 2);
  const [submitted, payload, ...rest] = (await output()).split('\n');
  expect(submitted).toBe(`Data submitted: {"operation": "query", "sensorid": "${sensor}"}`);
  return { payload: JSON.parse(payload), lines: rest.filter((l) => l !== '') };
}

test('the reference page lists a sensor\'s 20 newest readings, Timestamp and Value per line, newest first', async () => {
  // 23 readings, more than the 20 the reference lists, each a moment after the last.
  const values = Array.from({ length: 23 }, (_, i) => (i % 4 === 0 ? String(i) : `${i}.25`));
  for (const v of values) await submit('porch', v);
  await submit('cellar', '11.5');
  await run.waitUntilProcessed(24, 60_000);

  const stored = await dynamodb.send(new QueryCommand({
    TableName: table, KeyConditionExpression: 'SensorId = :id', ExpressionAttributeValues: { ':id': { S: 'porch' } }, ScanIndexForward: false,
  }));
  expect(stored.Items).toHaveLength(23);
  const newest = stored.Items!.slice(0, 20);

  const { payload, lines } = await query('porch');
  expect(lines).toEqual(newest.map((i) => `${i.Timestamp.S}\t${i.Value.N}`));
  // Newest first: the values in the reverse of the order they were submitted.
  expect(lines.map((l) => l.split('\t')[1])).toEqual(values.slice(3).reverse());
  expect(payload.Items).toEqual(newest.map((i) => ({ SensorId: 'porch', Timestamp: i.Timestamp.S, Value: Number(i.Value.N) })));
  await page.screenshot({ path: screenshotPath('reference-page-porch.png'), fullPage: true });

  // Another sensor's readings only; and a sensor with none lists nothing, without an error.
  expect((await query('cellar')).lines).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t11\.5$/)]);
  expect((await query('attic')).lines).toEqual([]);

  expect(pageErrors).toEqual([]);
  expect(warnings).toEqual([]);
});
