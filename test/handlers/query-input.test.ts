import * as fc from 'fast-check';
import { DEFAULT_LIMITS, decodeToken, encodeToken, parseQuery, QueryLimits, SensorQuery } from '../../src/handlers/query-input';

const TS = '2024-01-02T03:04:05.000Z';

function accepted(input: unknown, limits?: QueryLimits): SensorQuery {
  const result = parseQuery(input, limits);
  if (!result.ok) throw new Error(`expected a query, got: ${result.reason}`);
  return result.query;
}

function rejected(input: unknown, limits?: QueryLimits): string {
  const result = parseQuery(input, limits);
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.query)}`);
  return result.reason;
}

describe('parseQuery', () => {
  test('the reference request', () => {
    expect(accepted({ sensorid: 's1' })).toEqual({ sensorId: 's1', limit: 20, from: undefined, to: undefined, after: undefined });
  });

  test('operation: "query" as the reference\'s test page sends it, or left out; any other value is refused', () => {
    const asSent = accepted(JSON.parse('{"operation": "query", "sensorid": "s1"}'));
    expect(asSent).toEqual(accepted({ sensorid: 's1' }));
    for (const operation of [undefined, null, '']) expect(accepted({ operation, sensorid: 's1' })).toEqual(asSent);
    for (const operation of ['scan', 'QUERY', ' query', 'query ', 0, false, ['query'], { name: 'query' }]) {
      expect(rejected({ operation, sensorid: 's1' })).toBe('operation must be "query" (the only operation) or left out');
    }
  });

  test('fields it does not know are ignored', () => {
    expect(accepted({ sensorid: 's1', TableName: 'other', Limit: 5, extra: { a: 1 } })).toEqual(accepted({ sensorid: 's1' }));
  });

  test('sensorId is accepted too; sensorid wins when both are given', () => {
    expect(accepted({ sensorId: 's2' }).sensorId).toBe('s2');
    expect(accepted({ sensorid: 's1', sensorId: 's2' }).sensorId).toBe('s1');
  });

  test('a missing, empty or non-string id', () => {
    expect(rejected({})).toBe('sensorid is required');
    expect(rejected({ sensorid: '' })).toBe('sensorid is required');
    expect(rejected({ sensorid: null })).toBe('sensorid is required');
    expect(rejected({ sensorid: '  ' })).toBe('sensorid must be a non-empty string');
    expect(rejected({ sensorid: 7 })).toBe('sensorid must be a non-empty string');
    expect(rejected({ sensorid: ['s1'] })).toBe('sensorid must be a non-empty string');
  });

  test('the request must be an object', () => {
    for (const input of [null, undefined, 's1', 3, [], [{ sensorid: 's1' }]]) expect(rejected(input)).toBe('the request must be a JSON object');
  });

  test('the id length is counted in UTF-8 bytes', () => {
    expect(accepted({ sensorid: 'é'.repeat(128) }).sensorId).toHaveLength(128);
    expect(rejected({ sensorid: 'é'.repeat(129) })).toBe('sensorid is longer than 256 bytes');
    expect(rejected({ sensorid: 'abcde' }, { ...DEFAULT_LIMITS, maxSensorIdLength: 4 })).toBe('sensorid is longer than 4 bytes');
  });

  test('limit: numbers or digit strings from 1 to maxLimit', () => {
    expect(accepted({ sensorid: 's1', limit: 1 }).limit).toBe(1);
    expect(accepted({ sensorid: 's1', limit: '1000' }).limit).toBe(1000);
    expect(accepted({ sensorid: 's1', limit: ' 5 ' }).limit).toBe(5);
    expect(accepted({ sensorid: 's1', limit: '' }).limit).toBe(20);
    expect(accepted({ sensorid: 's1', limit: null }).limit).toBe(20);
    for (const limit of [0, 1001, -1, 2.5, '2.5', '-1', 'ten', '1e3', true, [5], Number.NaN, '0', '99999999999999999999']) {
      expect(rejected({ sensorid: 's1', limit })).toBe('limit must be an integer from 1 to 1000');
    }
    const limits: QueryLimits = { defaultLimit: 5, maxLimit: 50, maxSensorIdLength: 256 };
    expect(accepted({ sensorid: 's1' }, limits).limit).toBe(5);
    expect(rejected({ sensorid: 's1', limit: 51 }, limits)).toBe('limit must be an integer from 1 to 50');
  });

  test('from and to: ISO-8601 or epoch, normalized, inclusive', () => {
    expect(accepted({ sensorid: 's1', from: '2024-01-02T05:04:05+02:00', to: 1704250000 })).toMatchObject({
      from: TS,
      to: '2024-01-03T02:46:40.000Z',
    });
    expect(accepted({ sensorid: 's1', from: '1704164645', to: '1704164645123' })).toMatchObject({ from: TS, to: '2024-01-02T03:04:05.123Z' });
    expect(accepted({ sensorid: 's1', from: TS, to: TS })).toMatchObject({ from: TS, to: TS });
    expect(accepted({ sensorid: 's1', from: '', to: null })).toMatchObject({ from: undefined, to: undefined });
  });

  test('bad bounds name the bound', () => {
    expect(rejected({ sensorid: 's1', from: 'yesterday' })).toBe('from must be an ISO-8601 time or epoch seconds/milliseconds');
    expect(rejected({ sensorid: 's1', to: '2024-02-31T00:00:00Z' })).toBe('to must be an ISO-8601 time or epoch seconds/milliseconds');
    expect(rejected({ sensorid: 's1', to: -5 })).toMatch(/^to must be/);
    expect(rejected({ sensorid: 's1', from: '2024-01-03T00:00:00Z', to: '2024-01-02T00:00:00Z' })).toBe('from must not be later than to');
  });

  test('nextToken: made for this sensor, inside the range', () => {
    const token = encodeToken('s1', TS);
    expect(accepted({ sensorid: 's1', nextToken: token }).after).toBe(TS);
    expect(accepted({ sensorid: 's1', nextToken: token, from: '2024-01-01T00:00:00Z', to: TS }).after).toBe(TS);
    expect(rejected({ sensorid: 's2', nextToken: token })).toBe('nextToken is not valid for this sensor');
    expect(rejected({ sensorid: 's1', nextToken: 'forged' })).toBe('nextToken is not valid for this sensor');
    expect(rejected({ sensorid: 's1', nextToken: 42 })).toBe('nextToken must be a string from an earlier response');
    expect(rejected({ sensorid: 's1', nextToken: token, from: '2024-01-03T00:00:00Z' })).toBe('nextToken is outside the requested time range');
    expect(rejected({ sensorid: 's1', nextToken: token, to: '2024-01-01T00:00:00Z' })).toBe('nextToken is outside the requested time range');
    expect(accepted({ sensorid: 's1', nextToken: '' }).after).toBeUndefined();
  });
});

describe('page tokens', () => {
  test('opaque, URL-safe, bound to the sensor', () => {
    const token = encodeToken('s1', TS);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(token).not.toContain('s1');
    expect(decodeToken(token, 's1')).toBe(TS);
    expect(decodeToken(token, 's2')).toBeUndefined();
    expect(decodeToken(token, 'S1')).toBeUndefined();
  });

  test('forged and tampered tokens', () => {
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
    expect(decodeToken(forge({ s: 's1', t: '2024-01-02T03:04:05Z' }), 's1')).toBeUndefined(); // not normalized
    expect(decodeToken(forge({ s: 's1', t: 'zzz' }), 's1')).toBeUndefined();
    expect(decodeToken(forge({ s: 's1', t: 1704164645 }), 's1')).toBeUndefined();
    expect(decodeToken(forge({ s: 's1' }), 's1')).toBeUndefined();
    expect(decodeToken(forge(['s1', TS]), 's1')).toBeUndefined();
    expect(decodeToken(forge(null), 's1')).toBeUndefined();
    expect(decodeToken(forge({ s: 's1', t: TS }), 's1')).toBe(TS); // the same bytes as a real token
    expect(decodeToken(Buffer.from('{"s":"s1",').toString('base64url'), 's1')).toBeUndefined();
    expect(decodeToken(`${encodeToken('s1', TS)}=`, 's1')).toBeUndefined();
    expect(decodeToken(`${encodeToken('s1', TS).slice(0, -2)}+/`, 's1')).toBeUndefined(); // standard base64 alphabet
    expect(decodeToken('', 's1')).toBeUndefined();
    // the right length and alphabet, but not JSON
    expect(decodeToken('A'.repeat(encodeToken('s1', TS).length), 's1')).toBeUndefined();
    expect(decodeToken('_'.repeat(encodeToken('s1', TS).length), 's1')).toBeUndefined();
    expect(decodeToken('A'.repeat(100_000), 's1')).toBeUndefined();
  });

  test('round-trip for the longest ids, whatever their characters', () => {
    // JSON escapes control characters to six bytes each: the token grows well past the id.
    for (const id of ['\u0001'.repeat(256), '"'.repeat(256), '\\'.repeat(256), 'é'.repeat(128), '🌡'.repeat(64), 'a'.repeat(2048)]) {
      expect(decodeToken(encodeToken(id, TS), id)).toBe(TS);
    }
    const limits: QueryLimits = { ...DEFAULT_LIMITS, maxSensorIdLength: 2048 };
    const id = 'x'.repeat(2048);
    expect(accepted({ sensorid: id, nextToken: encodeToken(id, TS) }, limits).after).toBe(TS);
  });
});

// ---------------------------------------------------------------- properties

const normalizedTs = fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }).map((ms) => new Date(ms).toISOString());
const anySensorId = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }).filter((s) => s.trim().length > 0);
const anyLimits: fc.Arbitrary<QueryLimits> = fc.integer({ min: 1, max: 5_000 }).chain((maxLimit) => fc.record({
  defaultLimit: fc.integer({ min: 1, max: maxLimit }),
  maxLimit: fc.constant(maxLimit),
  maxSensorIdLength: fc.integer({ min: 1, max: 2_048 }),
}));
const field = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constant(''), fc.constant(null), fc.stringMatching(/^\d{1,16}$/), fc.anything());
const nearRequest = fc.record({
  operation: fc.oneof(fc.constant('query'), field),
  sensorid: fc.oneof(fc.string(), anySensorId, fc.anything()),
  sensorId: field,
  limit: field,
  from: fc.oneof(field, normalizedTs),
  to: fc.oneof(field, normalizedTs),
  nextToken: fc.oneof(field, fc.tuple(anySensorId, normalizedTs).map(([id, ts]) => encodeToken(id, ts))),
}, { requiredKeys: [] });

describe('parseQuery properties', () => {
  test('never throws; an accepted limit is an integer within [1, maxLimit]', () => {
    fc.assert(fc.property(fc.oneof(fc.anything(), nearRequest), anyLimits, (input, limits) => {
      const result = parseQuery(input, limits);
      if (result.ok) {
        const q = result.query;
        expect(Number.isInteger(q.limit)).toBe(true);
        expect(q.limit).toBeGreaterThanOrEqual(1);
        expect(q.limit).toBeLessThanOrEqual(limits.maxLimit);
        expect(typeof q.sensorId).toBe('string');
        expect(Buffer.byteLength(q.sensorId, 'utf8')).toBeLessThanOrEqual(limits.maxSensorIdLength);
        for (const bound of [q.from, q.to, q.after]) {
          if (bound !== undefined) expect(new Date(bound).toISOString()).toBe(bound);
        }
        if (q.from !== undefined && q.to !== undefined) expect(q.from <= q.to).toBe(true);
      } else {
        expect(result.reason.length).toBeGreaterThan(0);
      }
    }), { numRuns: 1000 });
  });

  test('a valid page request is accepted with the token\'s sort key', () => {
    const id256 = anySensorId.filter((s) => Buffer.byteLength(s) <= 256);
    fc.assert(fc.property(id256, normalizedTs, fc.integer({ min: 1, max: 1000 }), (id, ts, limit) => {
      expect(accepted({ sensorid: id, limit: String(limit), nextToken: encodeToken(id, ts) })).toEqual({
        sensorId: id, limit, from: undefined, to: undefined, after: ts,
      });
    }));
  });
});

describe('token properties', () => {
  test('decodeToken(encodeToken(id, ts), id) === ts', () => {
    fc.assert(fc.property(anySensorId, normalizedTs, (id, ts) => {
      expect(decodeToken(encodeToken(id, ts), id)).toBe(ts);
    }), { numRuns: 500 });
  });

  test('undefined for another id', () => {
    fc.assert(fc.property(anySensorId, anySensorId, normalizedTs, (id, other, ts) => {
      fc.pre(id !== other);
      expect(decodeToken(encodeToken(id, ts), other)).toBeUndefined();
    }));
  });

  test('undefined for arbitrary strings', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.base64String(), fc.stringMatching(/^[A-Za-z0-9_-]{0,200}$/)), anySensorId, (token, id) => {
      expect(decodeToken(token, id)).toBeUndefined();
    }), { numRuns: 500 });
  });

  test('undefined for non-normalized timestamps', () => {
    fc.assert(fc.property(anySensorId, fc.string(), (id, t) => {
      fc.pre(!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(t));
      const forged = Buffer.from(JSON.stringify({ s: id, t }), 'utf8').toString('base64url');
      expect(decodeToken(forged, id)).toBeUndefined();
    }));
  });
});
