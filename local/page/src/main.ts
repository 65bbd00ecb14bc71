/// <reference lib="dom" />
/**
 * The test page: submits a reading to the stream (or many, batched in records
 * as a device or a gateway batches them), lists the sensors seen, lists and
 * charts a sensor's readings through the query function (time range and
 * pages), shows the processor's metric for the sensor, refreshes all of these
 * live, and peeks at the dead-letter queue.
 * One code path for the local run and a deployed stack: the AWS SDK for
 * JavaScript v3 and a config.json that says which endpoint and credentials.
 */
import { CloudWatchClient, GetMetricDataCommand, ListMetricsCommand, MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import { KinesisClient, PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { fromCognitoIdentityPool } from '@aws-sdk/credential-providers';
import uPlot from 'uplot';
import { metricDimension } from '../../src/metric-dimension';
import 'uplot/dist/uPlot.min.css';
import './style.css';

/** How the pipeline reads a record: a reading's fields, and the records of many readings it takes. */
interface PayloadConfig {
  sensorIdField: string;
  timestampField: string;
  valueField: string;
  acceptArrays: boolean;
  readingsField: string;
}

interface PageConfig {
  region: string;
  streamName: string;
  queryFunctionName: string;
  deadLetterQueueUrl?: string;
  metric: { namespace: string; name: string; dimension: string };
  payload?: PayloadConfig;
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
/** Kinesis PutRecords takes 500 records at most. */
const PUT_RECORDS_LIMIT = 500;
/** Milliseconds between the readings of one send. */
const READING_STEP_MS = 100;
/** ListMetrics pages the page follows at most (500 metrics each). */
const SENSOR_PAGES = 10;
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

/**
 * The sensor id of a metric's dimension value: the processor percent-encodes
 * `%`, control and non-ASCII characters (UTF-8 bytes), and nothing else.
 */
function sensorIdOfDimension(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
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

  // The records of many readings the pipeline takes, as its payload mapping says.
  const mapping: PayloadConfig = config.payload ?? {
    sensorIdField: 'sensorid', timestampField: 'timestamp', valueField: 'value', acceptArrays: false, readingsField: '',
  };
  const formats: Array<{ value: 'array' | 'batch'; label: string }> = [];
  if (mapping.acceptArrays) formats.push({ value: 'array', label: 'JSON array of readings' });
  if (mapping.readingsField) formats.push({ value: 'batch', label: `gateway batch: {"${mapping.sensorIdField}": …, "${mapping.readingsField}": [...]}` });
  const formatSelect = $<HTMLSelectElement>('submit-format');
  for (const f of formats) formatSelect.add(new Option(f.label, f.value));
  const perRecordInput = $<HTMLInputElement>('submit-per-record');
  if (formats.length === 0) {
    formatSelect.add(new Option('one reading per record', ''));
    formatSelect.disabled = true;
    perRecordInput.disabled = true;
    $('batching-note').textContent = config.payload
      ? 'This pipeline takes one reading per record: its payload mapping accepts no arrays (acceptArrays) and no gateway batches (readingsField).'
      : 'config.json does not say which records of many readings the pipeline takes: one reading per record.';
  } else {
    $('batching-note').textContent = 'Many readings per record: fewer records on the stream (a shard takes 1,000 records/s), each reading still stored alone.';
  }

  /** The newest timestamp sent per sensor: every reading sent gets a later one, so that none replaces another in the table. */
  const lastSent = new Map<string, number>();

  /** `count` readings of a sensor, values waving around `base`, READING_STEP_MS apart, the newest now (or just after the last sent). */
  function readingsOf(sensorId: string, base: number, count: number): Array<{ timestamp: string; value: number }> {
    const first = Math.max(Date.now() - (count - 1) * READING_STEP_MS, (lastSent.get(sensorId) ?? 0) + 1);
    lastSent.set(sensorId, first + (count - 1) * READING_STEP_MS);
    return Array.from({ length: count }, (_, i) => ({
      timestamp: new Date(first + i * READING_STEP_MS).toISOString(),
      value: Math.round((base + Math.sin(i / 2)) * 100) / 100,
    }));
  }

  /** Many readings, `perRecord` to a record in the format chosen, put with PutRecords. */
  async function sendMany(sensorId: string, base: number, count: number, perRecord: number, format: string): Promise<string> {
    const readings = readingsOf(sensorId, base, count);
    const f = mapping;
    const data: string[] = [];
    for (let i = 0; i < readings.length; i += perRecord) {
      const group = readings.slice(i, i + perRecord);
      if (perRecord === 1) {
        data.push(JSON.stringify({ [f.sensorIdField]: sensorId, [f.valueField]: group[0].value, [f.timestampField]: group[0].timestamp }));
      } else if (format === 'batch') {
        // A gateway's batch: the sensor id once, shared by its readings.
        const readingsOfBatch = group.map((r) => ({ [f.valueField]: r.value, [f.timestampField]: r.timestamp }));
        data.push(JSON.stringify({ [f.sensorIdField]: sensorId, [f.readingsField]: readingsOfBatch }));
      } else {
        data.push(JSON.stringify(group.map((r) => ({ [f.sensorIdField]: sensorId, [f.valueField]: r.value, [f.timestampField]: r.timestamp }))));
      }
    }
    let failed = 0;
    for (let i = 0; i < data.length; i += PUT_RECORDS_LIMIT) {
      const out = await kinesis.send(new PutRecordsCommand({
        StreamName: config.streamName,
        Records: data.slice(i, i + PUT_RECORDS_LIMIT).map((d) => ({ PartitionKey: sensorId, Data: new TextEncoder().encode(d) })),
      }));
      failed += out.FailedRecordCount ?? 0;
    }
    const shape = perRecord === 1 ? 'one per record' : `${perRecord} per record${format === 'batch' ? ' (gateway batches)' : ' (JSON arrays)'}`;
    const refused = failed ? `; the stream refused ${failed} record${failed === 1 ? '' : 's'}` : '';
    return `Sent ${count} readings of ${sensorId} in ${data.length} record${data.length === 1 ? '' : 's'}, ${shape}${refused}.`;
  }

  // Submit: one record, as the reference page sends it (the value as typed); or many readings in records of many.
  $<HTMLFormElement>('submit-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const sensorid = $<HTMLInputElement>('submit-sensor').value.trim();
    const value = $<HTMLInputElement>('submit-value').value.trim();
    const count = Math.max(1, Math.floor(Number($<HTMLInputElement>('submit-count').value) || 1));
    const perRecord = formats.length ? Math.min(count, Math.max(1, Math.floor(Number(perRecordInput.value) || 1))) : 1;
    say('submit-status', 'Sending…');
    try {
      if (count > 1) {
        const base = Number(value);
        if (!Number.isFinite(base)) throw new Error(`"${value}" is no number to wave around: give a number for many readings`);
        say('submit-status', await sendMany(sensorid, base, count, perRecord, formatSelect.value), false);
      } else {
        const reading = { [mapping.sensorIdField]: sensorid, [mapping.valueField]: value, [mapping.timestampField]: new Date().toISOString() };
        const out = await kinesis.send(new PutRecordCommand({
          StreamName: config.streamName,
          PartitionKey: sensorid || 'unknown',
          Data: new TextEncoder().encode(JSON.stringify(reading)),
        }));
        say('submit-status', `Sent ${sensorid} = ${value} at ${reading[mapping.timestampField]} (${out.ShardId}, sequence number ${out.SequenceNumber}).`);
      }
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
    await Promise.all([showPage(), drawChart(current), showMetric(current), listSensors()]);
  });

  // The sensors seen: the dimension values of the processor's metric, turned back into sensor ids.
  // One ListMetrics request per 500 sensors, however many readings they sent; a Scan of the table
  // would read every reading (50 sensors with 20,000 readings: 2 pages, 144.5 read capacity units).
  // CloudWatch lists a metric for two weeks after its last datum.
  let sensorIds: string[] = [];
  function markCurrentSensor(): void {
    for (const b of $('sensors').querySelectorAll('button')) b.setAttribute('aria-current', String(b.dataset.sensor === current?.sensorId));
  }
  async function listSensors(): Promise<void> {
    say('sensors-status', 'Listing…');
    try {
      const seen = new Set<string>();
      let token: string | undefined;
      let pages = 0;
      do {
        const out = await cloudwatch.send(new ListMetricsCommand({
          Namespace: config.metric.namespace,
          MetricName: config.metric.name,
          Dimensions: [{ Name: config.metric.dimension }],
          NextToken: token,
        }));
        for (const m of out.Metrics ?? []) {
          const dims = m.Dimensions ?? [];
          if (dims.length !== 1 || dims[0].Name !== config.metric.dimension || dims[0].Value === undefined) continue;
          seen.add(sensorIdOfDimension(dims[0].Value));
        }
        token = out.NextToken;
      } while (token && ++pages < SENSOR_PAGES);
      sensorIds = [...seen].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      const list = $('sensors');
      list.replaceChildren(...sensorIds.map((id) => {
        const item = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = id;
        button.dataset.sensor = id;
        button.addEventListener('click', () => {
          $<HTMLInputElement>('query-sensor').value = id;
          $<HTMLFormElement>('query-form').requestSubmit();
        });
        item.append(button);
        return item;
      }));
      markCurrentSensor();
      const more = token ? ` (the first ${sensorIds.length}; there are more)` : '';
      say('sensors-status', sensorIds.length
        ? `${sensorIds.length} sensor${sensorIds.length === 1 ? '' : 's'} seen${more}.`
        : 'No sensor seen yet: the list fills as the processor publishes its metric.');
    } catch (err) {
      const denied = /AccessDenied/.test((err as Error).name);
      say('sensors-status', denied
        ? 'This identity may not list metrics (it needs cloudwatch:ListMetrics): type a sensor id to query it.'
        : `The sensors could not be listed: ${(err as Error).message}`, true);
    }
  }
  $<HTMLButtonElement>('sensors-refresh').addEventListener('click', () => void listSensors());

  // Live: the readings, the chart, the metric and the sensors again every interval, one refresh at a time.
  let liveTimer: ReturnType<typeof setTimeout> | undefined;
  let liveOn = false;
  // Each start of live mode is a generation: a refresh of an earlier one, still in flight, schedules nothing.
  let generation = 0;
  let refreshes = 0;
  const liveInterval = () => Number($<HTMLSelectElement>('live-interval').value);
  async function refreshLive(of: number): Promise<void> {
    liveTimer = undefined;
    if (!liveOn || of !== generation) return;
    const q = current;
    await Promise.all([listSensors(), ...(q ? [showPage(), drawChart(q), showMetric(q)] : [])]);
    if (!liveOn || of !== generation) return;
    refreshes++;
    document.body.dataset.liveRefreshes = String(refreshes);
    say('live-status', `Live: refreshed at ${new Date().toISOString().slice(11, 19)} UTC${q ? '' : ' (query a sensor to follow it)'}, every ${liveInterval() / 1000} s.`);
    liveTimer = setTimeout(() => void refreshLive(of), liveInterval());
  }
  function setLive(on: boolean): void {
    liveOn = on;
    generation++;
    if (liveTimer !== undefined) clearTimeout(liveTimer);
    liveTimer = undefined;
    if (on) {
      say('live-status', `Live: every ${liveInterval() / 1000} s.`);
      void refreshLive(generation);
    } else {
      say('live-status', 'Live mode is off.');
    }
  }
  $<HTMLInputElement>('live').addEventListener('change', (e) => setLive((e.target as HTMLInputElement).checked));
  $<HTMLSelectElement>('live-interval').addEventListener('change', () => {
    if (liveOn) setLive(true);
  });
  // A hidden tab asks nothing; it catches up when shown again.
  document.addEventListener('visibilitychange', () => {
    if (!liveOn) return;
    if (!document.hidden) return setLive(true);
    generation++;
    if (liveTimer !== undefined) clearTimeout(liveTimer);
    liveTimer = undefined;
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

  void listSensors();
  document.body.dataset.ready = 'true';
}

void main();
