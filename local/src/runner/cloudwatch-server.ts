/**
 * A local CloudWatch metrics store for the SDK v3 client, which speaks AWS
 * JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Operation>`): no npm
 * CloudWatch server exists. PutMetricData (Value, Values/Counts and
 * StatisticValues), GetMetricData and GetMetricStatistics with the statistics
 * SampleCount, Sum, Average, Minimum, Maximum and pNN, and ListMetrics.
 * Embedded Metric Format lines from a function's stdout land here too.
 */
import { AwsError, AwsJsonService, fromTimestamp, toEpochSeconds } from './aws-json';

export interface Dimension {
  readonly Name: string;
  readonly Value: string;
}

interface Datapoint {
  readonly t: number;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** Raw values with their counts, for percentiles; absent for StatisticValues data. */
  readonly values?: ReadonlyArray<readonly [number, number]>;
}

interface Series {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: readonly Dimension[];
  readonly points: Datapoint[];
}

export interface MetricsSnapshot {
  readonly series: Series[];
}

interface MetricDatumInput {
  MetricName?: string;
  Dimensions?: Dimension[];
  Timestamp?: unknown;
  Value?: number;
  Values?: number[];
  Counts?: number[];
  StatisticValues?: { SampleCount: number; Sum: number; Minimum: number; Maximum: number };
}

export class CloudWatchServer implements AwsJsonService {
  readonly targetPrefix = 'GraniteServiceVersion20100801';
  readonly namespace = 'com.amazonaws.cloudwatch';
  private readonly series = new Map<string, Series>();
  /** PutMetricData requests and EMF lines taken in, for progress reports. */
  readonly counts = { putMetricData: 0, emfLines: 0 };

  snapshot(): MetricsSnapshot {
    return { series: [...this.series.values()] };
  }

  restore(snapshot: MetricsSnapshot): void {
    for (const s of snapshot.series) this.series.set(seriesKey(s.namespace, s.metricName, s.dimensions), s);
  }

  /** Adds one datapoint. */
  put(namespace: string, metricName: string, dimensions: readonly Dimension[], point: Datapoint): void {
    const key = seriesKey(namespace, metricName, dimensions);
    let s = this.series.get(key);
    if (!s) {
      s = { namespace, metricName, dimensions: sortDimensions(dimensions), points: [] };
      this.series.set(key, s);
    }
    s.points.push(point);
  }

