/**
 * End to end: the test page on a user's app, not the example: a default
 * pipeline whose payload mapping takes JSON arrays and gateway batches, and
 * no stack outputs. The page finds its stream, query function, dead-letter
 * queue and payload mapping in the app; sends many readings per record as a
 * device or a gateway batches them; lists the sensors seen (CloudWatch
 * ListMetrics) and queries the one picked; and in live mode follows a sensor
 * without a click, until live mode is turned off.
 */
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { App, Duration, Stack } from 'aws-cdk-lib';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, readArchive, screenshotPath, waitFor } from './helpers';
import { CREDENTIALS, REGION } from '../../local/src';
import { LocalRun } from '../../local/src/runner/local-run';
import { Archiver, SensorIngestPipeline } from '../../src';

jest.setTimeout(180_000);

const STACK = 'SensorsApp';

function synthesizeUserApp(): string {
  const outdir = mkdtempSync(path.join(tmpdir(), 'user-app-cdk-out-'));
  const app = new App({ outdir });
  new SensorIngestPipeline(new Stack(app, STACK), 'Ingest', {
    payloadMapping: { acceptArrays: true, readingsField: 'readings' },
    // The archive is read back at once: no batching window.
    archiver: Archiver.s3({ maxBatchingWindow: Duration.seconds(0) }),
  });
  app.synth();
  return outdir;
}

let run: LocalRun;
let browser: Browser;
let page: Page;
let kinesis: KinesisClient;
const warnings: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  run = await LocalRun.start({ cdkOut: synthesizeUserApp(), port: 0, pollIntervalMs: 200, onWarning: (m) => warnings.push(m) });
  kinesis = new KinesisClient({ region: REGION, credentials: CREDENTIALS, endpoint: run.endpoints.kinesis, requestHandler: new NodeHttpHandler() });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(run.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
});

afterAll(async () => {
  kinesis?.destroy();
  await browser?.close();
  await run?.stop();
});

const text = (selector: string) => page.locator(selector).innerText();
const rowValues = async () => (await page.locator('#readings tbody tr').allInnerTexts()).map((r) => r.split('\t')[1]);
const queryInvocations = () => run.snapshot().functions.find((f) => f.name === run.pageConfig.queryFunctionName)!.stats.invocations;

async function send(sensor: string, value: string, count: number, perRecord: number, format?: 'array' | 'batch'): Promise<string> {
  await page.locator('#submit-sensor').fill(sensor);
  await page.locator('#submit-value').fill(value);
  await page.locator('#submit-count').fill(String(count));
  await page.locator('#submit-per-record').fill(String(perRecord));
  if (format) await page.locator('#submit-format').selectOption(format);
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.waitForFunction(() => /^(Sent|Not sent)/.test(document.getElementById('submit-status')!.textContent ?? ''));
  return text('#submit-status');
}

/** Clicks Query until the list shows `expected` rows and the metric counts `expected` samples. */
async function queryUntil(sensor: string, expected: number): Promise<void> {
  await page.locator('#query-sensor').fill(sensor);
  await waitFor(async () => {
    await page.getByRole('button', { name: 'Query', exact: true }).click();
    await page.waitForFunction(() => !document.getElementById('query-status')!.textContent!.startsWith('Querying')
      && !document.getElementById('metric-status')!.textContent!.startsWith('Reading'));
    return (await page.locator('#readings tbody tr').count()) === expected && (await text('#metric-status')).includes(`: ${expected} sample`);
  }, `${expected} readings of ${sensor}`);
}

