import * as fc from 'fast-check';
import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { b64, b64json } from './helpers';
import { aggregate } from '../../local/src/kpl-aggregate';
import {
  decodeRecord,
  decodeUtf8,
  DEFAULT_MAPPING,
  mappingOf,
  parseTimestamp,
  parseValue,
  PayloadMapping,
  Reading,
  toReadings,
  underflowingNumbers,
} from '../../src/handlers/reading';
import { PAYLOAD_SETTINGS, readSettings } from '../../src/private/handler-contract';

const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function readingsOf(dataBase64: string, mapping?: PayloadMapping): Reading[] {
  const result = decodeRecord(dataBase64, mapping);
  if (!result.ok) throw new Error(`expected readings, got: ${result.reason}`);
  return result.readings;
}

function reasonOf(dataBase64: string, mapping?: PayloadMapping): string {
  const result = decodeRecord(dataBase64, mapping);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.readings)}`);
  return result.reason;
}

describe('decodeRecord with the reference payload', () => {
  test('stores the string value "21.5" as the number 21.5', () => {
    const readings = readingsOf(b64json({ sensorid: 's1', value: '21.5', timestamp: '2024-01-02T03:04:05Z' }));
    expect(readings).toEqual([{ sensorId: 's1', timestamp: '2024-01-02T03:04:05.000Z', value: 21.5 }]);
    expect(typeof readings[0].value).toBe('number');
  });

  test('accepts a numeric value as is', () => {
    expect(readingsOf(b64json({ sensorid: 's1', value: -3.25e-2, timestamp: '2024-01-02T03:04:05Z' }))[0].value).toBe(-0.0325);
  });

  test('keeps non-ASCII (UTF-8) sensor ids intact', () => {
    for (const id of ['capteur-été', 'датчик-7', '温度计', 'sensor-🌡️', 'Ωmega\u00a01']) {
      expect(readingsOf(b64json({ sensorid: id, value: 1, timestamp: '2024-01-02T03:04:05Z' }))[0].sensorId).toBe(id);
    }
  });

  test('leaves the sensor id as sent (no trimming, no case change)', () => {
    expect(readingsOf(b64json({ sensorid: ' S1 ', value: 1, timestamp: '2024-01-02T03:04:05Z' }))[0].sensorId).toBe(' S1 ');
  });
});

describe('decodeRecord rejections name the problem', () => {
  const ts = '2024-01-02T03:04:05Z';

  test('invalid UTF-8', () => {
    expect(reasonOf(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64'))).toMatch(/UTF-8/);
    // a lone continuation byte and an overlong encoding of "/"
    expect(reasonOf(Buffer.from([0x80]).toString('base64'))).toMatch(/UTF-8/);
    expect(reasonOf(Buffer.from([0xc0, 0xaf]).toString('base64'))).toMatch(/UTF-8/);
  });

  test('invalid JSON', () => {
    expect(reasonOf(b64('{"sensorid": "s1",'))).toMatch(/JSON/);
    expect(reasonOf(b64('sensorid=s1&value=1'))).toMatch(/JSON/);
    expect(reasonOf(b64(''))).toMatch(/JSON/);
  });

  test('a JSON value that is not an object', () => {
    for (const value of [[], [{ sensorid: 's1', value: 1, timestamp: ts }], 'text', 42, null, true]) {
      expect(reasonOf(b64json(value))).toMatch(/not a JSON object/);
    }
  });

  test('missing or empty sensorid', () => {
    expect(reasonOf(b64json({ value: 1, timestamp: ts }))).toMatch(/missing field "sensorid"/);
    expect(reasonOf(b64json({ sensorid: '', value: 1, timestamp: ts }))).toMatch(/invalid field "sensorid"/);
    expect(reasonOf(b64json({ sensorid: '   ', value: 1, timestamp: ts }))).toMatch(/"sensorid"/);
    expect(reasonOf(b64json({ sensorid: 17, value: 1, timestamp: ts }))).toMatch(/invalid field "sensorid": 17/);
    expect(reasonOf(b64json({ sensorid: null, value: 1, timestamp: ts }))).toMatch(/"sensorid"/);
  });

  test('a sensor id longer than the limit in bytes, not characters', () => {
    // "é" is two bytes in UTF-8: 128 of them is exactly 256 bytes, 129 is too long.
    expect(readingsOf(b64json({ sensorid: 'é'.repeat(128), value: 1, timestamp: ts }))[0].sensorId).toHaveLength(128);
    expect(reasonOf(b64json({ sensorid: 'é'.repeat(129), value: 1, timestamp: ts }))).toMatch(/longer than 256 bytes/);
    expect(reasonOf(b64json({ sensorid: 'a'.repeat(257), value: 1, timestamp: ts }))).toMatch(/sensor id "a{32}"\.\.\. is longer than 256 bytes/);
    const strict = { ...DEFAULT_MAPPING, maxSensorIdLength: 4 };
    expect(reasonOf(b64json({ sensorid: 'abcde', value: 1, timestamp: ts }), strict)).toMatch(/longer than 4 bytes/);
  });

  test('non-finite or non-numeric values', () => {
    for (const value of ['abc', '', ' ', 'NaN', 'Infinity', '-Infinity', '1e999', '0x10', '1,5', '12abc', true, null, [1], { v: 1 }]) {
      const reason = reasonOf(b64json({ sensorid: 's1', value, timestamp: ts }));
      expect(reason).toMatch(/field "value"/);
      expect(reason).toMatch(/finite number/);
    }
    expect(reasonOf(b64('{"sensorid":"s1","value":1e999,"timestamp":"2024-01-02T03:04:05Z"}'))).toMatch(/invalid field "value"/);
    expect(reasonOf(b64json({ sensorid: 's1', timestamp: ts }))).toMatch(/missing field "value"/);
  });

  test('bad timestamps', () => {
    for (const timestamp of ['2024-02-31T00:00:00Z', '2023-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-00-10T00:00:00Z',
      '2024-01-02T24:00:00Z', '2024-01-02T03:60:00Z', '2024-01-02T03:04:60Z', 'yesterday', '', '2024-01-02', '1704164645',
      -1, true, null, { t: 1 }]) {
      const reason = reasonOf(b64json({ sensorid: 's1', value: 1, timestamp }));
      expect(reason).toMatch(/field "timestamp"/);
      expect(reason).toMatch(/ISO-8601/);
    }
    expect(reasonOf(b64json({ sensorid: 's1', value: 1 }))).toMatch(/missing field "timestamp"/);
  });

  test('a sensor id that is not valid Unicode (a lone surrogate, which UTF-8 cannot encode)', () => {
    for (const id of ['\ud800', 'a\udfffb', 's1\ud83c', '\udf21\ud83c']) {
      expect(reasonOf(b64(`{"sensorid":${JSON.stringify(id)},"value":1,"timestamp":"${ts}"}`))).toMatch(/"sensorid".*lone surrogate/);
    }
    // A pair is one character, as UTF-8 has it.
    expect(readingsOf(b64json({ sensorid: 's\ud83c\udf21', value: 1, timestamp: ts }))[0].sensorId).toBe('s\ud83c\udf21');
  });

  test('a long invalid value is shortened in the reason, never inside a surrogate pair', () => {
    const reason = reasonOf(b64json({ sensorid: 's1', value: `${'x'.repeat(59)}\ud83c\udf21${'x'.repeat(40)}`, timestamp: ts }));
    expect(reason).toMatch(/"x{59}\ud83c\udf21"\.\.\./);
    expect(reason).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  test('a field nested a million levels deep: refused with its kind, never serialized (JSON.stringify would throw)', () => {
    const deep = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    expect(reasonOf(b64(`{"sensorid":"s1","value":${deep},"timestamp":"${ts}"}`))).toBe('invalid field "value": an array of 1 (a finite number is required)');
    expect(reasonOf(b64(`{"sensorid":${deep},"value":1,"timestamp":"${ts}"}`))).toMatch(/^invalid field "sensorid": an array of 1 /);
    expect(reasonOf(b64(`{"sensorid":"s1","value":1,"timestamp":{"a":${deep}}}`))).toMatch(/^invalid field "timestamp": an object /);
    // elsewhere in the record it is only carried along
    expect(readingsOf(b64(`{"sensorid":"s1","value":0,"timestamp":"${ts}","extra":${deep}}`))[0].value).toBe(0);
  });

  test('a long invalid value is shortened in the reason', () => {
    const reason = reasonOf(b64json({ sensorid: 's1', value: 'x'.repeat(500), timestamp: ts }));
    expect(reason.length).toBeLessThan(150);
    expect(reason).toContain('...');
  });
});

describe('timestamps', () => {
  test('epoch seconds and epoch milliseconds', () => {
    expect(parseTimestamp(1704164645)).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp(1704164645.25)).toBe('2024-01-02T03:04:05.250Z');
    expect(parseTimestamp(1704164645123)).toBe('2024-01-02T03:04:05.123Z');
    expect(parseTimestamp(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(readingsOf(b64json({ sensorid: 's1', value: 1, timestamp: 1704164645 }))[0].timestamp).toBe('2024-01-02T03:04:05.000Z');
    expect(readingsOf(b64json({ sensorid: 's1', value: 1, timestamp: 1704164645123 }))[0].timestamp).toBe('2024-01-02T03:04:05.123Z');
  });

  test('rejects negative, non-finite and out-of-range epochs', () => {
    for (const raw of [-1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIME + 1, 1e20]) expect(parseTimestamp(raw)).toBeUndefined();
    expect(parseTimestamp(MAX_TIME)).toBe('9999-12-31T23:59:59.999Z');
  });

  test('zone offsets are normalized to UTC', () => {
    expect(parseTimestamp('2024-01-02T05:04:05+02:00')).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp('2024-01-02T05:04:05+0200')).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp('2024-01-02T05:04:05+02')).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp('2024-01-01T22:34:05-04:30')).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp('2024-01-02T03:04:05z')).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp('2024-01-02T03:04:05')).toBe('2024-01-02T03:04:05.000Z');
    expect(parseTimestamp('2024-01-02 03:04')).toBe('2024-01-02T03:04:00.000Z');
    expect(parseTimestamp('2024-03-01T00:30:00+01:00')).toBe('2024-02-29T23:30:00.000Z');
    expect(readingsOf(b64json({ sensorid: 's1', value: 1, timestamp: '2024-01-02T12:04:05+09:00' }))[0].timestamp)
      .toBe('2024-01-02T03:04:05.000Z');
  });

  test('fractions are kept to the millisecond', () => {
    expect(parseTimestamp('2024-01-02T03:04:05.1Z')).toBe('2024-01-02T03:04:05.100Z');
    expect(parseTimestamp('2024-01-02T03:04:05,123456789Z')).toBe('2024-01-02T03:04:05.123Z');
  });

  test('29 February only in leap years', () => {
    expect(parseTimestamp('2024-02-29T00:00:00Z')).toBe('2024-02-29T00:00:00.000Z');
    expect(parseTimestamp('2000-02-29T00:00:00Z')).toBe('2000-02-29T00:00:00.000Z');
    expect(parseTimestamp('2100-02-29T00:00:00Z')).toBeUndefined();
  });

  test('years before 1970 are rejected, also two-digit years written with four digits', () => {
    expect(parseTimestamp('1969-12-31T23:59:59Z')).toBeUndefined();
    // Date.UTC maps years 0-99 to 1900-1999: "0070" must not become 1970.
    expect(parseTimestamp('0070-01-01T00:00:00Z')).toBeUndefined();
    expect(parseTimestamp('0099-06-01T00:00:00Z')).toBeUndefined();
    // ...but a local time before 1970 that is after it in UTC is fine.
    expect(parseTimestamp('1969-12-31T23:00:00-05:00')).toBe('1970-01-01T04:00:00.000Z');
  });

  test('zone offsets out of range are rejected', () => {
    expect(parseTimestamp('2024-01-02T03:04:05+99:99')).toBeUndefined();
    expect(parseTimestamp('2024-01-02T03:04:05+01:60')).toBeUndefined();
    expect(parseTimestamp('2024-01-02T03:04:05+14:00')).toBe('2024-01-01T13:04:05.000Z');
  });

  test('garbage', () => {
    for (const raw of ['', 'now', '2024', '2024-01', '2024-01-02T03', '2024-1-2T03:04:05Z', '2024-01-02T03:04:05ZZ', undefined, null, {}, []]) {
      expect(parseTimestamp(raw)).toBeUndefined();
    }
  });
});

/**
 * The reading of ISO-8601 strings as a regular expression states it: the
 * handler's hand-written scanner must agree with it on every string.
 */
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
function referenceParse(raw: string): string | undefined {
  const m = ISO_8601.exec(raw.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '0', frac = '0', zone = 'Z'] = m;
  const [month, day, hour, minute, second] = [mo, d, h, mi, s].map(Number);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(Date.UTC(2000, 0, 1, hour, minute, second, Number(frac.padEnd(3, '0').slice(0, 3))));
  const base = date.setUTCFullYear(Number(y), month - 1, day);
  if (date.getUTCDate() !== day) return undefined;
  let offset = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const millis = base - offset;
  return millis < MIN_TIME || millis > MAX_TIME ? undefined : new Date(millis).toISOString();
}

describe('ISO-8601 timestamps agree with the regular expression of the grammar', () => {
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  // Near-valid strings: each part drawn mostly from its valid range, sometimes just outside it or malformed.
  const part = (width: number, min: number, max: number) => fc.oneof(
    { weight: 30, arbitrary: fc.integer({ min, max }).map((n) => pad(n, width)) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 10 ** width - 1 }).map((n) => pad(n, width)) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('0', '9', 'x', ' ', ':', '-', '\u0663'), maxLength: width + 1 }) },
  );
  // Mostly the valid choices, now and then one that is not.
  const one = (valid: readonly string[], invalid: readonly string[]) => fc.oneof(
    { weight: 30, arbitrary: fc.constantFrom(...valid) },
    { weight: 1, arbitrary: fc.constantFrom(...invalid) },
  );
  const iso = fc.tuple(
    part(4, 1965, 2100), one(['-'], ['/', '']), part(2, 1, 12), one(['-'], ['.']), part(2, 1, 31),
    one(['T', 't', ' '], ['_', '']), part(2, 0, 23), one([':'], ['.', '']), part(2, 0, 59),
    fc.option(fc.tuple(one([':'], ['-', '']), part(2, 0, 59), fc.option(fc.tuple(one(['.', ','], [':']),
      fc.string({ unit: fc.constantFrom('0', '1', '5', '9'), maxLength: 11 }))))),
    one(['', 'Z', 'z', '+', '-'], ['ZZ', 'Q', ' ']),
    fc.option(fc.tuple(part(2, 0, 23), one(['', ':'], ['::', '.']), fc.option(part(2, 0, 59)))),
    one([''], [' ', '\n', 'x', '0']),
  ).map(([y, s1, mo, s2, d, t, h, c, mi, sec, zone, off, tail]) => {
    const seconds = sec ? `${sec[0]}${sec[1]}${sec[2] ? `${sec[2][0]}${sec[2][1]}` : ''}` : '';
    const offset = off && (zone === '+' || zone === '-') ? `${off[0]}${off[1]}${off[2] ?? ''}` : '';
    return `${y}${s1}${mo}${s2}${d}${t}${h}${c}${mi}${seconds}${zone}${offset}${tail}`;
  });

  test('on near-valid strings', () => {
    fc.assert(fc.property(iso, (raw) => {
      expect(parseTimestamp(raw)).toBe(referenceParse(raw));
    }), { numRuns: 20_000 });
  });

  test('on valid ones of every form, and on any string', () => {
    fc.assert(fc.property(fc.date({ min: new Date(MIN_TIME - 86_400_000), max: new Date(MAX_TIME), noInvalidDate: true }), (date) => {
      const canonical = date.toISOString();
      for (const raw of [canonical, canonical.replace('Z', '+05:30'), canonical.replace('T', ' ').slice(0, 19), canonical.slice(0, 16) + 'z']) {
        expect(parseTimestamp(raw)).toBe(referenceParse(raw));
      }
    }), { numRuns: 5_000 });
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (raw) => {
      expect(parseTimestamp(raw)).toBe(referenceParse(raw));
    }));
  });

  test('the generator reaches both answers', () => {
    const answers = fc.sample(iso, { numRuns: 2_000, seed: 1 }).map((raw) => parseTimestamp(raw) !== undefined);
    expect(answers.filter(Boolean).length).toBeGreaterThan(200);
    expect(answers.filter((ok) => !ok).length).toBeGreaterThan(200);
  });
});

describe('parseValue', () => {
  test('numbers and numeric strings', () => {
    expect(parseValue(0)).toBe(0);
    expect(parseValue(' 21.5 ')).toBe(21.5);
    expect(parseValue('+1')).toBe(1);
    expect(parseValue('-.5')).toBe(-0.5);
    expect(parseValue('5.')).toBe(5);
    expect(parseValue('1E3')).toBe(1000);
    expect(parseValue(Number.MAX_VALUE)).toBe(Number.MAX_VALUE);
  });

  test('everything else', () => {
    for (const raw of [Number.NaN, Number.POSITIVE_INFINITY, '', '.', '-', 'e5', '1e', '0b1', '1_000', undefined, null, false, {}, []]) {
      expect(parseValue(raw)).toBeUndefined();
    }
  });
});

describe('measurement fields', () => {
  const mapping: PayloadMapping = {
    ...DEFAULT_MAPPING,
    sensorIdField: 'deviceId',
    timestampField: 'ts',
    measurementFields: ['temperature', 'humidity', 'pressure'],
  };

  test('one reading per measurement field present', () => {
    const readings = readingsOf(b64json({ deviceId: 'd1', ts: '2024-01-02T03:04:05Z', temperature: 21.5, humidity: 40 }), mapping);
    expect(readings).toEqual([
      { sensorId: 'd1#temperature', timestamp: '2024-01-02T03:04:05.000Z', value: 21.5 },
      { sensorId: 'd1#humidity', timestamp: '2024-01-02T03:04:05.000Z', value: 40 },
    ]);
  });

  test('the separator is configurable and valueField is unused', () => {
    const readings = readingsOf(b64json({ deviceId: 'd1', ts: 1704164645, humidity: '40', value: 'not a number' }),
      { ...mapping, measurementSeparator: '/' });
    expect(readings).toEqual([{ sensorId: 'd1/humidity', timestamp: '2024-01-02T03:04:05.000Z', value: 40 }]);
  });

  test('a bad measurement names its field', () => {
    const reason = reasonOf(b64json({ deviceId: 'd1', ts: 1704164645, temperature: 21.5, humidity: 'wet' }), mapping);
    expect(reason).toMatch(/invalid field "humidity": "wet"/);
  });

  test('none of the fields present', () => {
    expect(reasonOf(b64json({ deviceId: 'd1', ts: 1704164645, value: 1 }), mapping))
      .toMatch(/none of the measurement fields temperature, humidity, pressure is present/);
  });

  test('custom field names report the custom name', () => {
    expect(reasonOf(b64json({ sensorid: 's1', ts: 1704164645, temperature: 1 }), mapping)).toMatch(/missing field "deviceId"/);
    expect(reasonOf(b64json({ deviceId: 'd1', timestamp: 1704164645, temperature: 1 }), mapping)).toMatch(/missing field "ts"/);
  });

  test('the byte limit applies to the composed id', () => {
    const reason = reasonOf(b64json({ deviceId: 'd'.repeat(250), ts: 1704164645, temperature: 1 }), mapping);
    expect(reason).toMatch(/longer than 256 bytes/);
  });
});

describe('the payload mapping from the handler settings', () => {
  const mappingFromEnv = (env: Record<string, string>) => mappingOf(readSettings(PAYLOAD_SETTINGS, env));

  test('defaults when nothing is set', () => {
    expect(mappingFromEnv({})).toEqual(DEFAULT_MAPPING);
    expect(DEFAULT_MAPPING).toEqual({
      sensorIdField: 'sensorid',
      timestampField: 'timestamp',
      valueField: 'value',
      measurementFields: [],
      measurementSeparator: '#',
      maxSensorIdLength: 256,
      readingsField: '',
      acceptArrays: false,
      aggregated: false,
    });
  });

  test('reads every variable', () => {
    expect(mappingFromEnv({
      PAYLOAD_SENSOR_ID_FIELD: 'deviceId',
      PAYLOAD_TIMESTAMP_FIELD: 'ts',
      PAYLOAD_VALUE_FIELD: 'reading',
      PAYLOAD_MEASUREMENT_FIELDS: ' temperature , humidity,,',
      PAYLOAD_MEASUREMENT_SEPARATOR: '.',
      MAX_SENSOR_ID_LENGTH: '512',
      PAYLOAD_READINGS_FIELD: 'batch',
      PAYLOAD_ACCEPT_ARRAYS: 'true',
      PAYLOAD_AGGREGATED: 'true',
    })).toEqual({
      sensorIdField: 'deviceId',
      timestampField: 'ts',
      valueField: 'reading',
      measurementFields: ['temperature', 'humidity'],
      measurementSeparator: '.',
      maxSensorIdLength: 512,
      readingsField: 'batch',
      acceptArrays: true,
      aggregated: true,
    });
  });

  test('empty values take the defaults; an invalid limit is an error naming the variable', () => {
    expect(mappingFromEnv({
      PAYLOAD_SENSOR_ID_FIELD: '',
      PAYLOAD_TIMESTAMP_FIELD: '',
      PAYLOAD_VALUE_FIELD: '',
      PAYLOAD_MEASUREMENT_FIELDS: ' , ',
      PAYLOAD_MEASUREMENT_SEPARATOR: '',
      MAX_SENSOR_ID_LENGTH: '',
      PAYLOAD_READINGS_FIELD: '',
      PAYLOAD_ACCEPT_ARRAYS: '',
      PAYLOAD_AGGREGATED: '',
    })).toEqual(DEFAULT_MAPPING);
    expect(() => mappingFromEnv({ PAYLOAD_ACCEPT_ARRAYS: 'yes' })).toThrow('environment variable PAYLOAD_ACCEPT_ARRAYS must be true or false, got "yes"');
    for (const bad of ['lots', '0', '-5', '2.5', '4096']) {
      expect(() => mappingFromEnv({ MAX_SENSOR_ID_LENGTH: bad }))
        .toThrow(`environment variable MAX_SENSOR_ID_LENGTH must be an integer from 1 to 2048, got "${bad}"`);
    }
  });

  test('the mapping drives decodeRecord', () => {
    const mapping = mappingFromEnv({ PAYLOAD_SENSOR_ID_FIELD: 'deviceId', PAYLOAD_TIMESTAMP_FIELD: 'ts', PAYLOAD_MEASUREMENT_FIELDS: 'temperature,humidity' });
    const readings = readingsOf(b64json({ deviceId: 'd1', ts: '2024-01-02T03:04:05Z', temperature: 21.5, humidity: 40 }), mapping);
    expect(readings.map((r) => r.sensorId)).toEqual(['d1#temperature', 'd1#humidity']);
  });
});

describe('decodeUtf8', () => {
  test('strict', () => {
    expect(decodeUtf8(b64('héllo 🌡'))).toBe('héllo 🌡');
    expect(decodeUtf8(Buffer.from([0xed, 0xa0, 0x80]).toString('base64'))).toBeUndefined(); // an encoded surrogate
  });

  test('a byte order mark is kept, so that the text holds every byte; a payload starting with one is not JSON', () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"sensorid":"s1","value":1,"timestamp":"2024-01-02T03:04:05Z"}')]);
    expect(decodeUtf8(withBom.toString('base64'))).toBe(`\ufeff${withBom.subarray(3).toString('utf8')}`);
    expect(reasonOf(withBom.toString('base64'))).toBe('payload is not valid JSON');
  });
});

// ---------------------------------------------------------------- properties

const anyMapping: fc.Arbitrary<PayloadMapping> = fc.record({
  sensorIdField: fc.constantFrom('sensorid', 'id'),
  timestampField: fc.constantFrom('timestamp', 'ts'),
  valueField: fc.constantFrom('value', 'v'),
  measurementFields: fc.constantFrom([], ['a', 'b'], ['value']),
  measurementSeparator: fc.constantFrom('#', ''),
  maxSensorIdLength: fc.integer({ min: 1, max: 300 }),
  readingsField: fc.constantFrom('', 'readings'),
  acceptArrays: fc.boolean(),
  aggregated: fc.boolean(),
});

/** Objects that have the expected keys, with arbitrary JSON under them. */
const nearPayload = fc.record({
  sensorid: fc.oneof(fc.string(), fc.jsonValue()),
  id: fc.oneof(fc.string(), fc.jsonValue()),
  value: fc.oneof(fc.double(), fc.string(), fc.jsonValue()),
  v: fc.jsonValue(),
  a: fc.oneof(fc.double(), fc.jsonValue()),
  b: fc.jsonValue(),
  timestamp: fc.oneof(fc.double(), fc.integer(), fc.string(), fc.jsonValue()),
  ts: fc.jsonValue(),
}, { requiredKeys: [] });

function checkResult(dataBase64: string, mapping?: PayloadMapping): void {
  const result = decodeRecord(dataBase64, mapping);
  if (result.ok) {
    if (result.many) {
      expect(result.readings.length + result.invalid.length).toBeGreaterThan(0);
      for (const bad of result.invalid) expect(bad.reason.length).toBeGreaterThan(0);
    } else {
      expect(result.readings.length).toBeGreaterThan(0);
      expect(result.invalid).toEqual([]);
    }
    for (const r of result.readings) {
      expect(typeof r.sensorId).toBe('string');
      expect(Number.isFinite(r.value)).toBe(true);
      expect(parseTimestamp(r.timestamp)).toBe(r.timestamp);
    }
  } else {
    expect(typeof result.reason).toBe('string');
    expect(result.reason.length).toBeGreaterThan(0);
  }
}

describe('decodeRecord never throws', () => {
  test('for arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), anyMapping, (bytes, mapping) => {
      checkResult(Buffer.from(bytes).toString('base64'), mapping);
    }));
  });

  test('for arbitrary strings, as payload and as (invalid) base64', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      checkResult(b64(s));
      checkResult(s);
    }));
  });

  test('for arbitrary JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), anyMapping, (value, mapping) => {
      checkResult(b64json(value), mapping);
    }));
  });

  test('for objects close to a valid payload', () => {
    fc.assert(fc.property(nearPayload, anyMapping, (value, mapping) => {
      checkResult(b64json(value), mapping);
      checkResult(b64json(value));
    }), { numRuns: 500 });
  });
});

/** Sensor ids the processor accepts: non-blank, at most 256 UTF-8 bytes, any code point. */
const sensorId = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 })
  .filter((s) => s.trim().length > 0 && Buffer.byteLength(s, 'utf8') <= 256);
/** Values DynamoDB's number type holds: 0, or magnitudes from 1E-130 to below 1E+126. */
const finiteValue = fc.double({ noNaN: true, noDefaultInfinity: true })
  .filter((v) => v === 0 || (Math.abs(v) >= 1e-130 && Math.abs(v) < 1e126));
const instant = fc.integer({ min: MIN_TIME, max: MAX_TIME });

/** The same instant written in the ways a device may send it. */
const timestampForms = fc.oneof(
  instant.map((ms) => ({ ms, raw: new Date(ms).toISOString() as unknown })),
  fc.integer({ min: 1e11, max: MAX_TIME }).map((ms) => ({ ms, raw: ms as unknown })),
  // below 1e11 an epoch number is seconds
  fc.integer({ min: 0, max: 1e11 - 1 }).map((s) => ({ ms: s * 1000, raw: s as unknown })),
  fc.tuple(fc.integer({ min: MIN_TIME, max: MAX_TIME - 15 * 3_600_000 }), fc.integer({ min: -14 * 60, max: 14 * 60 }))
    .map(([ms, offset]) => {
      const local = new Date(ms + offset * 60_000).toISOString().slice(0, 23);
      const abs = Math.abs(offset);
      const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
      return { ms, raw: `${local}${zone}` as unknown };
    }),
);

describe('valid readings round-trip', () => {
  test('value and normalized timestamp', () => {
    fc.assert(fc.property(sensorId, finiteValue, fc.boolean(), timestampForms, (id, value, asString, { ms, raw }) => {
      const data = b64json({ sensorid: id, value: asString ? String(value) : value, timestamp: raw });
      const readings = readingsOf(data);
      expect(readings).toHaveLength(1);
      expect(readings[0].sensorId).toBe(id);
      expect(readings[0].value === value).toBe(true); // === so that -0 and 0 are equal
      expect(readings[0].timestamp).toBe(new Date(ms).toISOString());
    }), { numRuns: 500 });
  });

  test('toReadings on the object agrees with decodeRecord on its bytes', () => {
    fc.assert(fc.property(nearPayload, (value) => {
      const one = toReadings(JSON.parse(JSON.stringify(value)));
      expect(decodeRecord(b64json(value))).toEqual(one.ok ? { ...one, invalid: [], many: false } : one);
    }));
  });
});

/** Strings shaped like ISO-8601, with every component possibly out of range. */
const isoLike = fc.tuple(
  fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 14 }), fc.integer({ min: 0, max: 33 }),
  fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.option(fc.integer({ min: 0, max: 61 })),
  fc.option(fc.stringMatching(/^[0-9]{1,9}$/)), fc.constantFrom('', 'Z', 'z', '+00:00', '-05:30', '+1400', '+23', '-99:99', '+05:'),
  fc.constantFrom('T', ' ', 't'),
).map(([y, mo, d, h, mi, s, frac, zone, sep]) => {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const seconds = s === null ? '' : `:${p(s)}${frac === null ? '' : `.${frac}`}`;
  return `${p(y, 4)}-${p(mo)}-${p(d)}${sep}${p(h)}:${p(mi)}${seconds}${zone}`;
});

describe('parseTimestamp', () => {
  test('is undefined or a normalized string that parses back to itself', () => {
    fc.assert(fc.property(fc.oneof(isoLike, fc.string(), fc.double(), fc.integer(), fc.anything()), (raw) => {
      const out = parseTimestamp(raw);
      if (out !== undefined) {
        expect(parseTimestamp(out)).toBe(out);
        expect(new Date(out).toISOString()).toBe(out);
        expect(Date.parse(out)).toBeGreaterThanOrEqual(MIN_TIME);
      }
    }), { numRuns: 1000 });
  });

  test('agrees with the Date object for UTC times with valid components', () => {
    fc.assert(fc.property(instant, (ms) => {
      const iso = new Date(ms).toISOString();
      expect(parseTimestamp(iso)).toBe(iso);
      expect(parseTimestamp(iso.replace('Z', '+00:00'))).toBe(iso);
      expect(parseTimestamp(iso.slice(0, 19) + 'Z')).toBe(new Date(Math.floor(ms / 1000) * 1000).toISOString());
    }));
  });
});

/**
 * DynamoDB's rule for a number, read off its decimal text as the service
 * does (and dynalite, after big.js): the exponent of the first significant
 * digit from -130 to 125, at most 38 significant digits.
 */
function dynamoDbHolds(decimal: string): boolean {
  const match = /^-?(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(decimal);
  if (!match) throw new Error(`not a decimal: ${decimal}`);
  const digits = `${match[1]}${match[2] ?? ''}`;
  const firstSignificant = digits.search(/[1-9]/);
  if (firstSignificant < 0) return true; // zero
  const exponent = match[1].length - 1 - firstSignificant + Number(match[3] ?? 0);
  const significant = digits.slice(firstSignificant).replace(/0+$/, '');
  return exponent >= -130 && exponent <= 125 && significant.length <= 38;
}

describe('numbers DynamoDB cannot hold', () => {
  const ts = '2024-01-02T03:04:05Z';
  const record = (value: string) => b64(`{"sensorid":"s1","value":${value},"timestamp":"${ts}"}`);

  test('are refused with the reason, as JSON numbers and as numeric strings', () => {
    for (const value of ['1e200', '-1e200', '1e-200', '-1e-200', '1e126', '9.99e-131', '1.7976931348623157e308', '5e-324']) {
      expect(reasonOf(record(value))).toMatch(/invalid field "value".*DynamoDB's numbers hold/);
      expect(reasonOf(record(JSON.stringify(value)))).toMatch(/invalid field "value".*DynamoDB's numbers hold/);
    }
  });

  test('the edges of the range are stored', () => {
    for (const value of ['1e-130', '-1e-130', '9.999999999999998e125', '-9.999999999999998e125', '0', '-0', '0.0', '0e500']) {
      expect(readingsOf(record(value))[0].value).toBe(Number(value));
      expect(readingsOf(record(JSON.stringify(value)))[0].value).toBe(Number(value));
    }
  });

  test('a number too small for a double is refused, not stored as 0', () => {
    for (const value of ['1e-400', '-2.5e-330', `0.${'0'.repeat(400)}1`, '0.0001e-400']) {
      expect(reasonOf(record(value))).toMatch(/invalid field "value".*too small in magnitude to be read as a number other than 0/);
      expect(reasonOf(record(JSON.stringify(value)))).toMatch(/too small in magnitude/);
    }
    // in a measurement field too
    const mapping = { ...DEFAULT_MAPPING, measurementFields: ['t', 'h'] };
    expect(reasonOf(b64(`{"sensorid":"s1","t":1,"h":1e-999,"timestamp":"${ts}"}`), mapping)).toMatch(/invalid field "h"/);
    expect(readingsOf(b64(`{"sensorid":"s1","t":0,"h":0.0,"timestamp":"${ts}"}`), mapping).map((r) => r.value)).toEqual([0, 0]);
  });

  test('property: a value is stored exactly when DynamoDB holds the decimal it is written as', () => {
    const anyDouble = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      // around each edge of the range
      fc.constantFrom(1e-130, 1e126, 9.999999999999999e125, 1e-131, 1e125).chain((edge) =>
        fc.integer({ min: -3, max: 3 }).map((ulps) => nextDouble(edge, ulps))),
    );
    fc.assert(fc.property(anyDouble, fc.boolean(), fc.boolean(), (value, asString, negative) => {
      const v = negative ? -value : value;
      const result = decodeRecord(record(asString ? JSON.stringify(String(v)) : String(v)));
      const written = String(v === 0 ? 0 : v);
      expect(result.ok).toBe(dynamoDbHolds(written));
      if (result.ok) expect(String(result.readings[0].value)).toBe(written);
    }), { numRuns: 2_000 });
  });
});

/** The double `ulps` steps away from `x` (same sign). */
function nextDouble(x: number, ulps: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + BigInt(ulps));
  return view.getFloat64(0);
}

// ---------------------------------------------------------------- records of many readings

describe('records of many readings', () => {
  const at = (second: number) => new Date(Date.UTC(2024, 0, 2, 3, 4, second)).toISOString();
  const reading = (sensorid: string, value: unknown, second = 0) => ({ sensorid, value, timestamp: at(second) });
  const arrays: PayloadMapping = { ...DEFAULT_MAPPING, acceptArrays: true };
  const batches: PayloadMapping = { ...DEFAULT_MAPPING, readingsField: 'readings' };
  const kpl: PayloadMapping = { ...DEFAULT_MAPPING, aggregated: true };
  const kplOf = (...texts: Array<string | Buffer>) =>
    aggregate(texts.map((t, i) => ({ partitionKey: `k${i}`, data: typeof t === 'string' ? Buffer.from(t, 'utf8') : t }))).toString('base64');

  test('the default mapping keeps one reading per record: an array, an aggregate and an object with a readings field are read as before', () => {
    expect(reasonOf(b64json([reading('s1', 1)]))).toBe('payload is not a JSON object');
    expect(reasonOf(kplOf(JSON.stringify(reading('s1', 1))))).toBe('payload is not valid UTF-8');
    expect(decodeRecord(b64json({ ...reading('s1', 1), readings: [reading('s2', 2)] }))).toEqual({
      ok: true, many: false, invalid: [], readings: [{ sensorId: 's1', timestamp: at(0), value: 1 }],
    });
  });

  test('an array: each reading judged alone, the invalid ones named by index', () => {
    expect(decodeRecord(b64json([reading('s1', 1), reading('s2', 'n/a'), 7, [reading('s3', 3)], reading('s4', 4, 1)]), arrays)).toEqual({
      ok: true,
      many: true,
      readings: [{ sensorId: 's1', timestamp: at(0), value: 1 }, { sensorId: 's4', timestamp: at(1), value: 4 }],
      invalid: [
        { index: 1, reason: 'invalid field "value": "n/a" (a finite number is required)' },
        { index: 2, reason: 'reading is not a JSON object' },
        { index: 3, reason: 'reading is not a JSON object' },
      ],
    });
    expect(reasonOf(b64('[]'), arrays)).toBe('payload holds no reading (an empty array)');
    // an object is still one reading
    expect(decodeRecord(b64json(reading('s1', 1)), arrays)).toMatchObject({ ok: true, many: false });
  });

  test('a gateway batch: shared fields apply to each reading that lacks them, its own fields win', () => {
    const text = JSON.stringify({ gateway: 'g1', timestamp: at(9), sensorid: 'shared', readings: [{ value: 1 }, { sensorid: 'own', value: 2, timestamp: at(3) }, { value: 'x' }] });
    expect(decodeRecord(b64(text), batches)).toEqual({
      ok: true,
      many: true,
      readings: [{ sensorId: 'shared', timestamp: at(9), value: 1 }, { sensorId: 'own', timestamp: at(3), value: 2 }],
      invalid: [{ index: 2, reason: 'invalid field "value": "x" (a finite number is required)' }],
    });
    expect(reasonOf(b64json({ gateway: 'g1', readings: { a: 1 } }), batches)).toBe('invalid field "readings": an object (a gateway\'s batch holds an array of readings)');
    expect(reasonOf(b64json({ gateway: 'g1', readings: [] }), batches)).toBe('payload holds no reading (an empty array)');
    // the readings field itself is never a shared field of its elements
    expect(decodeRecord(b64json({ readings: [{ sensorid: 's', timestamp: at(0) }] }), { ...batches, measurementFields: ['readings', 'x'] }))
      .toMatchObject({ invalid: [{ index: 0, reason: 'none of the measurement fields readings, x is present' }] });
  });

  test('a number too small for a double is found where it sits: in an element, in a shared field, in a user record', () => {
    const tiny = `{"gateway":"g","value":1e-400,"readings":[{"sensorid":"a","timestamp":"${at(0)}"},{"sensorid":"b","timestamp":"${at(0)}","value":0},{"sensorid":"c","timestamp":"${at(0)}","value":2e-999}]}`;
    expect(decodeRecord(b64(tiny), batches)).toMatchObject({
      readings: [{ sensorId: 'b', value: 0 }],
      invalid: [{ index: 0, reason: expect.stringMatching(/too small in magnitude/) }, { index: 2, reason: expect.stringMatching(/too small in magnitude/) }],
    });
    expect(decodeRecord(b64(`[{"sensorid":"a","timestamp":"${at(0)}","value":0.0},{"sensorid":"b","timestamp":"${at(0)}","value":-1E-500}]`), arrays))
      .toMatchObject({ readings: [{ sensorId: 'a', value: 0 }], invalid: [{ index: 1 }] });
  });

  test('a KPL aggregate: each user record read as a record of its own, named by its sub-sequence number', () => {
    const data = kplOf(
      JSON.stringify(reading('s1', 1)),
      JSON.stringify([reading('s2', 2), reading('s3', 'bad')]),
      Buffer.from([0xff, 0x00]),
      '{"sensorid":',
    );
    expect(decodeRecord(data, { ...kpl, acceptArrays: true })).toEqual({
      ok: true,
      many: true,
      readings: [{ sensorId: 's1', timestamp: at(0), value: 1 }, { sensorId: 's2', timestamp: at(0), value: 2 }],
      invalid: [
        { subSequenceNumber: 1, index: 1, reason: 'invalid field "value": "bad" (a finite number is required)' },
        { subSequenceNumber: 2, reason: 'payload is not valid UTF-8' },
        { subSequenceNumber: 3, reason: 'payload is not valid JSON' },
      ],
    });
    // without arrays, the array user record is refused whole
    expect(decodeRecord(data, kpl)).toMatchObject({ invalid: [{ subSequenceNumber: 1, reason: 'payload is not a JSON object' }, {}, {}] });
    // a record that is not an aggregate is read as usual
    expect(decodeRecord(b64json(reading('s1', 1)), kpl)).toMatchObject({ ok: true, many: false });
  });

  test('a KPL aggregate whose digest does not match, or whose message does not decode, is refused whole', () => {
    const bytes = Buffer.from(kplOf(JSON.stringify(reading('s1', 1))), 'base64');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1] = 255 - flipped[flipped.length - 1];
    expect(reasonOf(flipped.toString('base64'), kpl)).toBe('KPL aggregate not readable: its MD5 digest does not match its contents');
    const garbage = Buffer.concat([bytes.subarray(0, 4), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(16)]);
    expect(reasonOf(garbage.toString('base64'), kpl)).toMatch(/^KPL aggregate not readable/);
    expect(reasonOf(bytes.subarray(0, 4).toString('base64'), kpl)).toMatch(/^KPL aggregate not readable/);
  });

  describe('properties', () => {
    const element = fc.oneof(
      fc.record({
        sensorid: fc.string({ maxLength: 4 }),
        value: fc.oneof(fc.double(), fc.string({ maxLength: 3 })),
        timestamp: fc.oneof(fc.integer(), fc.string()),
      }, { requiredKeys: [] }),
      fc.jsonValue({ maxDepth: 2 }),
    );

    test('an array holds exactly the readings of its elements, each refused element at its index', () => {
      fc.assert(fc.property(fc.array(element, { minLength: 1, maxLength: 12 }), (elements) => {
        const result = decodeRecord(b64json(elements), arrays);
        const each = elements.map((e) => toReadings(JSON.parse(JSON.stringify(e)), arrays));
        expect(result).toEqual({
          ok: true,
          many: true,
          readings: each.flatMap((r) => (r.ok ? r.readings : [])),
          invalid: each.flatMap((r, index) => (r.ok ? [] : [{ index, reason: r.reason.replace(/^payload is not/, 'reading is not') }])),
        });
      }));
    });

    test('a batch is its elements with the shared fields underneath', () => {
      const shared = fc.record({ sensorid: fc.constantFrom('g', ''), timestamp: fc.constantFrom(1_700_000_000, 'x'), gateway: fc.string() }, { requiredKeys: [] });
      fc.assert(fc.property(shared, fc.array(element, { minLength: 1, maxLength: 8 }), (fields, elements) => {
        const result = decodeRecord(b64json({ ...fields, readings: elements }), batches);
        const each = elements.map((e) => toReadings(typeof e === 'object' && e !== null && !Array.isArray(e) ? { ...fields, ...JSON.parse(JSON.stringify(e)) } : e, batches));
        expect(result).toMatchObject({
          ok: true,
          readings: each.flatMap((r) => (r.ok ? r.readings : [])),
          invalid: each.flatMap((r, index) => (r.ok ? [] : [{ index }])),
        });
      }));
    });

    test('an aggregate holds exactly the readings of its user records, in order, each refused at its sub-sequence number', () => {
      const userRecord = fc.oneof(element.map((e) => JSON.stringify(e)), fc.array(element, { maxLength: 3 }).map((a) => JSON.stringify(a)),
        fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)));
      fc.assert(fc.property(fc.array(userRecord, { minLength: 1, maxLength: 8 }), (texts) => {
        const mapping = { ...kpl, acceptArrays: true };
        const result = decodeRecord(kplOf(...texts), mapping);
        const each = texts.map((t) => decodeRecord((typeof t === 'string' ? Buffer.from(t, 'utf8') : t).toString('base64'), mapping));
        expect(result).toEqual({
          ok: true,
          many: true,
          readings: each.flatMap((r) => (r.ok ? r.readings : [])),
          invalid: each.flatMap((r, subSequenceNumber) =>
            (r.ok ? r.invalid.map((bad) => ({ subSequenceNumber, ...bad })) : [{ subSequenceNumber, reason: r.reason }])),
        });
      }));
    });
  });
});

describe('numbers too small for a double, found where they sit', () => {
  /** The oracle: a recursive parser that keeps each number's text (fine at shallow depth). */
  function oracle(text: string): Set<string> {
    const out = new Set<string>();
    const walk = (value: unknown, path: Array<string | number>) => {
      if (value instanceof LosslessNumber) {
        if (Number(value.value) === 0 && /^[^eE]*[1-9]/.test(value.value)) out.add(JSON.stringify(path));
        return;
      }
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
      else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
    };
    walk(parseLossless(text), []);
    return out;
  }

  const tinyNumber = fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 330, max: 5_000 }), fc.boolean())
    .map(([d, e, negative]) => new LosslessNumber(`${negative ? '-' : ''}${d}e-${e}`));
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    any: fc.oneof(
      { weight: 3, arbitrary: fc.oneof(tinyNumber, fc.constantFrom(new LosslessNumber('0'), new LosslessNumber('-0.0e5'), new LosslessNumber('1')), fc.string(), fc.boolean(), fc.constant(null)) },
      { weight: 1, arbitrary: fc.array(tie('any'), { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 3 }), tie('any'), { maxKeys: 4 }) },
    ),
  })).any;

  test('property: the same paths as a parser that keeps each number\'s text', () => {
    fc.assert(fc.property(value, fc.constantFrom('', ' ', '\n\t'), (v, space) => {
      const text = stringifyLossless(v, undefined, space)!;
      expect([...underflowingNumbers(text)].sort()).toEqual([...oracle(text)].sort());
    }), { numRuns: 500 });
  });

  test('duplicate keys: the last one counts, as JSON.parse reads it', () => {
    expect([...underflowingNumbers('{"v":1e-400,"v":0}')]).toEqual([]);
    expect([...underflowingNumbers('{"v":0,"v":1e-400}')]).toEqual(['["v"]']);
    expect([...underflowingNumbers('{"v":1e-400,"v":"x"}')]).toEqual([]);
    expect([...underflowingNumbers('{"v":1e-400,"v":{"w":1}}')]).toEqual([]);
    expect([...underflowingNumbers('{"a\\"b:":[1, 2e-999]}')]).toEqual(['["a\\"b:",1]']);
  });

  test('a field nested 100,000 levels deep beside a tiny value does not hide it (a recursive parser overflows its stack there)', () => {
    const deep = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
    const text = `[{"sensorid":"a","timestamp":"2024-01-01T00:00:00Z","value":${deep}},{"sensorid":"b","timestamp":"2024-01-01T00:00:00Z","value":3e-500}]`;
    expect(() => parseLossless(text)).toThrow();
    expect(decodeRecord(b64(text), { ...DEFAULT_MAPPING, acceptArrays: true })).toMatchObject({
      readings: [],
      invalid: [{ index: 0 }, { index: 1, reason: expect.stringMatching(/too small in magnitude/) }],
    });
  });

  test('a tiny value before a field nested 20,000 levels deep: one pass, linear in the text', () => {
    const deep = `${'['.repeat(20_000)}0${']'.repeat(20_000)}`;
    const text = `[{"sensorid":"b","timestamp":"2024-01-01T00:00:00Z","value":3e-500},{"sensorid":"a","timestamp":"2024-01-01T00:00:00Z","value":0,"x":${deep}}]`;
    const started = performance.now();
    expect(decodeRecord(b64(text), { ...DEFAULT_MAPPING, acceptArrays: true })).toMatchObject({
      readings: [{ sensorId: 'a', value: 0 }],
      invalid: [{ index: 0, reason: expect.stringMatching(/too small in magnitude/) }],
    });
    // A path built at each of the 20,000 levels took minutes.
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
