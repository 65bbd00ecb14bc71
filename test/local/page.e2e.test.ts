/**
 * End to end: the example app's synthesized template runs locally and the test
 * page drives it in headless Chromium, as a person would: readings for two
 * sensors, queried back into the list, the chart and the metric; a malformed
 * reading among the dead letters with its reason; every record in the archive.
 */
import { copyFileSync, statSync } from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, readArchive, REFERENCE_STACK, screenshotPath, synthesizeExample, waitFor } from './helpers';
import { LocalRun } from '../../local/src/runner/local-run';

jest.setTimeout(180_000);

let run: LocalRun;
let browser: Browser;
let page: Page;
const warnings: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  run = await LocalRun.start({
    cdkOut: synthesizeExample(), stacks: [REFERENCE_STACK], port: 0, pollIntervalMs: 200, onWarning: (m) => warnings.push(m),
  });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(run.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
});

afterAll(async () => {
  await browser?.close();
  await run?.stop();
});

const text = (selector: string) => page.locator(selector).innerText();

async function submit(sensor: string, value: string): Promise<void> {
  await page.getByLabel('Sensor id').first().fill(sensor);
  await page.getByLabel('Value').fill(value);
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.waitForFunction((s) => document.getElementById('submit-status')!.textContent!.startsWith(`Sent ${s}`), `${sensor} = ${value}`);
}

/** Queries until the list shows `expected` rows; the metric and the chart count `total` readings. */
async function query(sensor: string, expected: number, total = expected): Promise<void> {
  await page.locator('#query-sensor').fill(sensor);
  // The processor stores readings a moment after they are put: query until they are all there.
  await waitFor(async () => {
    await page.getByRole('button', { name: 'Query', exact: true }).click();
    await page.waitForFunction(() => !document.getElementById('query-status')!.textContent!.startsWith('Querying')
      && !document.getElementById('metric-status')!.textContent!.startsWith('Reading')
      && !document.getElementById('chart-summary')!.textContent!.startsWith('Loading')
      && !document.getElementById('sensors-status')!.textContent!.startsWith('Listing'));
    const rows = await page.locator('#readings tbody tr').count();
    const metric = await text('#metric-status');
    const chart = await text('#chart-summary');
    return rows === expected && metric.includes(`: ${total} sample`) && chart.startsWith(`${total} reading`);
  }, `${expected} readings of ${sensor} listed, ${total} in the metric and the chart`, 60_000);
}

test('readings for two sensors are listed, charted and counted in the metric; a malformed one is dead-lettered with its reason; the archive holds every record', async () => {
  const kitchen = ['21.5', '22', '22.75'];
  const garage = ['4.5', '3.25'];
  for (const v of kitchen) await submit('kitchen', v);
  for (const v of garage) await submit('garage', v);
  await submit('garage', 'cold');

  await query('kitchen', 3);
  const rows = await page.locator('#readings tbody tr').allInnerTexts();
  // Newest first, values as sent.
  expect(rows.map((r) => r.split('\t')[1])).toEqual(['22.75', '22', '21.5']);
  expect(rows.every((r) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/.test(r))).toBe(true);
  // Three readings a moment apart: one minute of event time, or two when they straddle a minute.
  expect(await text('#metric-status')).toMatch(/^SensorData for kitchen: 3 samples in (1 minute|2 minutes)\.$/);
  expect(await page.locator('#chart canvas').count()).toBe(1);
  await page.screenshot({ path: screenshotPath('page-kitchen.png'), fullPage: true });

  await query('garage', 2);
  expect((await page.locator('#readings tbody tr').allInnerTexts()).map((r) => r.split('\t')[1])).toEqual(['3.25', '4.5']);
  expect(await text('#metric-status')).toMatch(/^SensorData for garage: 2 samples in (1 minute|2 minutes)\.$/);

  await waitFor(async () => {
    await page.getByRole('button', { name: 'Peek at the dead-letter queue' }).click();
    await page.waitForFunction(() => !document.getElementById('dead-status')!.textContent!.startsWith('Peeking'));
    return (await page.locator('#dead-letters tbody tr').count()) === 1;
  }, 'the dead letter on the page');
  const [arrived, reason, key, payload] = (await page.locator('#dead-letters tbody tr').first().innerText()).split('\t');
  expect(arrived).toMatch(/^\d{4}-/);
  expect(reason).toContain('invalid field "value": "cold"');
  expect(key).toBe('garage');
  expect(JSON.parse(payload)).toMatchObject({ sensorid: 'garage', value: 'cold' });
  await page.screenshot({ path: screenshotPath('page-garage-dead-letters.png'), fullPage: true });

  // Every record, the malformed one too, is in the archive.
  await run.waitUntilProcessed(6, 60_000);
  const bucket = run.plan.buckets[0].name;
  const keys = (await run.listBucketObjects())[bucket];
  const lines = await readArchive(run.endpoints.s3, bucket, keys);
  const archived = lines.map((l) => JSON.parse(l.payload ?? 'null') as { sensorid?: string; value?: unknown } | null);
  expect(archived.map((d) => `${d?.sensorid}=${d?.value}`).sort()).toEqual(
    ['kitchen=21.5', 'kitchen=22', 'kitchen=22.75', 'garage=4.5', 'garage=3.25', 'garage=cold'].sort(),
  );
  expect(new Set(lines.map((l) => l.sequenceNumber)).size).toBe(6);
  expect(pageErrors).toEqual([]);
  expect(warnings).toEqual([]);
});

