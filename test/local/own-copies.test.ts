/**
 * The local package holds its own copies of two pure functions of the
 * construct library (it imports nothing from it): the sensor's metric
 * dimension, which the page uses to find a sensor's metric, and the readings
 * of a table item. Each copy must answer as the library does.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import * as fc from 'fast-check';
import { metricDimension as localMetricDimension } from '../../local/src/metric-dimension';
import { readingsOfItem as localReadingsOfItem } from '../../local/src/stored-readings';
import { metricDimension } from '../../src/handlers/metric-dimension';
import { readingsOfItem } from '../../src/handlers/table-layout';

const RUNS = 2_000;

test('metricDimension: the local copy answers as the library for any sensor id', () => {
  const id = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom('a', '%', ' ', '\t', '\u007f', 'é', '😀', '\u0001'), maxLength: 30 }),
    // Around the length limit, before and after encoding.
    fc.integer({ min: 1000, max: 1030 }).map((n) => 'x'.repeat(n)),
    fc.integer({ min: 330, max: 350 }).map((n) => 'é'.repeat(n)),
  );
  fc.assert(fc.property(id, (s) => localMetricDimension(s) === metricDimension(s)), { numRuns: RUNS });
});

const minute = fc.integer({ min: Date.UTC(2000, 0, 1) / 60_000, max: Date.UTC(2099, 0, 1) / 60_000 }).map((m) => m * 60_000);
const numberText = fc.oneof(fc.integer().map(String), fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), fc.constantFrom('1e-400', '-0', '12.50'));
const slots = fc.dictionary(fc.integer({ min: 0, max: 59_999 }).map((o) => `r${String(o).padStart(5, '0')}`), numberText.map((n): AttributeValue => ({ N: n })), { maxKeys: 8 });
const sensorId = fc.option(fc.string({ maxLength: 12 }), { nil: undefined });

const perReadingItem = fc.record({
  sensorId,
  time: fc.integer({ min: 0, max: Date.UTC(2099, 0, 1) }).map((ms) => new Date(ms).toISOString()),
  value: fc.option(numberText, { nil: undefined }),
}).map(({ sensorId: s, time, value }) => ({
  ...(s === undefined ? {} : { SensorId: { S: s } }),
  Timestamp: { S: time },
  ...(value === undefined ? {} : { Value: { N: value } }),
}) as Record<string, AttributeValue>);

const packedItem = fc.record({
  sensorId,
  minute,
  second: fc.option(fc.integer({ min: 0, max: 59 }), { nil: undefined }),
  prefix: fc.constantFrom('P#', 'H#', 'D#', 'V#', 'X#', ''),
  slots,
  extra: fc.dictionary(fc.constantFrom('v', 'ttl', 'c', 'r1', 'r123456', 'Value'), numberText.map((n): AttributeValue => ({ N: n })), { maxKeys: 3 }),
}).map(({ sensorId: s, minute: m, second, prefix, slots: r, extra }) => ({
  ...extra,
  ...r,
  ...(s === undefined ? {} : { SensorId: { S: s } }),
  Timestamp: { S: `${prefix}${new Date(m).toISOString()}${second === undefined ? '' : `#${String(second).padStart(2, '0')}`}` },
}) as Record<string, AttributeValue>);

const oddItem = fc.dictionary(fc.constantFrom('SensorId', 'Timestamp', 'Value', 'r00001', 'r59999'),
  fc.oneof(fc.string({ maxLength: 30 }).map((s): AttributeValue => ({ S: s })), numberText.map((n): AttributeValue => ({ N: n }))), { maxKeys: 5 });

test('readingsOfItem: the local copy reads every item as the library does', () => {
  fc.assert(fc.property(fc.oneof(perReadingItem, packedItem, oddItem), (item) => {
    expect(localReadingsOfItem(item)).toEqual(readingsOfItem(item));
  }), { numRuns: RUNS });
});

test('the copies are not vacuous: a packed item gives its readings, an odd id its encoded dimension', () => {
  const item = { SensorId: { S: 's-1' }, Timestamp: { S: 'P#2026-01-01T00:01:00.000Z' }, r00250: { N: '2.5' }, r00001: { N: '1' } };
  expect(localReadingsOfItem(item)).toEqual([
    { sensorId: 's-1', timestamp: '2026-01-01T00:01:00.001Z', value: 1 },
    { sensorId: 's-1', timestamp: '2026-01-01T00:01:00.250Z', value: 2.5 },
  ]);
  expect(localMetricDimension('capteur-é')).toBe('capteur-%C3%A9');
});
