/// <reference lib="dom" />
/**
 * The test page: submits a reading to the stream, lists and charts a sensor's
 * readings through the query function (time range and pages), shows the
 * processor's metric for the sensor and peeks at the dead-letter queue.
 * One code path for the local run and a deployed stack: the AWS SDK for
 * JavaScript v3 and a config.json that says which endpoint and credentials.
 */
import { CloudWatchClient, GetMetricDataCommand, MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { fromCognitoIdentityPool } from '@aws-sdk/credential-providers';
import uPlot from 'uplot';
import { metricDimension } from '../../src/metric-dimension';
import 'uplot/dist/uPlot.min.css';
import './style.css';

interface PageConfig {
  region: string;
  streamName: string;
  queryFunctionName: string;
  deadLetterQueueUrl?: string;
  metric: { namespace: string; name: string; dimension: string };
  identityPoolId?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  label?: string;
}

interface Reading {
  timestamp: string;
  value: number;
}

interface QueryAnswer {
  statusCode: number;
  error?: string;
  sensorId?: string;
  items?: Reading[];
  nextToken?: string;
}

const PAGE_SIZE = 20;
/** The query function's largest page: the chart asks for this many at once. */
const CHART_LIMIT = 1000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function say(id: string, text: string, error = false): void {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle('error', error);
}

function cell(row: HTMLTableRowElement, text: string, className?: string): void {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

function fillTable(id: string, rows: string[][], classes: Array<string | undefined> = []): void {
  const body = $<HTMLTableElement>(id).tBodies[0];
  body.replaceChildren();
  for (const values of rows) {
    const row = body.insertRow();
    values.forEach((v, i) => cell(row, v, classes[i]));
  }
}

function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

async function main(): Promise<void> {
  let config: PageConfig;
  try {
    const answer = await fetch('config.json', { cache: 'no-store' });
    if (!answer.ok) throw new Error(`config.json answered ${answer.status}`);
    config = await answer.json() as PageConfig;
  } catch (err) {
    say('target', `No configuration: ${(err as Error).message}. Serve config.json beside this page.`, true);
    return;
  }
  const credentials = config.credentials
    ? config.credentials
    : config.identityPoolId
      ? fromCognitoIdentityPool({ identityPoolId: config.identityPoolId, clientConfig: { region: config.region } })
      : undefined;
  if (!credentials) {
    say('target', 'config.json names neither an identity pool nor local credentials.', true);
    return;
  }
  const common = { region: config.region, credentials, ...(config.endpoint ? { endpoint: config.endpoint } : {}) };
  const kinesis = new KinesisClient(common);
  const lambda = new LambdaClient(common);
  const sqs = new SQSClient(common);
  const cloudwatch = new CloudWatchClient(common);
  say('target', `Connected to ${config.label ?? config.region}: stream ${config.streamName}, query function ${config.queryFunctionName}.`);

  // Submit: one record, as the reference page sends it (the value as typed).
  $<HTMLFormElement>('submit-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const sensorid = $<HTMLInputElement>('submit-sensor').value.trim();
    const value = $<HTMLInputElement>('submit-value').value.trim();
    const reading = { sensorid, value, timestamp: new Date().toISOString() };
    say('submit-status', 'Sending…');
    try {
      const out = await kinesis.send(new PutRecordCommand({
        StreamName: config.streamName,
        PartitionKey: sensorid || 'unknown',
        Data: new TextEncoder().encode(JSON.stringify(reading)),
      }));
      say('submit-status', `Sent ${sensorid} = ${value} at ${reading.timestamp} (${out.ShardId}, sequence number ${out.SequenceNumber}).`);
      if (!$<HTMLInputElement>('query-sensor').value) $<HTMLInputElement>('query-sensor').value = sensorid;
    } catch (err) {
      say('submit-status', `Not sent: ${(err as Error).message}`, true);
    }
  });

  async function query(input: Record<string, unknown>): Promise<QueryAnswer> {
    const out = await lambda.send(new InvokeCommand({
      FunctionName: config.queryFunctionName,
      Payload: new TextEncoder().encode(JSON.stringify(input)),
    }));
    const text = new TextDecoder().decode(out.Payload ?? new Uint8Array());
    if (out.FunctionError) throw new Error(`the query function failed: ${text}`);
    return JSON.parse(text) as QueryAnswer;
  }

  // Pages: the tokens that start each page seen so far; the first page has none.
  let current: { sensorId: string; from?: string; to?: string } | undefined;
  let tokens: Array<string | undefined> = [undefined];
  let page = 0;
  let nextToken: string | undefined;

  async function showPage(): Promise<void> {
    if (!current) return;
    say('query-status', 'Querying…');
    try {
      const answer = await query({ sensorid: current.sensorId, limit: PAGE_SIZE, from: current.from, to: current.to, nextToken: tokens[page] });
      if (answer.statusCode !== 200) {
        say('query-status', `The query function refused: ${answer.error ?? answer.statusCode}`, true);
        return;
      }
      const items = answer.items ?? [];
      fillTable('readings', items.map((r) => [r.timestamp, String(r.value)]), [undefined, 'number']);
      $('readings-caption').textContent = `Readings of ${current.sensorId}, newest first${page ? `, page ${page + 1}` : ''}`;
      nextToken = answer.nextToken;
      $<HTMLButtonElement>('older').disabled = !nextToken;
      $<HTMLButtonElement>('newer').disabled = page === 0;
      $('page-number').textContent = `Page ${page + 1}`;
      say('query-status', items.length ? `${items.length} reading${items.length === 1 ? '' : 's'} of ${current.sensorId}.` : `No readings of ${current.sensorId} in this range.`);
    } catch (err) {
      say('query-status', `Query failed: ${(err as Error).message}`, true);
    }
  }

  $<HTMLButtonElement>('older').addEventListener('click', () => {
    if (!nextToken) return;
    tokens = tokens.slice(0, page + 1);
    tokens.push(nextToken);
    page++;
    void showPage();
  });
  $<HTMLButtonElement>('newer').addEventListener('click', () => {
    if (page === 0) return;
    page--;
    void showPage();
  });

  $<HTMLFormElement>('query-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const sensorId = $<HTMLInputElement>('query-sensor').value.trim();
    current = {
      sensorId,
      from: localInputToIso($<HTMLInputElement>('query-from').value),
      to: localInputToIso($<HTMLInputElement>('query-to').value),
    };
    tokens = [undefined];
    page = 0;
    await Promise.all([showPage(), drawChart(current), showMetric(current)]);
  });

  /** A bucket of rollups: its start, and the count, sum, least and greatest value of its readings. */
  interface Bucket {
    timestamp: string;
    count: number;
    sum: number;
    min: number;
    max: number;
  }

  interface RollupAnswer {
    statusCode: number;
    error?: string;
    items?: Bucket[];
    nextToken?: string;
  }

  let chart: uPlot | undefined;
  type Series = { label: string; values: number[]; stroke: string; width: number };
  function plot(label: string, xs: number[], series: Series[], points: boolean): void {
    const container = $('chart');
    chart?.destroy();
    chart = new uPlot({
      width: Math.max(240, container.clientWidth),
      height: 220,
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: s.width, points: { show: points } }))],
      axes: [{}, { label }],
      scales: { x: { time: true } },
    }, [xs, ...series.map((s) => s.values)], container);
  }

  /**
   * More readings in the range than one page holds: the rollups at the finest
   * resolution whose buckets of the range fit in one page, when the table
   * keeps rollups. Undefined when it does not (the query answers 400).
   */
  async function rollupsOf(q: { sensorId: string; from?: string; to?: string }): Promise<{ resolution: string; items: Bucket[] } | undefined> {
    for (const resolution of ['1m', '1h', '1d']) {
      const answer = await query({ sensorid: q.sensorId, limit: CHART_LIMIT, from: q.from, to: q.to, resolution }) as RollupAnswer;
      if (answer.statusCode === 400) return undefined;
      if (answer.statusCode !== 200) throw new Error(answer.error ?? `the query function answered ${answer.statusCode}`);
      if (!answer.nextToken || resolution === '1d') return { resolution, items: answer.items ?? [] };
    }
    return undefined;
  }

  async function drawChart(q: { sensorId: string; from?: string; to?: string }): Promise<void> {
    $('chart-summary').textContent = 'Loading the chart…';
    try {
      const answer = await query({ sensorid: q.sensorId, limit: CHART_LIMIT, from: q.from, to: q.to });
      const rollups = answer.nextToken ? await rollupsOf(q) : undefined;
      if (rollups && rollups.items.length > 0) {
        const buckets = rollups.items.slice().reverse();
        const xs = buckets.map((b) => Date.parse(b.timestamp) / 1000);
        plot('value', xs, [
          { label: `${q.sensorId} max`, values: buckets.map((b) => b.max), stroke: '#9bbde0', width: 1 },
          { label: `${q.sensorId} mean`, values: buckets.map((b) => b.sum / b.count), stroke: '#0b5cad', width: 2 },
          { label: `${q.sensorId} min`, values: buckets.map((b) => b.min), stroke: '#9bbde0', width: 1 },
        ], buckets.length < 200);
        const readings = buckets.reduce((n, b) => n + b.count, 0);
        $('chart-summary').textContent = `${buckets.length} ${rollups.resolution} buckets of ${q.sensorId} from ${buckets[0].timestamp} to `
          + `${buckets[buckets.length - 1].timestamp}: the mean, least and greatest of ${readings} readings.`;
        return;
      }
      const items = (answer.items ?? []).slice().reverse();
      const xs = items.map((r) => Date.parse(r.timestamp) / 1000);
      plot('value', xs, [{ label: q.sensorId, values: items.map((r) => r.value), stroke: '#0b5cad', width: 2 }], items.length < 200);
      const range = items.length ? `from ${items[0].timestamp} to ${items[items.length - 1].timestamp}` : 'none in this range';
      $('chart-summary').textContent = `${items.length} reading${items.length === 1 ? '' : 's'} of ${q.sensorId} ${range}${answer.nextToken ? ` (the newest ${CHART_LIMIT})` : ''}.`;
    } catch (err) {
      $('chart-summary').textContent = `No chart: ${(err as Error).message}`;
    }
  }
  window.addEventListener('resize', () => chart?.setSize({ width: Math.max(240, $('chart').clientWidth), height: 220 }));

  async function showMetric(q: { sensorId: string; from?: string; to?: string }): Promise<void> {
    // The metric is stamped with the readings' event time, per minute.
    const end = q.to ? Date.parse(q.to) + 60_000 : Date.now() + 5 * 60_000;
    const start = q.from ? Date.parse(q.from) : end - 3 * 3_600_000;
    const metric = {
      Namespace: config.metric.namespace,
      MetricName: config.metric.name,
      // The processor names each sensor in its metric by an ASCII form of its id.
      Dimensions: [{ Name: config.metric.dimension, Value: metricDimension(q.sensorId) ?? q.sensorId }],
    };
    const queries: MetricDataQuery[] = [
      { Id: 'samples', MetricStat: { Metric: metric, Period: 60, Stat: 'SampleCount' } },
      { Id: 'average', MetricStat: { Metric: metric, Period: 60, Stat: 'Average' } },
    ];
    say('metric-status', 'Reading the metric…');
    try {
      const out = await cloudwatch.send(new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: new Date(Math.floor(start / 60_000) * 60_000),
        EndTime: new Date(end),
        ScanBy: 'TimestampDescending',
      }));
      const samples = out.MetricDataResults?.find((r) => r.Id === 'samples');
      const average = out.MetricDataResults?.find((r) => r.Id === 'average');
      const averageAt = new Map((average?.Timestamps ?? []).map((t, i) => [t.getTime(), average!.Values![i]]));
      const rows = (samples?.Timestamps ?? []).map((t, i) => [
        t.toISOString().slice(0, 16).replace('T', ' '),
        String(samples!.Values![i]),
        (averageAt.get(t.getTime()) ?? 0).toFixed(2),
      ]);
      fillTable('metric-table', rows, [undefined, 'number', 'number']);
      const total = (samples?.Values ?? []).reduce((a, b) => a + b, 0);
      $('metric-caption').textContent = `${config.metric.namespace} / ${config.metric.name}, ${config.metric.dimension} = ${q.sensorId}, per minute`;
      say('metric-status', `${config.metric.name} for ${q.sensorId}: ${total} sample${total === 1 ? '' : 's'} in ${rows.length} minute${rows.length === 1 ? '' : 's'}.`);
    } catch (err) {
      say('metric-status', `The metric could not be read: ${(err as Error).message}`, true);
    }
  }

  async function peekDeadLetters(): Promise<void> {
    if (!config.deadLetterQueueUrl) {
      say('dead-status', 'config.json names no dead-letter queue.', true);
      return;
    }
    say('dead-status', 'Peeking…');
    try {
      // VisibilityTimeout 0: the messages stay in the queue, visible to everyone.
      const [received, attributes] = await Promise.all([
        sqs.send(new ReceiveMessageCommand({
          QueueUrl: config.deadLetterQueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['SentTimestamp'],
        })),
        sqs.send(new GetQueueAttributesCommand({ QueueUrl: config.deadLetterQueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] })),
      ]);
      const rows = (received.Messages ?? []).map((m) => {
        let letter: { reason?: string; partitionKey?: string; payload?: string; payloadBase64?: string; approximateArrivalTimestamp?: string } = {};
        try {
          letter = JSON.parse(m.Body ?? '{}');
        } catch {
          letter = { payload: m.Body };
        }
        const payload = letter.payload ?? (letter.payloadBase64 ? `(base64) ${letter.payloadBase64}` : '');
        const arrived = letter.approximateArrivalTimestamp ?? new Date(Number(m.Attributes?.SentTimestamp ?? 0)).toISOString();
        return { arrived, cells: [arrived, letter.reason ?? '(no reason given)', letter.partitionKey ?? '', payload.length > 300 ? `${payload.slice(0, 300)}…` : payload] };
      }).sort((a, b) => b.arrived.localeCompare(a.arrived));
      fillTable('dead-letters', rows.map((r) => r.cells), [undefined, undefined, undefined, 'payload']);
      const total = Number(attributes.Attributes?.ApproximateNumberOfMessages ?? rows.length);
      say('dead-status', rows.length ? `${rows.length} of about ${total} dead letter${total === 1 ? '' : 's'}.` : 'The dead-letter queue is empty.');
    } catch (err) {
      say('dead-status', `The queue could not be read: ${(err as Error).message}`, true);
    }
  }
  $<HTMLButtonElement>('dead-refresh').addEventListener('click', () => void peekDeadLetters());

  document.body.dataset.ready = 'true';
}

void main();