test('the reference deployment takes one reading per record: the page offers no batching, and says why', async () => {
  expect(await page.locator('#submit-per-record').isDisabled()).toBe(true);
  expect(await page.locator('#submit-format').isDisabled()).toBe(true);
  expect(await text('#batching-note')).toBe('This pipeline takes one reading per record: its payload mapping accepts no arrays (acceptArrays) and no gateway batches (readingsField).');
});

test('paging and the time range go through the query function', async () => {
  for (let i = 0; i < 23; i++) await submit('attic', String(i));
  await query('attic', 20, 23);
  expect(await text('#page-number')).toBe('Page 1');
  await page.getByRole('button', { name: 'Older' }).click();
  await page.waitForFunction(() => document.getElementById('page-number')!.textContent === 'Page 2');
  expect((await page.locator('#readings tbody tr').allInnerTexts()).map((r) => r.split('\t')[1])).toEqual(['2', '1', '0']);
  expect(await page.getByRole('button', { name: 'Older' }).isDisabled()).toBe(true);
  await page.getByRole('button', { name: 'Newer' }).click();
  await page.waitForFunction(() => document.getElementById('page-number')!.textContent === 'Page 1');

  // A range that ends before the readings: none listed.
  await page.locator('#query-to').fill('2001-01-01T00:00:00');
  await page.getByRole('button', { name: 'Query', exact: true }).click();
  await page.waitForFunction(() => (document.getElementById('query-status')!.textContent ?? '').startsWith('No readings of attic'));
  await page.locator('#query-to').fill('');
});

test('works at phone width: nothing wider than the screen', async () => {
  const phone = await browser.newPage({ viewport: { width: 375, height: 812 }, isMobile: true });
  try {
    await phone.goto(run.url);
    await phone.waitForSelector('body[data-ready="true"]');
    await phone.locator('#query-sensor').fill('kitchen');
    await phone.getByRole('button', { name: 'Query', exact: true }).click();
    await phone.waitForFunction(() => (document.getElementById('chart-summary')!.textContent ?? '').startsWith('3 reading'));
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await phone.screenshot({ path: screenshotPath('page-phone.png'), fullPage: true });
  } finally {
    await phone.close();
  }
});

test('opened at localhost, the page calls the run\'s endpoints at 127.0.0.1, across origins', async () => {
  const elsewhere = await browser.newPage();
  const errors: string[] = [];
  elsewhere.on('pageerror', (e) => errors.push(e.message));
  try {
    await elsewhere.goto(run.url.replace('127.0.0.1', 'localhost'));
    await elsewhere.waitForSelector('body[data-ready="true"]');
    await elsewhere.locator('#query-sensor').fill('kitchen');
    await elsewhere.getByRole('button', { name: 'Query', exact: true }).click();
    await elsewhere.waitForFunction(() => (document.getElementById('chart-summary')!.textContent ?? '').startsWith('3 reading'));
    expect(errors).toEqual([]);
  } finally {
    await elsewhere.close();
  }
});

test('a page of another origin can neither read the run\'s data nor run its functions, through the gateway or around it', async () => {
  const site = http.createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>another site</title>');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const invocations = () => run.snapshot().functions.reduce((n, f) => n + f.stats.invocations, 0);
  const other = await browser.newPage();
  try {
    await other.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`);
    const before = invocations();
    const functionName = run.snapshot().functions[0].name;
    const outcome = await other.evaluate(async ({ gateway, dynamodb, fn }) => {
      const attempt = (p: Promise<Response>) => p.then((r) => `answered ${r.status}`, () => 'refused');
      return {
        config: await attempt(fetch(`${gateway}/config.json`)),
        tables: await attempt(fetch(dynamodb, {
          method: 'POST', headers: { 'x-amz-target': 'DynamoDB_20120810.ListTables', 'content-type': 'application/x-amz-json-1.0' }, body: '{}',
        })),
        // A simple request is sent without a preflight; its answer is opaque to the page.
        invoke: await attempt(fetch(`${gateway}/2015-03-31/functions/${fn}/invocations`, { method: 'POST', mode: 'no-cors', body: '{"Records":[]}' })),
      };
    }, { gateway: run.endpoint, dynamodb: run.endpoints.dynamodb, fn: functionName });
    expect(outcome).toEqual({ config: 'refused', tables: 'refused', invoke: 'answered 0' });
    expect(invocations()).toBe(before);
  } finally {
    await other.close();
    await new Promise((resolve) => site.close(resolve));
  }
});

test('the README screenshot is small', () => {
  const committed = path.resolve(__dirname, '..', '..', 'local', 'page', 'screenshot.png');
  // Refreshed by hand from test-reports/screenshots/page-kitchen.png when the page changes.
  if (process.env.UPDATE_README_SCREENSHOT) copyFileSync(screenshotPath('page-kitchen.png'), committed);
  expect(statSync(committed).size).toBeLessThan(512 * 1024);
});
