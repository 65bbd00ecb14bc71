import type { CloudWatchClient, MetricDatum, PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import * as fc from 'fast-check';
import { asClient, FakeClient, serviceError } from './helpers';
import { metricDimension } from '../../src/handlers/metric-dimension';
import { Reading } from '../../src/handlers/reading';
import {
  aggregate,
  EMF_VALUES_PER_LINE,
  emfLines,
  isMetricValue,
  MAX_DATA_BYTES_PER_REQUEST,
  MAX_DATA_PER_REQUEST,
  MAX_VALUES_PER_DATUM,
  metricGroups,
  MetricSettings,
  putMetricData,
  SensorMinute,
  toMetricData,
} from '../../src/handlers/sensor-metrics';

const SETTINGS: MetricSettings = { namespace: 'Sensors', metricName: 'SensorData', dimensionName: 'SensorId' };
const MINUTE = Date.UTC(2024, 0, 2, 3, 4);

function r(sensorId: string, offsetMs: number, value: number, base = MINUTE): Reading {
  return { sensorId, timestamp: new Date(base + offsetMs).toISOString(), value };
}

function group(sensorId: string, minute: number, counts: Array<[number, number]>): SensorMinute {
  return { sensorId, minute, counts: new Map(counts) };
}

describe('aggregate', () => {
  test('one group per sensor and minute of event time, with value counts', () => {
    const groups = aggregate([
      r('s1', 0, 21.5),
      r('s1', 30_000, 21.5),
      r('s1', 59_999, 22),
      r('s2', 1_000, 21.5),
      r('s1', 60_000, 23),
      r('s1', -1, 20),
    ]);
    expect(groups).toEqual([
      { sensorId: 's1', minute: MINUTE, counts: new Map([[21.5, 2], [22, 1]]) },
      { sensorId: 's2', minute: MINUTE, counts: new Map([[21.5, 1]]) },
      { sensorId: 's1', minute: MINUTE + 60_000, counts: new Map([[23, 1]]) },
      { sensorId: 's1', minute: MINUTE - 60_000, counts: new Map([[20, 1]]) },
    ]);
  });

  test('nothing in, nothing out', () => {
    expect(aggregate([])).toEqual([]);
  });

  test('property: counts add up, minutes are aligned and hold their readings', () => {
    const reading = fc.record({
      sensorId: fc.constantFrom('a', 'b', 'c'),
      timestamp: fc.integer({ min: MINUTE - 300_000, max: MINUTE + 300_000 }).map((ms) => new Date(ms).toISOString()),
      value: fc.integer({ min: -3, max: 3 }),
    });
    fc.assert(fc.property(fc.array(reading, { maxLength: 100 }), (readings) => {
      const groups = aggregate(readings);
      const total = groups.reduce((n, g) => n + [...g.counts.values()].reduce((a, b) => a + b, 0), 0);
      expect(total).toBe(readings.length);
      expect(new Set(groups.map((g) => `${g.sensorId}/${g.minute}`)).size).toBe(groups.length);
      for (const g of groups) {
        expect(g.minute % 60_000).toBe(0);
        for (const [value, count] of g.counts) {
          const matching = readings.filter((x) => x.sensorId === g.sensorId && x.value === value
            && Date.parse(x.timestamp) >= g.minute && Date.parse(x.timestamp) < g.minute + 60_000);
          expect(matching).toHaveLength(count);
        }
      }
    }));
  });
});

describe('toMetricData', () => {
  test('one datum per sensor-minute with Values and Counts', () => {
    const data = toMetricData(aggregate([r('s1', 0, 21.5), r('s1', 1, 21.5), r('s1', 2, 22), r('s2', 0, 5)]), SETTINGS);
    expect(data).toEqual([
      {
        MetricName: 'SensorData',
        Dimensions: [{ Name: 'SensorId', Value: 's1' }],
        Timestamp: new Date(MINUTE),
        Values: [21.5, 22],
        Counts: [2, 1],
        Unit: 'None',
      },
      {
        MetricName: 'SensorData',
        Dimensions: [{ Name: 'SensorId', Value: 's2' }],
        Timestamp: new Date(MINUTE),
        Values: [5],
        Counts: [1],
        Unit: 'None',
      },
    ]);
  });

  test('a sensor-minute with more than 150 distinct values is split', () => {
    const readings = Array.from({ length: 301 }, (_, i) => r('s1', i, i));
    readings.push(r('s1', 500, 0)); // a repeat: still 301 distinct values
    const data = toMetricData(aggregate(readings), SETTINGS);
    expect(data.map((d) => d.Values!.length)).toEqual([150, 150, 1]);
    expect(data.flatMap((d) => d.Values)).toEqual(Array.from({ length: 301 }, (_, i) => i));
    expect(data[0].Counts![0]).toBe(2);
    expect(data.flatMap((d) => d.Counts).reduce((a, b) => a! + b!, 0)).toBe(302);
    for (const d of data) {
      expect(d.Values!.length).toBeLessThanOrEqual(MAX_VALUES_PER_DATUM);
      expect(d.Counts).toHaveLength(d.Values!.length);
      expect(d.Dimensions).toEqual([{ Name: 'SensorId', Value: 's1' }]);
      expect(d.Timestamp).toEqual(new Date(MINUTE));
    }
  });

  test('exactly 150 distinct values is one datum', () => {
    expect(toMetricData(aggregate(Array.from({ length: 150 }, (_, i) => r('s1', i, i))), SETTINGS)).toHaveLength(1);
  });

  test('metric and dimension names are configurable', () => {
    const [datum] = toMetricData([group('d1#temperature', MINUTE, [[1, 1]])], { namespace: 'X', metricName: 'Temperature', dimensionName: 'Device' });
    expect(datum.MetricName).toBe('Temperature');
    expect(datum.Dimensions).toEqual([{ Name: 'Device', Value: 'd1#temperature' }]);
  });
});

describe('putMetricData', () => {
  const datum = (i: number): MetricDatum => ({ MetricName: 'SensorData', Values: [i], Counts: [1], Timestamp: new Date(MINUTE) });

  test('2,500 data go in three calls of 1000, 1000 and 500', async () => {
    const fake = new FakeClient();
    const data = Array.from({ length: 2_500 }, (_, i) => datum(i));
    const calls = await putMetricData(asClient<CloudWatchClient>(fake), 'Sensors', data);
    expect(calls).toBe(3);
    expect(fake.commandNames).toEqual(['PutMetricDataCommand', 'PutMetricDataCommand', 'PutMetricDataCommand']);
    const inputs = fake.inputs as PutMetricDataCommandInput[];
    expect(inputs.map((i) => i.Namespace)).toEqual(['Sensors', 'Sensors', 'Sensors']);
    expect(inputs.map((i) => i.MetricData!.length)).toEqual([1_000, 1_000, 500]);
    expect(inputs.flatMap((i) => i.MetricData!.map((d) => d.Values![0]))).toEqual(data.map((d) => d.Values![0]));
  });

  test('boundaries', async () => {
    for (const [n, expected] of [[0, []], [1, [1]], [1_000, [1_000]], [1_001, [1_000, 1]]] as Array<[number, number[]]>) {
      const fake = new FakeClient();
      const calls = await putMetricData(asClient<CloudWatchClient>(fake), 'Sensors', Array.from({ length: n }, (_, i) => datum(i)));
      expect(calls).toBe(expected.length);
      expect((fake.inputs as PutMetricDataCommandInput[]).map((i) => i.MetricData!.length)).toEqual(expected);
      for (const input of fake.inputs as PutMetricDataCommandInput[]) expect(input.MetricData!.length).toBeLessThanOrEqual(MAX_DATA_PER_REQUEST);
    }
  });

  test('an error is passed on', async () => {
    const fake = new FakeClient([() => ({}), () => serviceError('InvalidParameterValue', 400)]);
    await expect(putMetricData(asClient<CloudWatchClient>(fake), 'Sensors', Array.from({ length: 2_001 }, (_, i) => datum(i))))
      .rejects.toThrow(/InvalidParameterValue/);
    expect(fake.inputs).toHaveLength(2);
  });
});

describe('emfLines', () => {
  function emf(groups: SensorMinute[], settings = SETTINGS): any[] {
    return emfLines(groups, settings).map((line) => JSON.parse(line));
  }

  /** The values of one EMF line as a flat list. */
  const valuesOf = (line: any, name = 'SensorData'): number[] => [line[name]].flat();

  test('one line per sensor-minute, namespace and a single [[SensorId]] dimension set, no service', () => {
    const now = Date.now();
    const minute = Math.floor(now / 60_000) * 60_000 - 120_000;
    const lines = emf([
      group('s1', minute, [[21.5, 2], [22, 1]]),
      group('s2', minute, [[5, 1]]),
      group('s1', minute + 60_000, [[23, 1]]),
    ]);
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line._aws.CloudWatchMetrics).toEqual([{ Namespace: 'Sensors', Dimensions: [['SensorId']], Metrics: [{ Name: 'SensorData', Unit: 'None' }] }]);
      expect(line).not.toHaveProperty('service');
    }
    expect(lines.map((l) => l.SensorId)).toEqual(['s1', 's2', 's1']);
    expect(lines.map((l) => l._aws.Timestamp)).toEqual([minute, minute, minute + 60_000]);
    expect(valuesOf(lines[0]).sort()).toEqual([21.5, 21.5, 22]);
    expect(valuesOf(lines[1])).toEqual([5]);
    expect(valuesOf(lines[2])).toEqual([23]);
  });

  test('names come from the settings', () => {
    const settings: MetricSettings = { namespace: 'Plant/Floor1', metricName: 'Temperature', dimensionName: 'Device' };
    const [line] = emf([group('d1#temperature', Math.floor(Date.now() / 60_000) * 60_000, [[1, 1]])], settings);
    expect(line._aws.CloudWatchMetrics[0].Namespace).toBe('Plant/Floor1');
    expect(line._aws.CloudWatchMetrics[0].Dimensions).toEqual([['Device']]);
    expect(line.Device).toBe('d1#temperature');
    expect(line.Temperature).toBe(1);
  });

  test('over 100 values: every line keeps the sensor dimension and the minute', () => {
    const now = Date.now();
    const minute = Math.floor(now / 60_000) * 60_000 - 60_000;
    const values: Array<[number, number]> = Array.from({ length: 120 }, (_, i) => [i, 1]);
    values.push([500, 130]); // one value seen 130 times
    const lines = emf([group('busy', minute, values), group('next', minute, [[1, 1]])]);
    const busy = lines.filter((l) => l.SensorId === 'busy');
    expect(lines).toHaveLength(busy.length + 1);
    expect(busy.length).toBeGreaterThan(1);
    for (const line of lines) {
      expect(line._aws.CloudWatchMetrics[0].Dimensions).toEqual([['SensorId']]);
      expect(line._aws.Timestamp).toBe(minute);
      expect(valuesOf(line).length).toBeLessThanOrEqual(100);
    }
    const all = busy.flatMap((l) => valuesOf(l));
    expect(all).toHaveLength(250);
    expect(all.filter((v) => v === 500)).toHaveLength(130);
    expect(all.filter((v) => v < 120).sort((a, b) => a - b)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(lines[lines.length - 1]).toMatchObject({ SensorId: 'next', SensorData: 1 });
  });

  test('nothing to publish, no line', () => {
    expect(emf([])).toEqual([]);
  });

  test('sensor ids and names that need escaping stay valid JSON', () => {
    const settings: MetricSettings = { namespace: 'Plant "A"', metricName: 'Temp\\C', dimensionName: 'Dev\u00e9ice' };
    const id = 'quote" backslash\\ newline\n tab\t \u2028 \ud83c\udf21 \u0000';
    const [line] = emf([group(id, Math.floor(Date.now() / 60_000) * 60_000, [[-0.5, 1]])], settings);
    expect(line['Dev\u00e9ice']).toBe(id);
    expect(line['Temp\\C']).toBe(-0.5);
    expect(line._aws.CloudWatchMetrics[0].Namespace).toBe('Plant "A"');
  });

  test('property: from readings to lines, every value CloudWatch takes is in exactly one line of its sensor and minute, at most 100 a line', () => {
    const now = Date.UTC(2024, 5, 1, 12, 0, 30);
    const readingArb = fc.record({
      // Any Unicode, ids too long for a dimension once encoded among them.
      sensorId: fc.oneof(fc.string({ minLength: 1, maxLength: 12, unit: 'binary' }), fc.constantFrom('a'.repeat(1_024), 'a'.repeat(1_025), '\u00e9'.repeat(171), '\u00e9'.repeat(170))),
      // Within what CloudWatch accepts, and outside it on both sides.
      timestamp: fc.integer({ min: -20 * 24 * 60, max: 4 * 60 }).map((m) => new Date(now + m * 60_000).toISOString()),
      value: fc.oneof(
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.constantFrom(1.174271e108, 1.1742711e108, 8.51592e-109, 8.5159e-109, 0, -0),
      ),
    });
    fc.assert(fc.property(fc.array(readingArb, { maxLength: 40 }), (readings) => {
      const batch = metricGroups(readings, now);
      const lines = batch.groups.length === 0 ? [] : emf(batch.groups);
      const key = (sensor: string, minute: number) => JSON.stringify([sensor, minute]);
      const expected = new Map<string, number[]>();
      let skipped = 0;
      let restamped = 0;
      for (const reading of readings) {
        const dimension = metricDimension(reading.sensorId);
        const magnitude = Math.abs(reading.value);
        if (dimension === undefined || (magnitude !== 0 && (magnitude < 8.51592e-109 || magnitude > 1.174271e108))) {
          skipped++;
          continue;
        }
        const minute = Math.floor(Date.parse(reading.timestamp) / 60_000) * 60_000;
        // Minutes CloudWatch cannot date are counted at `now`.
        const inRange = minute >= now - (14 * 24 * 3_600_000 - 60_000) && minute <= now + (2 * 3_600_000 - 60_000);
        if (!inRange) restamped++;
        const k = key(dimension, inRange ? minute : now);
        expected.set(k, [...(expected.get(k) ?? []), reading.value === 0 ? 0 : reading.value]);
      }
      expect(batch.skipped).toBe(skipped);
      expect(batch.restamped).toBe(restamped);
      const seen = new Map<string, number[]>();
      for (const line of lines) {
        expect(line._aws.CloudWatchMetrics).toEqual([{ Namespace: 'Sensors', Dimensions: [['SensorId']], Metrics: [{ Name: 'SensorData', Unit: 'None' }] }]);
        expect(Object.keys(line).sort()).toEqual(['SensorData', 'SensorId', '_aws']);
        const values = valuesOf(line);
        expect(values.length).toBeGreaterThanOrEqual(1);
        expect(values.length).toBeLessThanOrEqual(EMF_VALUES_PER_LINE);
        const k = key(line.SensorId, line._aws.Timestamp);
        seen.set(k, [...(seen.get(k) ?? []), ...values]);
      }
      const sorted = (m: Map<string, number[]>) => new Map([...m].map(([k, v]) => [k, [...v].sort((a, b) => a - b)]));
      expect(sorted(seen)).toEqual(sorted(expected));
    }), { numRuns: 300 });
  });
});

