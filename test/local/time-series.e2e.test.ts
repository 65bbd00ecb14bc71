/**
 * The packed table layout end to end, in the local run of the reference
 * deployment built with `TableLayout.packed()` and a retention: two days of
 * one sensor's readings put on the stream, then, through the shipped query
 * function, every reading paged back newest first and rollups at each
 * resolution equal to what the readings add up to; every item carries its
 * time to live (dynalite keeps items past it: it does not expire them, so
 * the attribute is what is checked); and the page's chart, with more
 * readings in its range than one page holds, draws hourly buckets.
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Browser } from 'playwright-core';
import { launchChromium, PACKED_REFERENCE_STACK, PACKED_RETENTION_DAYS, screenshotPath, synthesizePacked, waitFor } from './helpers';
import { CREDENTIALS } from '../../local/src';
import { LocalRun } from '../../local/src/runner/local-run';

jest.setTimeout(300_000);

const SENSOR = 'boiler-7';
const BASE = Date.UTC(2024, 4, 14, 22, 30);
/** A reading every two minutes for two days and a bit: more than one page of 1,000, over three days. */
const READINGS = Array.from({ length: 1_500 }, (_, i) => ({
  sensorid: SENSOR,
  timestamp: new Date(BASE + i * 120_000 + (i % 7) * 1_000).toISOString(),
  value: (i * 37) % 101 - 50,
}));

let run: LocalRun;
let lambda: LambdaClient;
const warnings: string[] = [];

beforeAll(async () => {
  run = await LocalRun.start({
    cdkOut: synthesizePacked(), stacks: [PACKED_REFERENCE_STACK], port: 0, pollIntervalMs: 100, onWarning: (m) => warnings.push(m),
  });
  lambda = new LambdaClient({ region: run.region, credentials: CREDENTIALS, endpoint: run.endpoint });
  const stream = run.plan.streams[0].name;
  // kinesalite speaks HTTP/1.1 only.
  const kinesis = new KinesisClient({
    region: run.region, credentials: CREDENTIALS, endpoint: run.endpoints.kinesis, requestHandler: new NodeHttpHandler(),
  });
  // Out of order, as devices that reconnect send them.
  const shuffled = [...READINGS].sort((a, b) => ((a.value * 31 + a.timestamp.length) % 5) - ((b.value * 31 + b.timestamp.length) % 5));
  for (let i = 0; i < shuffled.length; i += 500) {
    await kinesis.send(new PutRecordsCommand({
      StreamName: stream,
      Records: shuffled.slice(i, i + 500).map((r) => ({ Data: Buffer.from(JSON.stringify(r)), PartitionKey: r.sensorid })),
    }));
  }
  kinesis.destroy();
  await run.waitUntilProcessed(READINGS.length, 240_000, stream);
});

afterAll(async () => {
  lambda?.destroy();
  await run?.stop();
});

async function invokeQuery(input: Record<string, unknown>): Promise<any> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: run.pageConfig.queryFunctionName, Payload: Buffer.from(JSON.stringify(input)) }));
  return JSON.parse(Buffer.from(out.Payload!).toString('utf8'));
}

function bucketsOf(width: number) {
  const buckets = new Map<number, typeof READINGS>();
  for (const r of READINGS) {
    const start = Math.floor(Date.parse(r.timestamp) / width) * width;
    buckets.set(start, [...(buckets.get(start) ?? []), r]);
  }
  return [...buckets.entries()].sort(([a], [b]) => b - a).map(([start, list]) => ({
    timestamp: new Date(start).toISOString(),
    count: list.length,
    sum: list.reduce((n, r) => n + r.value, 0),
    min: Math.min(...list.map((r) => r.value)),
    max: Math.max(...list.map((r) => r.value)),
    first: list.map((r) => r.timestamp).sort()[0],
    last: list.map((r) => r.timestamp).sort().reverse()[0],
  }));
}

test('every reading paged back newest first; rollups at 1m, 1h and 1d add up to the readings', async () => {
  const items: unknown[] = [];
  let nextToken: string | undefined;
  do {
    const answer = await invokeQuery({ operation: 'query', sensorid: SENSOR, limit: 400, nextToken });
    expect(answer.statusCode).toBe(200);
    // The reference's shape too, row for row.
    expect(answer.Items).toHaveLength(answer.items.length);
    items.push(...answer.items);
    nextToken = answer.nextToken;
  } while (nextToken);
  expect(items).toEqual([...READINGS].reverse().map((r) => ({ timestamp: r.timestamp, value: r.value })));

  const days = await invokeQuery({ sensorid: SENSOR, resolution: '1d', limit: 1000 });
  expect(days.items).toEqual(bucketsOf(86_400_000));
  const hours = await invokeQuery({ sensorid: SENSOR, resolution: '1h', limit: 1000 });
  expect(hours.items).toEqual(bucketsOf(3_600_000));
  const from = new Date(BASE + 3_600_000).toISOString();
  const to = new Date(BASE + 5 * 3_600_000).toISOString();
  const minutes = await invokeQuery({ sensorid: SENSOR, resolution: '1m', from, to, limit: 1000 });
  expect(minutes.items).toEqual(bucketsOf(60_000).filter((b) => b.timestamp >= from && b.timestamp <= to));
  expect(await invokeQuery({ sensorid: SENSOR, resolution: '1w' })).toEqual({ statusCode: 400, error: 'resolution must be one of 1m, 1h, 1d, or left out for raw readings' });
});

test('every item carries its time to live: the newest time it covers plus the retention', async () => {
  const dynamo = new DynamoDBClient({ region: run.region, credentials: CREDENTIALS, endpoint: run.endpoints.dynamodb });
  const table = run.plan.tables.find((t) => t.path.includes('PipelineTable'))!;
  const out = await dynamo.send(new ScanCommand({ TableName: table.name }));
  dynamo.destroy();
  const widths: Record<string, number> = { P: 60_000, H: 3_600_000, D: 86_400_000 };
  expect(out.Items!.length).toBeGreaterThan(1_000);
  for (const item of out.Items!) {
    const key = item.Timestamp.S!;
    const end = Date.parse(key.slice(2, 26)) + widths[key[0]];
    expect({ key, ttl: Number(item.ExpiresAt?.N) }).toEqual({ key, ttl: Math.ceil(end / 1000) + PACKED_RETENTION_DAYS * 86_400 });
  }
});

test('the page charts more readings than one page holds as hourly buckets', async () => {
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(run.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    await page.locator('#query-sensor').fill(SENSOR);
    await page.getByRole('button', { name: 'Query', exact: true }).click();
    const summary = await waitFor(async () => {
      const text = await page.locator('#chart-summary').innerText();
      return text.startsWith('Loading') ? undefined : text;
    }, 'the chart', 60_000);
    const hours = bucketsOf(3_600_000);
    expect(summary).toBe(`${hours.length} 1h buckets of ${SENSOR} from ${hours[hours.length - 1].timestamp} to ${hours[0].timestamp}: `
      + `the mean, least and greatest of ${READINGS.length} readings.`);
    expect(await page.locator('#chart canvas').count()).toBe(1);
    await page.screenshot({ path: screenshotPath('page-rollups.png'), fullPage: true });
  } finally {
    await browser?.close();
  }
  expect(warnings).toEqual([]);
});
