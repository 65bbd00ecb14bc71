/**
 * A local CloudWatch metrics store for the SDK v3 client, which speaks AWS
 * JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Operation>`): no npm
 * CloudWatch server exists. PutMetricData (Value, Values/Counts and
 * StatisticValues), GetMetricData and GetMetricStatistics with the statistics
 * SampleCount, Sum, Average, Minimum, Maximum and pNN, and ListMetrics.
 * Embedded Metric Format lines from a function's stdout land here too.
 *
 * PutMetricData is held to CloudWatch's rules (`checkPutMetricData`), so that
 * the local run refuses what CloudWatch refuses: one datum that breaks a rule
 * refuses the whole request, with CloudWatch's error code and the member
 * named, and nothing of it is stored.
 */
import { StandardUnit } from '@aws-sdk/client-cloudwatch';
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

/**
 * CloudWatch's limits on PutMetricData, from the API Reference (PutMetricData,
 * MetricDatum, Dimension, StatisticSet) and the User Guide ("Time stamps").
 */
export const PUT_METRIC_DATA_LIMITS = {
  maxData: 1_000,
  maxDimensions: 30,
  maxNameLength: 255,
  maxDimensionValueLength: 1_024,
  maxValues: 150,
  pastMs: 14 * 24 * 3_600_000,
  futureMs: 2 * 3_600_000,
  /**
   * A value's magnitude, 0 aside: the older documentation's range (2^-359 to
   * 2^359, written 8.515920e-109 to 1.174271e+108); the current one says
   * -2^360 to 2^360 and names no smallest magnitude, so the stricter holds.
   */
  minMagnitude: 8.515920e-109,
  maxMagnitude: 1.174271e+108,
};

/** An error as CloudWatch sends it: the shape's name, and its query code with the x-amzn-query-error header. */
function cloudWatchError(code: 'InvalidParameterValue' | 'InvalidParameterCombination' | 'MissingParameter', message: string): AwsError {
  const shape = code === 'MissingParameter' ? 'MissingRequiredParameterException' : `${code}Exception`;
  return new AwsError(shape, message, 400, `${code};Sender`);
}

const invalid = (message: string) => cloudWatchError('InvalidParameterValue', message);
const UNITS = new Set<string>(Object.values(StandardUnit));

/** Why a name or dimension value breaks CloudWatch's character rules: ASCII, no control characters, not blank. */
function textProblem(value: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(value)) return 'must contain only ASCII characters';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) return 'must not contain ASCII control characters';
  if (value.trim() === '') return 'must include at least one non-whitespace character';
  return undefined;
}

function checkString(value: unknown, member: string, max: number, required: boolean): string | undefined {
  if (value === undefined || value === null) {
    if (required) throw cloudWatchError('MissingParameter', `The parameter ${member} is required.`);
    return undefined;
  }
  if (typeof value !== 'string') throw invalid(`The value for parameter ${member} must be a string.`);
  if (value.length < 1 || value.length > max) throw invalid(`The parameter ${member} must be between 1 and ${max} characters long; it is ${value.length}.`);
  return value;
}

/** A double as the JSON protocol carries it: a number, or NaN and the infinities as strings. */
function checkNumber(value: unknown, member: string, what: 'value' | 'count'): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^(NaN|-?Infinity)$/.test(value) ? Number(value) : undefined;
  if (n === undefined) throw invalid(`The value for parameter ${member} must be a number.`);
  const { minMagnitude, maxMagnitude } = PUT_METRIC_DATA_LIMITS;
  if (!Number.isFinite(n)) throw invalid(`The value ${String(value)} for parameter ${member} is invalid: NaN and infinities are not supported.`);
  if (what === 'count' && n < 0) throw invalid(`The value ${n} for parameter ${member} is invalid: a count is not negative.`);
  const magnitude = Math.abs(n);
  if (magnitude !== 0 && (magnitude < minMagnitude || magnitude > maxMagnitude)) {
    throw invalid(`The value ${n} for parameter ${member} is invalid: values are 0 or of magnitude ${minMagnitude} to ${maxMagnitude}.`);
  }
  return n;
}

