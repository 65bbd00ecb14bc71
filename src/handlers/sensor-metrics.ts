import { CloudWatchClient, MetricDatum, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { Reading } from './reading';

export interface MetricSettings {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensionName: string;
}

/** All the values of one sensor within one minute of event time. */
export interface SensorMinute {
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

/** PutMetricData takes at most 1,000 metric data per request and 150 distinct values per datum. */
export const MAX_DATA_PER_REQUEST = 1_000;
export const MAX_VALUES_PER_DATUM = 150;

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

/** Sends the data in as few PutMetricData calls as the 1,000-data limit allows; returns the call count. */
export async function putMetricData(client: CloudWatchClient, namespace: string, data: readonly MetricDatum[]): Promise<number> {
  let calls = 0;
  for (let i = 0; i < data.length; i += MAX_DATA_PER_REQUEST) {
    await client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data.slice(i, i + MAX_DATA_PER_REQUEST) }));
    calls++;
  }
  return calls;
}

// EMF accepts timestamps up to two weeks old and two hours ahead; older or
// newer readings are counted at the time they are processed.
const EMF_PAST_MS = 14 * 24 * 3_600_000 - 60_000;
const EMF_FUTURE_MS = 2 * 3_600_000 - 60_000;

/** Values of one metric in one EMF line: the format takes at most 100. */
export const EMF_VALUES_PER_LINE = 100;

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
export function emfLines(groups: readonly SensorMinute[], settings: MetricSettings, now = Date.now()): string[] {
  const directive = JSON.stringify([{ Namespace: settings.namespace, Dimensions: [[settings.dimensionName]], Metrics: [{ Name: settings.metricName, Unit: 'None' }] }]);
  const dimension = JSON.stringify(settings.dimensionName);
  const metric = JSON.stringify(settings.metricName);
  const lines: string[] = [];
  for (const g of restampOutOfRange(groups, now)) {
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

/** Groups EMF cannot date (too old or too far ahead) are merged per sensor at `now`: one line each, not one per minute. */
function restampOutOfRange(groups: readonly SensorMinute[], now: number): SensorMinute[] {
  const out: SensorMinute[] = [];
  const late = new Map<string, SensorMinute>();
  for (const g of groups) {
    if (g.minute >= now - EMF_PAST_MS && g.minute <= now + EMF_FUTURE_MS) {
      out.push(g);
      continue;
    }
    let merged = late.get(g.sensorId);
    if (!merged) {
      merged = { sensorId: g.sensorId, minute: now, counts: new Map() };
      late.set(g.sensorId, merged);
      out.push(merged);
    }
    for (const [value, count] of g.counts) merged.counts.set(value, (merged.counts.get(value) ?? 0) + count);
  }
  return out;
}