test('the page finds what it uses in an app with no outputs: stream, query function, dead-letter queue, payload mapping', async () => {
  const plan = run.plan;
  expect(plan.outputs).toEqual([]);
  const fn = (part: string) => plan.functions.find((f) => f.path.startsWith(`${STACK}/Ingest${part}`))!.name;
  expect(run.pageConfig).toMatchObject({
    streamName: plan.streams[0].name,
    queryFunctionName: fn('QueryFunction'),
    deadLetterQueueUrl: expect.stringContaining(plan.queues.find((q) => q.path.includes('DeadLetterQueue'))!.name),
    payload: { sensorIdField: 'sensorid', timestampField: 'timestamp', valueField: 'value', acceptArrays: true, readingsField: 'readings' },
    label: `local run of ${STACK}`,
  });
  expect(await text('#target')).toBe(`Connected to local run of ${STACK}: stream ${plan.streams[0].name}, query function ${fn('QueryFunction')}.`);
  // Both records of many readings the mapping takes are offered.
  expect(await page.locator('#submit-format option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['array', 'batch']);
  expect(warnings).toEqual([]);
});

test('many readings per record: a gateway batch and JSON arrays, every reading stored and listed, one archived record per record sent', async () => {
  expect(await send('gw-1', '20', 12, 4, 'batch')).toBe('Sent 12 readings of gw-1 in 3 records, 4 per record (gateway batches).');
  expect(await send('arr-1', '5', 10, 5, 'array')).toBe('Sent 10 readings of arr-1 in 2 records, 5 per record (JSON arrays).');
  // More per record than readings: one record.
  expect(await send('arr-2', '1', 3, 50, 'array')).toBe('Sent 3 readings of arr-2 in 1 record, 3 per record (JSON arrays).');

  await queryUntil('gw-1', 12);
  const values = (await rowValues()).map(Number);
  // Newest first: the values wave around 20, as sent.
  expect(values).toEqual(Array.from({ length: 12 }, (_, i) => Math.round((20 + Math.sin((11 - i) / 2)) * 100) / 100));
  expect(await text('#chart-summary')).toMatch(/^12 readings of gw-1 from /);
  await page.screenshot({ path: screenshotPath('page-batching.png'), fullPage: true });
  await queryUntil('arr-1', 10);
  await queryUntil('arr-2', 3);

  await run.waitUntilProcessed(6, 60_000);
  const bucket = run.plan.buckets.find((b) => !b.path.includes('AccessLogs'))!.name;
  const lines = await readArchive(run.endpoints.s3, bucket, (await run.listBucketObjects())[bucket]);
  const records = lines.map((l) => JSON.parse(l.payload!) as unknown);
  const batches = records.filter((r) => !Array.isArray(r)) as Array<{ sensorid: string; readings: unknown[] }>;
  const arrays = records.filter((r) => Array.isArray(r)) as Array<Array<{ sensorid: string }>>;
  expect(batches.map((b) => [b.sensorid, b.readings.length])).toEqual([['gw-1', 4], ['gw-1', 4], ['gw-1', 4]]);
  expect(arrays.map((a) => [a[0].sensorid, a.length]).sort()).toEqual([['arr-1', 5], ['arr-1', 5], ['arr-2', 3]]);
  expect(run.snapshot().queues.find((q) => q.path.includes('DeadLetterQueue'))!.sent).toBe(0);
});

test('a value that is no number cannot be sent as many readings', async () => {
  expect(await send('gw-2', 'warm', 5, 5, 'array')).toBe('Not sent: "warm" is no number to wave around: give a number for many readings');
});

test('the sensors seen are listed, non-ASCII ids as sent; picking one queries it', async () => {
  expect(await send('capteur-é', '7.5', 1, 1)).toMatch(/^Sent capteur-é = 7.5 at /);
  await waitFor(async () => {
    await page.getByRole('button', { name: 'Refresh the list' }).click();
    await page.waitForFunction(() => !document.getElementById('sensors-status')!.textContent!.startsWith('Listing'));
    return (await text('#sensors-status')) === '4 sensors seen.';
  }, 'four sensors listed');
  expect(await page.locator('#sensors button').allInnerTexts()).toEqual(['arr-1', 'arr-2', 'capteur-é', 'gw-1']);
  await page.locator('#sensors button', { hasText: 'capteur-é' }).click();
  await page.waitForFunction(() => (document.getElementById('query-status')!.textContent ?? '').startsWith('1 reading of capteur-é'));
  expect(await page.locator('#query-sensor').inputValue()).toBe('capteur-é');
  expect(await rowValues()).toEqual(['7.5']);
  expect(await page.locator('#sensors button[aria-current="true"]').allInnerTexts()).toEqual(['capteur-é']);
});

test('live mode follows the sensor without a click, and stops when turned off', async () => {
  await queryUntil('live-1', 0);
  const put = (values: number[]) => kinesis.send(new PutRecordsCommand({
    StreamName: run.pageConfig.streamName,
    Records: values.map((value, i) => ({
      PartitionKey: 'live-1',
      Data: Buffer.from(JSON.stringify({ sensorid: 'live-1', value, timestamp: new Date(Date.now() - 1000 + i).toISOString() })),
    })),
  }));
  await page.locator('#live-interval').selectOption('2000');
  await page.locator('#live').check();
  await put([1, 2, 3]);
  // No click: the refreshes find them.
  await page.waitForFunction(() => document.querySelectorAll('#readings tbody tr').length === 3
    && (document.getElementById('metric-status')!.textContent ?? '').includes(': 3 samples')
    && (document.getElementById('chart-summary')!.textContent ?? '').startsWith('3 readings of live-1')
    && Array.from(document.querySelectorAll('#sensors button')).some((b) => b.textContent === 'live-1'), undefined, { timeout: 60_000 });
  expect(await rowValues()).toEqual(['3', '2', '1']);
  expect(await text('#live-status')).toMatch(/^Live: refreshed at \d\d:\d\d:\d\d UTC, every 2 s\.$/);

  await page.locator('#live').uncheck();
  expect(await text('#live-status')).toBe('Live mode is off.');
  // A refresh in flight may still finish: count from a settled moment.
  await page.waitForFunction(() => !/^(Querying|Listing)/.test((document.getElementById('query-status')!.textContent ?? '') + (document.getElementById('sensors-status')!.textContent ?? '')));
  const refreshes = await page.evaluate(() => document.body.dataset.liveRefreshes);
  const invocations = queryInvocations();
  const processor = () => run.snapshot().mappings.find((m) => m.path.includes('Processor'))!;
  const read = processor().stats.recordsRead;
  await put([4, 5]);
  await waitFor(() => processor().stats.recordsRead >= read + 2 && processor().pending === 0, 'the two readings stored');
  // Three intervals with live mode off: nothing asked, nothing redrawn.
  await page.waitForTimeout(6_000);
  expect(queryInvocations()).toBe(invocations);
  expect(await page.evaluate(() => document.body.dataset.liveRefreshes)).toBe(refreshes);
  expect(await rowValues()).toEqual(['3', '2', '1']);
  // Turned on again, it catches up.
  await page.locator('#live').check();
  await page.waitForFunction(() => document.querySelectorAll('#readings tbody tr').length === 5, undefined, { timeout: 30_000 });
  await page.locator('#live').uncheck();
  expect(pageErrors).toEqual([]);
});

test('an identity that may not list metrics (a deployed stack\'s guest role without cloudwatch:ListMetrics) gets a hint, not a stack trace', async () => {
  const denied = await browser.newPage();
  try {
    await denied.route(`${run.endpoint}/**`, async (route) => {
      if (route.request().headers()['x-amz-target'] !== 'GraniteServiceVersion20100801.ListMetrics') return route.continue();
      await route.fulfill({
        status: 403,
        headers: { 'content-type': 'application/x-amz-json-1.0', 'access-control-allow-origin': '*', 'x-amzn-requestid': 'denied' },
        body: JSON.stringify({ __type: 'com.amazonaws.cloudwatch#AccessDenied', message: 'User is not authorized to perform: cloudwatch:ListMetrics' }),
      });
    });
    await denied.goto(run.url);
    await denied.waitForSelector('body[data-ready="true"]');
    await denied.waitForFunction(() => !(document.getElementById('sensors-status')!.textContent ?? '').startsWith('Listing'));
    expect(await denied.locator('#sensors-status').innerText()).toBe('This identity may not list metrics (it needs cloudwatch:ListMetrics): type a sensor id to query it.');
    expect(await denied.locator('#sensors button').count()).toBe(0);
  } finally {
    await denied.close();
  }
});