describe('the metric held to what CloudWatch takes', () => {
  const now = Date.UTC(2024, 5, 1, 12, 0, 30);
  const minuteOf = (ms: number) => Math.floor(ms / 60_000) * 60_000;
  const at = (sensorId: string, ms: number, value: number): Reading => ({ sensorId, timestamp: new Date(ms).toISOString(), value });

  test('a sensor id becomes an ASCII dimension value: %, control and non-ASCII characters percent-encoded', () => {
    expect(metricDimension('s1')).toBe('s1');
    expect(metricDimension('d1#temperature')).toBe('d1#temperature');
    expect(metricDimension('capteur-\u00e9')).toBe('capteur-%C3%A9');
    expect(metricDimension('50%')).toBe('50%25');
    expect(metricDimension('a\tb\u007f')).toBe('a%09b%7F');
    expect(metricDimension('\ud83c\udf21')).toBe('%F0%9F%8C%A1');
    expect(metricDimension('a'.repeat(1_024))).toBe('a'.repeat(1_024));
    expect(metricDimension('a'.repeat(1_025))).toBeUndefined();
    // 170 two-byte characters are 1,020 characters encoded, 171 are 1,026.
    expect(metricDimension('\u00e9'.repeat(170))).toHaveLength(1_020);
    expect(metricDimension('\u00e9'.repeat(171))).toBeUndefined();
    expect(metricDimension(' ')).toBeUndefined();
  });

  test('property: every dimension value is one CloudWatch takes, and decodes back to its sensor id', () => {
    const id = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 400 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }));
    fc.assert(fc.property(id, (sensorId) => {
      const value = metricDimension(sensorId);
      if (value === undefined) {
        // Only what no encoding can make a dimension value: too long, or nothing but ASCII whitespace.
        expect(new TextEncoder().encode(sensorId).length > 340 || /^[\t\n\v\f\r ]*$/.test(sensorId)).toBe(true);
        return;
      }
      expect(value).toMatch(/^[\x20-\x7e]{1,1024}$/);
      expect(value).toMatch(/[^\t\n\v\f\r ]/);
      expect(decodeURIComponent(value)).toBe(sensorId);
    }), { numRuns: 1_000 });
  });

  test('values out of CloudWatch\'s range are left out and counted, the others kept', () => {
    expect([0, -0, 1, -1, 8.51592e-109, -1.174271e108].every(isMetricValue)).toBe(true);
    expect([8.5159e-109, 1.1742711e108, 1e200, -1e-200, Number.MIN_VALUE].some(isMetricValue)).toBe(false);
    const batch = metricGroups([at('s1', now, 1), at('s1', now, 1e120), at('s1', now, -1e-120), at('s2', now, 2)], now);
    expect(batch.skipped).toBe(2);
    expect(batch.restamped).toBe(0);
    expect(batch.groups).toEqual([group('s1', minuteOf(now), [[1, 1]]), group('s2', minuteOf(now), [[2, 1]])]);
  });

  test('minutes CloudWatch cannot date are merged per sensor at the time of processing, and counted', () => {
    const batch = metricGroups([
      at('old', now - 30 * 24 * 3_600_000, 1),
      at('old', now - 20 * 24 * 3_600_000, 2),
      at('future', now + 3 * 3_600_000, 3),
      at('edge', now - 14 * 24 * 3_600_000 + 91_000, 4),
    ], now);
    expect(batch.restamped).toBe(3);
    expect(batch.groups).toEqual([
      group('old', now, [[1, 1], [2, 1]]),
      group('future', now, [[3, 1]]),
      group('edge', minuteOf(now - 14 * 24 * 3_600_000 + 91_000), [[4, 1]]),
    ]);
  });

  test('an id no dimension value can hold: its values are counted as skipped', () => {
    const batch = metricGroups([at('a'.repeat(2_000), now, 1), at('a'.repeat(2_000), now, 2), at('ok', now, 3)], now);
    expect(batch.skipped).toBe(2);
    expect(batch.groups.map((g) => g.sensorId)).toEqual(['ok']);
  });

  test('requests stay under 1 MB: data of long dimension values and 150 values each are split by size, in order', async () => {
    const fake = new FakeClient();
    const data: MetricDatum[] = Array.from({ length: 900 }, (_, i) => ({
      MetricName: 'SensorData',
      Dimensions: [{ Name: 'SensorId', Value: `${i}-`.padEnd(1_024, 'x') }],
      Timestamp: new Date(MINUTE),
      Values: Array.from({ length: 150 }, (_unused, v) => -1.2345678901234567e-100 * (v + 1)),
      Counts: Array.from({ length: 150 }, () => 250),
      Unit: 'None',
    }));
    const calls = await putMetricData(asClient<CloudWatchClient>(fake), 'Sensors', data);
    const inputs = fake.inputs as PutMetricDataCommandInput[];
    expect(calls).toBe(inputs.length);
    expect(calls).toBeGreaterThan(1);
    for (const input of inputs) {
      // The request as the client sends it (AWS JSON, timestamps as epoch seconds).
      const metricData = input.MetricData!.map((d) => ({ ...d, Timestamp: new Date(d.Timestamp!).getTime() / 1000 }));
      const body = JSON.stringify({ Namespace: input.Namespace, MetricData: metricData });
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1_000_000);
      expect(input.MetricData!.length).toBeLessThanOrEqual(MAX_DATA_PER_REQUEST);
    }
    expect(inputs.flatMap((i) => i.MetricData!.map((d) => d.Dimensions![0].Value))).toEqual(data.map((d) => d.Dimensions![0].Value));
    expect(MAX_DATA_BYTES_PER_REQUEST).toBeLessThan(1_000_000);
  });
});
