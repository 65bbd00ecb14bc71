import { CloudWatchClient, MetricDatum, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { metricDimension } from './metric-dimension';
import { Reading } from './reading';
import { CLOUDWATCH } from '../private/service-limits';

export interface MetricSettings {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensionName: string;
}

/** All the values of one sensor within one minute of event time. */
export interface SensorMinute {
  /** The sensor as the metric names it: its id, or after `metricGroups` its dimension value (`metricDimension`). */
  readonly sensorId: string;
  /** Start of the minute, epoch milliseconds. */
  readonly minute: number;
  /** Distinct values and how often each was seen. */
  readonly counts: Map<number, number>;
}

/**
 * Groups readings per sensor and per minute of event time: CloudWatch stores
 * custom metrics at one-minute resolution, so this loses nothing a graph shows
 * while turning one datum per reading into one per sensor-minute.
 */
export function aggregate(readings: readonly Reading[]): SensorMinute[] {
  const groups = new Map<string, SensorMinute>();
  for (const r of readings) {
    // A reading's timestamp is ISO-8601 UTC (YYYY-MM-DDTHH:MM:SS.sssZ): its
    // first 16 characters name its minute, parsed once per group.
    const key = `${r.sensorId}\u0000${r.timestamp.slice(0, 16)}`;
    let group = groups.get(key);
    if (!group) {
      group = { sensorId: r.sensorId, minute: Math.floor(Date.parse(r.timestamp) / 60_000) * 60_000, counts: new Map() };
      groups.set(key, group);
    }
    group.counts.set(r.value, (group.counts.get(r.value) ?? 0) + 1);
  }
  return [...groups.values()];
}

/** Whether CloudWatch takes a value: 0, or a magnitude in the narrower of its documented ranges. */
export function isMetricValue(value: number): boolean {
  const magnitude = Math.abs(value);
  return magnitude === 0 || (magnitude >= CLOUDWATCH.minValueMagnitude && magnitude <= CLOUDWATCH.maxValueMagnitude);
}

// Timestamps CloudWatch accepts: two weeks back, two hours ahead. A group is
// stamped with the start of its minute and sent a little later, so a minute
// of each end is kept free.
const METRIC_PAST_MS = CLOUDWATCH.maxPastMs - 60_000;
const METRIC_FUTURE_MS = CLOUDWATCH.maxFutureMs - 60_000;

/** A batch's metric: the groups to publish, and the values that could not be published as they were. */
export interface MetricBatch {
  /** Per sensor and minute, each sensor named by its dimension value. */
  readonly groups: SensorMinute[];
  /**
   * Values left out: outside CloudWatch's range, or of a sensor whose id
   * cannot be a dimension value even encoded (over 1,024 characters). The
   * readings are stored all the same.
   */
  readonly skipped: number;
  /** Values of minutes CloudWatch does not take (over two weeks old, over two hours ahead), counted at the time they were processed. */
  readonly restamped: number;
}

/**
 * The metric of a batch's stored readings, held to what CloudWatch accepts,
 * value by value, so that no value can make CloudWatch refuse a request or
 * drop a log line that carries others: values out of CloudWatch's range are
 * left out; each sensor id becomes its dimension value (`metricDimension`);
 * minutes CloudWatch cannot date are merged per sensor at `now`. Both
 * metrics modes publish what this returns.
 */
export function metricGroups(readings: readonly Reading[], now = Date.now()): MetricBatch {
  let kept: readonly Reading[] = readings;
  let skipped = 0;
  // Values out of range are rare: the common batch is grouped without a copy.
  if (!readings.every((r) => isMetricValue(r.value))) {
    kept = readings.filter((r) => isMetricValue(r.value));
    skipped = readings.length - kept.length;
  }
  const groups: SensorMinute[] = [];
  const late = new Map<string, SensorMinute & { counts: Map<number, number> }>();
  let restamped = 0;
  for (const g of aggregate(kept)) {
    const dimension = metricDimension(g.sensorId);
    const values = countOf(g);
    if (dimension === undefined) {
      skipped += values;
      continue;
    }
    if (g.minute >= now - METRIC_PAST_MS && g.minute <= now + METRIC_FUTURE_MS) {
      groups.push({ ...g, sensorId: dimension });
      continue;
    }
    restamped += values;
    let merged = late.get(dimension);
    if (!merged) {
      merged = { sensorId: dimension, minute: now, counts: new Map() };
      late.set(dimension, merged);
      groups.push(merged);
    }
    for (const [value, count] of g.counts) merged.counts.set(value, (merged.counts.get(value) ?? 0) + count);
  }
  return { groups, skipped, restamped };
}

function countOf(g: SensorMinute): number {
  let n = 0;
  for (const c of g.counts.values()) n += c;
  return n;
}

/** PutMetricData takes at most 1,000 metric data per request and 150 distinct values per datum. */
export const MAX_DATA_PER_REQUEST = CLOUDWATCH.maxDataPerRequest;
export const MAX_VALUES_PER_DATUM = CLOUDWATCH.maxValuesPerDatum;
/**
 * Bytes of data per PutMetricData request: CloudWatch takes 1 MB, and the
 * request adds its namespace and framing to the data's own JSON.
 */
export const MAX_DATA_BYTES_PER_REQUEST = CLOUDWATCH.maxRequestBytes - 64 * 1_024;

/** The reference's metric, as Values/Counts data: one datum per sensor-minute (more when it has over 150 distinct values). */
export function toMetricData(groups: readonly SensorMinute[], settings: MetricSettings): MetricDatum[] {
  const data: MetricDatum[] = [];
  for (const g of groups) {
    const entries = [...g.counts.entries()];
    for (let i = 0; i < entries.length; i += MAX_VALUES_PER_DATUM) {
      const part = entries.slice(i, i + MAX_VALUES_PER_DATUM);
      data.push({
        MetricName: settings.metricName,
        Dimensions: [{ Name: settings.dimensionName, Value: g.sensorId }],
        Timestamp: new Date(g.minute),
        Values: part.map(([value]) => value),
        Counts: part.map(([, count]) => count),
        Unit: 'None',
      });
    }
  }
  return data;
}

/** The size of a datum in a request (AWS JSON), with a margin for the client's own number formatting. */
function datumBytes(datum: MetricDatum): number {
  return Buffer.byteLength(JSON.stringify(datum)) + 32;
}

/**
 * Sends the data in as few PutMetricData calls as CloudWatch's limits allow
 * (1,000 data and 1 MB per request); returns the call count.
 */
export async function putMetricData(client: CloudWatchClient, namespace: string, data: readonly MetricDatum[]): Promise<number> {
  let calls = 0;
  let start = 0;
  while (start < data.length) {
    let end = start;
    let bytes = 0;
    while (end < data.length && end - start < MAX_DATA_PER_REQUEST) {
      const size = datumBytes(data[end]);
      if (end > start && bytes + size > MAX_DATA_BYTES_PER_REQUEST) break;
      bytes += size;
      end++;
    }
    await client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data.slice(start, end) }));
    calls++;
    start = end;
  }
  return calls;
}

