import { eventTime } from '../../src/handlers/archive';
import { DEFAULT_MAPPING, decodeRecord } from '../../src/handlers/reading';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64');

describe('payload fields are own properties only', () => {
  test('a field named like an Object.prototype member does not match a payload without it', () => {
    const mapping = { ...DEFAULT_MAPPING, valueField: 'constructor' };
    const result = decodeRecord(b64({ sensorid: 's1', timestamp: '2024-01-01T00:00:00Z', value: 1 }), mapping);
    expect(result).toEqual({ ok: false, reason: 'missing field "constructor" (a finite number is required)' });
  });

  test('a measurement field named toString is skipped when absent', () => {
    const mapping = { ...DEFAULT_MAPPING, measurementFields: ['toString', 'temperature'] };
    const result = decodeRecord(b64({ sensorid: 'd1', timestamp: 0, temperature: 20 }), mapping);
    expect(result).toEqual({ ok: true, many: false, invalid: [], readings: [{ sensorId: 'd1#temperature', timestamp: '1970-01-01T00:00:00.000Z', value: 20 }] });
  });
});

describe('the archiver reads event time as the processor does', () => {
  const record = (payload: unknown) => ({
    shardId: 'shardId-000000000000',
    sequenceNumber: '1',
    partitionKey: 'p',
    approximateArrivalTimestamp: 1_700_000_000,
    data: b64(payload),
  });

  test('a time without a zone is UTC', () => {
    expect(eventTime(record({ timestamp: '2024-05-06T07:08:09' }), 'timestamp').toISOString()).toBe('2024-05-06T07:08:09.000Z');
  });

  test('a date that does not exist falls back to the arrival time', () => {
    expect(eventTime(record({ timestamp: '2024-02-31T00:00:00Z' }), 'timestamp').toISOString()).toBe('2023-11-14T22:13:20.000Z');
  });

  test('epoch seconds and an inherited field name', () => {
    expect(eventTime(record({ timestamp: 1_600_000_000 }), 'timestamp').toISOString()).toBe('2020-09-13T12:26:40.000Z');
    expect(eventTime(record({ timestamp: 1_600_000_000 }), 'constructor').toISOString()).toBe('2023-11-14T22:13:20.000Z');
  });
});