  handle(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'PutMetricData': return this.putMetricData(input);
      case 'GetMetricData': return this.getMetricData(input);
      case 'GetMetricStatistics': return this.getMetricStatistics(input);
      case 'ListMetrics': return this.listMetrics(input);
      default: throw new AwsError('InvalidAction', `CloudWatch ${operation} is not emulated locally`);
    }
  }

  /** Takes the metrics of one Embedded Metric Format log line; false when the line is not EMF. */
  ingestEmf(line: string): boolean {
    if (!line.includes('"_aws"') || !line.includes('CloudWatchMetrics')) return false;
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(line);
    } catch {
      return false;
    }
    const aws = doc._aws as {
      Timestamp?: number;
      CloudWatchMetrics?: Array<{ Namespace: string; Dimensions?: string[][]; Metrics: Array<{ Name: string }> }>;
    } | undefined;
    if (!aws?.CloudWatchMetrics) return false;
    const t = typeof aws.Timestamp === 'number' ? aws.Timestamp : Date.now();
    for (const directive of aws.CloudWatchMetrics) {
      const dimensionSets = directive.Dimensions?.length ? directive.Dimensions : [[]];
      for (const metric of directive.Metrics) {
        const raw = doc[metric.Name];
        const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is number => typeof v === 'number');
        if (values.length === 0) continue;
        for (const set of dimensionSets) {
          const dims = set.map((name) => ({ Name: name, Value: String(doc[name]) }));
          this.put(directive.Namespace, metric.Name, dims, pointOf(t, values.map((v) => [v, 1] as const)));
        }
      }
    }
    this.counts.emfLines++;
    return true;
  }

  private putMetricData(input: Record<string, unknown>): unknown {
    const namespace = String(input.Namespace ?? '');
    if (!namespace) throw new AwsError('MissingParameter', 'the request must contain the parameter Namespace');
    const data = (input.MetricData ?? []) as MetricDatumInput[];
    if (data.length === 0 || data.length > 1000) throw new AwsError('InvalidParameterValue', 'MetricData must hold 1 to 1,000 data');
    for (const [i, d] of data.entries()) {
      if (!d.MetricName) throw new AwsError('MissingParameter', `MetricData.member.${i + 1}.MetricName is missing`);
      const t = d.Timestamp === undefined ? Date.now() : fromTimestamp(d.Timestamp, 'Timestamp');
      let point: Datapoint;
      if (d.StatisticValues) {
        const s = d.StatisticValues;
        point = { t, count: s.SampleCount, sum: s.Sum, min: s.Minimum, max: s.Maximum };
      } else if (d.Values) {
        if (d.Counts && d.Counts.length !== d.Values.length) throw new AwsError('InvalidParameterValue', 'Values and Counts must have the same length');
        if (d.Values.length > 150) throw new AwsError('InvalidParameterValue', 'a datum holds at most 150 values');
        point = pointOf(t, d.Values.map((v, j) => [v, d.Counts?.[j] ?? 1] as const));
      } else if (typeof d.Value === 'number') {
        point = pointOf(t, [[d.Value, 1]]);
      } else {
        throw new AwsError('InvalidParameterCombination', `MetricData.member.${i + 1} has no Value, Values or StatisticValues`);
      }
      this.put(namespace, d.MetricName, d.Dimensions ?? [], point);
    }
    this.counts.putMetricData++;
    return {};
  }

  private getMetricData(input: Record<string, unknown>): unknown {
    const start = fromTimestamp(input.StartTime, 'StartTime');
    const end = fromTimestamp(input.EndTime, 'EndTime');
    const ascending = input.ScanBy === 'TimestampAscending';
    const queries = (input.MetricDataQueries ?? []) as Array<{
      Id: string;
      Label?: string;
      ReturnData?: boolean;
      Expression?: string;
      MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Dimension[] }; Period: number; Stat: string };
    }>;
    if (queries.length === 0) throw new AwsError('MissingParameter', 'MetricDataQueries must not be empty');
    const results = [];
    for (const q of queries) {
      if (q.Expression !== undefined || !q.MetricStat) {
        throw new AwsError('InvalidParameterValue', `query ${q.Id}: metric math expressions are not emulated locally`);
      }
      if (q.ReturnData === false) continue;
      const { Metric, Period, Stat } = q.MetricStat;
      const buckets = this.buckets(Metric.Namespace, Metric.MetricName, Metric.Dimensions ?? [], start, end, Period);
      const rows = [...buckets.entries()].sort((a, b) => (ascending ? a[0] - b[0] : b[0] - a[0]));
      results.push({
        Id: q.Id,
        Label: q.Label ?? Metric.MetricName,
        Timestamps: rows.map(([t]) => toEpochSeconds(t)),
        Values: rows.map(([, points]) => statistic(points, Stat)),
        StatusCode: 'Complete',
        Messages: [],
      });
    }
    return { MetricDataResults: results, Messages: [] };
  }

  private getMetricStatistics(input: Record<string, unknown>): unknown {
    const start = fromTimestamp(input.StartTime, 'StartTime');
    const end = fromTimestamp(input.EndTime, 'EndTime');
    const period = Number(input.Period);
    const stats = (input.Statistics as string[] | undefined) ?? [];
    const extended = (input.ExtendedStatistics as string[] | undefined) ?? [];
    const names = { SampleCount: 'SampleCount', Sum: 'Sum', Average: 'Average', Minimum: 'Minimum', Maximum: 'Maximum' } as Record<string, string>;
    const buckets = this.buckets(String(input.Namespace), String(input.MetricName), (input.Dimensions as Dimension[]) ?? [], start, end, period);
    return {
      Label: input.MetricName,
      Datapoints: [...buckets.entries()].map(([t, points]) => ({
        Timestamp: toEpochSeconds(t),
        ...Object.fromEntries(stats.map((s) => [names[s] ?? s, statistic(points, s)])),
        ...(extended.length ? { ExtendedStatistics: Object.fromEntries(extended.map((s) => [s, statistic(points, s)])) } : {}),
        Unit: 'None',
      })),
    };
  }

  private listMetrics(input: Record<string, unknown>): unknown {
    const ns = input.Namespace as string | undefined;
    const name = input.MetricName as string | undefined;
    return {
      Metrics: [...this.series.values()]
        .filter((s) => (!ns || s.namespace === ns) && (!name || s.metricName === name))
        .map((s) => ({ Namespace: s.namespace, MetricName: s.metricName, Dimensions: s.dimensions })),
    };
  }

  /** Datapoints of one series between start (inclusive) and end (exclusive), by period start. */
  private buckets(
    namespace: string, metricName: string, dimensions: readonly Dimension[], start: number, end: number, periodSeconds: number,
  ): Map<number, Datapoint[]> {
    if (!(periodSeconds >= 1)) throw new AwsError('InvalidParameterValue', 'Period must be at least 1 second');
    const period = periodSeconds * 1000;
    const out = new Map<number, Datapoint[]>();
    const s = this.series.get(seriesKey(namespace, metricName, dimensions));
    for (const p of s?.points ?? []) {
      if (p.t < start || p.t >= end) continue;
      const bucket = start + Math.floor((p.t - start) / period) * period;
      const list = out.get(bucket) ?? [];
      list.push(p);
      out.set(bucket, list);
    }
    return out;
  }
}

function pointOf(t: number, values: ReadonlyArray<readonly [number, number]>): Datapoint {
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const [v, c] of values) {
    count += c;
    sum += v * c;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { t, count, sum, min, max, values };
}

function statistic(points: readonly Datapoint[], stat: string): number {
  const count = points.reduce((n, p) => n + p.count, 0);
  const sum = points.reduce((n, p) => n + p.sum, 0);
  switch (stat) {
    case 'SampleCount': return count;
    case 'Sum': return sum;
    case 'Average': return count ? sum / count : 0;
    case 'Minimum': return Math.min(...points.map((p) => p.min));
    case 'Maximum': return Math.max(...points.map((p) => p.max));
  }
  const m = /^p(\d+(\.\d+)?)$/.exec(stat);
  if (m) {
    const values = points.flatMap((p) => p.values ?? []).sort((a, b) => a[0] - b[0]);
    const total = values.reduce((n, [, c]) => n + c, 0);
    const rank = (Number(m[1]) / 100) * total;
    let seen = 0;
    for (const [v, c] of values) {
      seen += c;
      if (seen >= rank) return v;
    }
    return values.length ? values[values.length - 1][0] : 0;
  }
  throw new AwsError('InvalidParameterValue', `the statistic ${stat} is not emulated locally`);
}

function sortDimensions(d: readonly Dimension[]): Dimension[] {
  return [...d].sort((a, b) => a.Name.localeCompare(b.Name));
}

function seriesKey(namespace: string, metricName: string, dimensions: readonly Dimension[]): string {
  return JSON.stringify([namespace, metricName, sortDimensions(dimensions).map((d) => [d.Name, d.Value])]);
}