/** Values of one metric in one EMF line: the format takes at most 100. */
export const EMF_VALUES_PER_LINE = CLOUDWATCH.maxEmfValuesPerLine;

/**
 * The metric as CloudWatch Embedded Metric Format: structured log lines that
 * CloudWatch Logs turns into metrics, with no API call. One line per
 * sensor-minute, with every reading's value (EMF has no counts, so a value
 * seen three times is written three times), and another line for each
 * further 100 values. A line with one value writes it as a number.
 *
 * Written here rather than through Powertools Metrics: the processor puts
 * thousands of values into each invocation's lines, and Powertools checks and
 * stores them one `addMetric` call at a time (reading its store, and with it
 * `process.env`, at each): about 2.5 us per reading against 0.3 us here,
 * measured alone, and about 7 % of the processor's CPU time in its profile
 * (bench/profile.ts).
 */
export function emfLines(groups: readonly SensorMinute[], settings: MetricSettings): string[] {
  const directive = JSON.stringify([{ Namespace: settings.namespace, Dimensions: [[settings.dimensionName]], Metrics: [{ Name: settings.metricName, Unit: 'None' }] }]);
  const dimension = JSON.stringify(settings.dimensionName);
  const metric = JSON.stringify(settings.metricName);
  const lines: string[] = [];
  for (const g of groups) {
    const head = `{"_aws":{"Timestamp":${g.minute},"CloudWatchMetrics":${directive}},${dimension}:${JSON.stringify(g.sensorId)},${metric}:`;
    let values: number[] = [];
    const flush = () => {
      lines.push(`${head}${values.length === 1 ? values[0] : `[${values.join(',')}]`}}`);
      values = [];
    };
    for (const [value, count] of g.counts) {
      for (let i = 0; i < count; i++) {
        values.push(value);
        if (values.length === EMF_VALUES_PER_LINE) flush();
      }
    }
    if (values.length > 0) flush();
  }
  return lines;
}