function timestampOf(value: unknown, member: string): number {
  if (value === undefined || value === null) throw cloudWatchError('MissingParameter', `The parameter ${member} is required.`);
  try {
    return fromTimestamp(value, member);
  } catch {
    throw invalid(`The parameter ${member} is not a timestamp.`);
  }
}

function checkList(value: unknown, member: string, max: number): unknown[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalid(`The parameter ${member} must be a list.`);
  if (value.length > max) throw invalid(`The collection ${member} must not have a size greater than ${max}.`);
  return value;
}

function checkObject(value: unknown, member: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`The parameter ${member} must be a structure.`);
  return value as Record<string, unknown>;
}

/** A metric named in a query: namespace, name and dimensions (`prefix` is the member path, empty at the top). */
function checkMetric(value: unknown, member: string): { namespace: string; metricName: string; dimensions: Dimension[] } {
  const m = checkObject(value, member || 'the request');
  const at = (k: string) => (member ? `${member}.${k}` : k);
  const dimensions = (checkList(m.Dimensions, at('Dimensions'), PUT_METRIC_DATA_LIMITS.maxDimensions) ?? []).map((raw, j) => {
    const dm = `${at('Dimensions')}.member.${j + 1}`;
    const dim = checkObject(raw, dm);
    return { Name: checkString(dim.Name, `${dm}.Name`, 255, true)!, Value: checkString(dim.Value, `${dm}.Value`, 1_024, true)! };
  });
  return {
    namespace: checkString(m.Namespace, at('Namespace'), 255, true)!,
    metricName: checkString(m.MetricName, at('MetricName'), 255, true)!,
    dimensions,
  };
}

/** A datum that passed the checks: where it goes and what it adds. */
export interface CheckedDatum {
  readonly metricName: string;
  readonly dimensions: Dimension[];
  readonly point: Datapoint;
}

/**
 * PutMetricData's input against CloudWatch's rules, all of them before any
 * datum is kept: Namespace (1-255 ASCII characters, no control character, not
 * starting with `:` or `AWS/`); 1 to 1,000 data; per datum a MetricName (1-255),
 * at most 30 dimensions (a name of 1-255 and a value of 1-1,024 characters,
 * ASCII, no control character, not blank; a name not starting with `:`), a
 * Timestamp at most two weeks old and two hours ahead, a StorageResolution of 1
 * or 60, a known Unit, and exactly one of Value, Values (with Counts of the same
 * length, at most 150) and StatisticValues, every number finite and in range.
 * Throws CloudWatch's error (InvalidParameterValue, InvalidParameterCombination
 * or MissingParameter) for the first rule broken.
 */
export function checkPutMetricData(input: Record<string, unknown>, now: number): { namespace: string; data: CheckedDatum[] } {
  const L = PUT_METRIC_DATA_LIMITS;
  const namespace = checkString(input.Namespace, 'Namespace', L.maxNameLength, true)!;
  const nsProblem = textProblem(namespace);
  if (nsProblem) throw invalid(`The parameter Namespace ${nsProblem}.`);
  if (namespace.startsWith(':')) throw invalid('The parameter Namespace must not start with a colon (:).');
  if (namespace.startsWith('AWS/')) throw invalid(`The value ${namespace} for parameter Namespace is invalid: namespaces starting with AWS/ are reserved for AWS services.`);
  if (input.MetricData === undefined || input.MetricData === null) throw cloudWatchError('MissingParameter', 'The parameter MetricData is required.');
  const list = checkList(input.MetricData, 'MetricData', L.maxData)!;
  if (list.length === 0) throw cloudWatchError('MissingParameter', 'The parameter MetricData must contain at least one datum.');
  const data: CheckedDatum[] = [];
  for (const [i, raw] of list.entries()) {
    const m = `MetricData.member.${i + 1}`;
    const d = checkObject(raw, m);
    const metricName = checkString(d.MetricName, `${m}.MetricName`, L.maxNameLength, true)!;
    const dimensions: Dimension[] = [];
    for (const [j, rawDim] of (checkList(d.Dimensions, `${m}.Dimensions`, L.maxDimensions) ?? []).entries()) {
      const dm = `${m}.Dimensions.member.${j + 1}`;
      const dim = checkObject(rawDim, dm);
      const name = checkString(dim.Name, `${dm}.Name`, L.maxNameLength, true)!;
      const value = checkString(dim.Value, `${dm}.Value`, L.maxDimensionValueLength, true)!;
      const nameProblem = textProblem(name);
      if (nameProblem) throw invalid(`The parameter ${dm}.Name ${nameProblem}.`);
      if (name.startsWith(':')) throw invalid(`The parameter ${dm}.Name must not start with a colon (:).`);
      const valueProblem = textProblem(value);
      if (valueProblem) throw invalid(`The parameter ${dm}.Value ${valueProblem}.`);
      dimensions.push({ Name: name, Value: value });
    }
    let t = now;
    if (d.Timestamp !== undefined && d.Timestamp !== null) {
      t = timestampOf(d.Timestamp, `${m}.Timestamp`);
      if (!Number.isFinite(t) || t < now - L.pastMs || t > now + L.futureMs) {
        throw invalid(`The parameter ${m}.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future.`);
      }
    }
    if (d.StorageResolution !== undefined && d.StorageResolution !== 1 && d.StorageResolution !== 60) {
      throw invalid(`The value ${JSON.stringify(d.StorageResolution)} for parameter ${m}.StorageResolution is invalid: it is 1 or 60.`);
    }
    if (d.Unit !== undefined && (typeof d.Unit !== 'string' || !UNITS.has(d.Unit))) {
      throw invalid(`The value ${JSON.stringify(d.Unit)} for parameter ${m}.Unit is invalid.`);
    }
    const given = (['Value', 'Values', 'StatisticValues'] as const).filter((k) => d[k] !== undefined && d[k] !== null);
    if (given.length > 1) {
      throw cloudWatchError('InvalidParameterCombination',
        `The parameters ${given.map((k) => `${m}.${k}`).join(' and ')} are mutually exclusive and you have specified ${given.length === 2 ? 'both' : 'all three'}.`);
    }
    if (d.Counts !== undefined && d.Counts !== null && given[0] !== 'Values') {
      throw cloudWatchError('InvalidParameterCombination', `The parameter ${m}.Counts may only be given with ${m}.Values.`);
    }
    let point: Datapoint;
    if (given[0] === 'Value') {
      point = pointOf(t, [[checkNumber(d.Value, `${m}.Value`, 'value'), 1]]);
    } else if (given[0] === 'Values') {
      const values = checkList(d.Values, `${m}.Values`, L.maxValues)!.map((v, k) => checkNumber(v, `${m}.Values.member.${k + 1}`, 'value'));
      const counts = checkList(d.Counts, `${m}.Counts`, L.maxValues)?.map((c, k) => checkNumber(c, `${m}.Counts.member.${k + 1}`, 'count'));
      if (counts && counts.length !== values.length) {
        throw invalid(`The parameters ${m}.Values and ${m}.Counts must be of the same size; they are ${values.length} and ${counts.length}.`);
      }
      if (values.length === 0) throw cloudWatchError('MissingParameter', `The parameter ${m}.Values must contain at least one value.`);
      point = pointOf(t, values.map((v, k) => [v, counts?.[k] ?? 1] as const));
    } else if (given[0] === 'StatisticValues') {
      const sm = `${m}.StatisticValues`;
      const set = checkObject(d.StatisticValues, sm);
      const member = (k: string) => {
        if (set[k] === undefined || set[k] === null) throw cloudWatchError('MissingParameter', `The parameter ${sm}.${k} is required.`);
        return checkNumber(set[k], `${sm}.${k}`, k === 'SampleCount' ? 'count' : 'value');
      };
      point = { t, count: member('SampleCount'), sum: member('Sum'), min: member('Minimum'), max: member('Maximum') };
    } else {
      throw cloudWatchError('InvalidParameterCombination', `At least one of the parameters ${m}.Value, ${m}.Values or ${m}.StatisticValues must be specified.`);
    }
    data.push({ metricName, dimensions, point });
  }
  return { namespace, data };
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
    const { namespace, data } = checkPutMetricData(input, Date.now());
    for (const d of data) this.put(namespace, d.metricName, d.dimensions, d.point);
    this.counts.putMetricData++;
    return {};
  }

  private getMetricData(input: Record<string, unknown>): unknown {
    const start = timestampOf(input.StartTime, 'StartTime');
    const end = timestampOf(input.EndTime, 'EndTime');
    const ascending = input.ScanBy === 'TimestampAscending';
    const queries = checkList(input.MetricDataQueries, 'MetricDataQueries', 500) ?? [];
    if (queries.length === 0) throw cloudWatchError('MissingParameter', 'The parameter MetricDataQueries is required.');
    const results = [];
    for (const [i, raw] of queries.entries()) {
      const qm = `MetricDataQueries.member.${i + 1}`;
      const q = checkObject(raw, qm);
      const id = checkString(q.Id, `${qm}.Id`, 255, true)!;
      if (q.Expression !== undefined || q.MetricStat === undefined || q.MetricStat === null) {
        throw invalid(`query ${id}: metric math expressions are not emulated locally`);
      }
      if (q.ReturnData === false) continue;
      const stat = checkObject(q.MetricStat, `${qm}.MetricStat`);
      const metric = checkMetric(stat.Metric, `${qm}.MetricStat.Metric`);
      const Stat = checkString(stat.Stat, `${qm}.MetricStat.Stat`, 255, true)!;
      const Period = Number(stat.Period);
      const Label = checkString(q.Label, `${qm}.Label`, 1_024, false);
      const Metric = { MetricName: metric.metricName };
      const buckets = this.buckets(metric.namespace, metric.metricName, metric.dimensions, start, end, Period);
      const rows = [...buckets.entries()].sort((a, b) => (ascending ? a[0] - b[0] : b[0] - a[0]));
      results.push({
        Id: id,
        Label: Label ?? Metric.MetricName,
        Timestamps: rows.map(([t]) => toEpochSeconds(t)),
        Values: rows.map(([, points]) => statistic(points, Stat)),
        StatusCode: 'Complete',
        Messages: [],
      });
    }
    return { MetricDataResults: results, Messages: [] };
  }

  private getMetricStatistics(input: Record<string, unknown>): unknown {
    const start = timestampOf(input.StartTime, 'StartTime');
    const end = timestampOf(input.EndTime, 'EndTime');
    const period = Number(input.Period);
    const stats = (checkList(input.Statistics, 'Statistics', 5) ?? []).map((v, i) => checkString(v, `Statistics.member.${i + 1}`, 255, true)!);
    const extended = (checkList(input.ExtendedStatistics, 'ExtendedStatistics', 10) ?? []).map((v, i) => checkString(v, `ExtendedStatistics.member.${i + 1}`, 255, true)!);
    const names = { SampleCount: 'SampleCount', Sum: 'Sum', Average: 'Average', Minimum: 'Minimum', Maximum: 'Maximum' } as Record<string, string>;
    const metric = checkMetric(input, '');
    const buckets = this.buckets(metric.namespace, metric.metricName, metric.dimensions, start, end, period);
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
    const ns = checkString(input.Namespace, 'Namespace', 255, false);
    const name = checkString(input.MetricName, 'MetricName', 255, false);
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
    if (!(periodSeconds >= 1)) throw invalid('The parameter Period must be at least 1 second.');
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
  throw invalid(`the statistic ${stat} is not emulated locally`);
}

function sortDimensions(d: readonly Dimension[]): Dimension[] {
  return [...d].sort((a, b) => a.Name.localeCompare(b.Name));
}

function seriesKey(namespace: string, metricName: string, dimensions: readonly Dimension[]): string {
  return JSON.stringify([namespace, metricName, sortDimensions(dimensions).map((d) => [d.Name, d.Value])]);
}
