/**
 * The Firehose archiver partitions records with a JQ 1.6 program, which must
 * put every record in the hour partition the S3 archiver's handler puts it
 * in. Checked against jq 1.6 itself (the engine Firehose names), over the
 * handler's own reading of the time (`eventTime`) and its partition names
 * (`partitionOf`): thousands of generated payloads and the edge cases by hand.
 */
import { execFileSync } from 'child_process';
import * as fc from 'fast-check';
import { eventTime, partitionOf } from '../../src/handlers/archive';
import { RawRecord } from '../../src/handlers/raw-record';
import { dataPrefix, errorPrefix, MAX_SENSOR_PARTITION_LENGTH, partitionKeys, partitionQuery } from '../../src/private/firehose-partitioning';

function jqVersion(): string {
  try {
    return execFileSync('jq', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('these tests run jq 1.6, the engine of Firehose\'s metadata extraction: install it (apt-get install -y jq)');
  }
}

type JqResult = Record<string, string> | { error: string };

/** Runs the program over each JSON text with jq, one result per text: the partition keys, or the error. */
function runJq(program: string, texts: string[]): JqResult[] {
  const out = execFileSync('jq', ['-c', `try (${program}) catch {"error": .}`], {
    input: texts.join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const results = out.trim().split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as JqResult);
  if (results.length !== texts.length) throw new Error(`jq answered ${results.length} results for ${texts.length} inputs`);
  return results;
}

/** The handler's partition of a payload, or undefined where it has no readable time (it then uses the arrival time). */
function handlerPartition(text: string, timestampField: string): Record<string, string> | undefined {
  const record: RawRecord = {
    shardId: 'shardId-000000000000',
    sequenceNumber: '1',
    partitionKey: 'p',
    // No arrival time: an Invalid Date says the handler found no time in the payload.
    approximateArrivalTimestamp: Number.NaN,
    data: Buffer.from(text, 'utf8').toString('base64'),
  };
  const time = eventTime(record, timestampField);
  if (Number.isNaN(time.getTime())) return undefined;
  const match = /^year=(\d+)\/month=(\d\d)\/day=(\d\d)\/hour=(\d\d)\/$/.exec(partitionOf(time))!;
  return { year: match[1], month: match[2], day: match[3], hour: match[4] };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** ISO-8601-like strings around and beyond what the handler reads: every part sometimes out of range. */
const isoLike = fc.record({
  y: fc.oneof(fc.integer({ min: 1965, max: 2105 }), fc.integer({ min: 0, max: 9999 })),
  mo: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 13 })),
  d: fc.oneof(fc.integer({ min: 1, max: 28 }), fc.integer({ min: 0, max: 32 })),
  h: fc.oneof(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 25 })),
  mi: fc.oneof(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 61 })),
  s: fc.option(fc.oneof(fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 61 }))),
  frac: fc.option(fc.tuple(fc.constantFrom('.', ','), fc.stringMatching(/^[0-9]{1,10}$/))),
  sep: fc.constantFrom('T', 't', ' ', 'X'),
  zone: fc.oneof(
    fc.constantFrom('', 'Z', 'z', '+00:00', '-00', 'Q'),
    fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.constantFrom(':', '', 'none'))
      .map(([sign, hh, mm, colon]) => (colon === 'none' ? `${sign}${pad(hh)}` : `${sign}${pad(hh)}${colon}${pad(mm)}`)),
  ),
  padding: fc.constantFrom('', ' ', '\t', '\u00a0', '\ufeff', '\n '),
}).map((p) => {
  const seconds = p.s === null ? '' : `:${pad(p.s)}${p.frac === null ? '' : p.frac[0] + p.frac[1]}`;
  return `${p.padding}${pad(p.y, 4)}-${pad(p.mo)}-${pad(p.d)}${p.sep}${pad(p.h)}:${pad(p.mi)}${seconds}${p.zone}${p.padding}`;
});

/** Epoch numbers: seconds, milliseconds, fractions, the 1e11 boundary, negative and huge. */
const epochLike = fc.oneof(
  fc.integer({ min: 0, max: 99_999_999_999 }),
  fc.integer({ min: 100_000_000_000, max: 253_402_300_799_999 }),
  fc.double({ min: 0, max: 3e14, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, 1e11 - 1, 1e11, 99_999_999_999.999, 253_402_300_799_999, 253_402_300_800_000, -1, -0.5, 1e300, 3600, 3599.999),
);

const anyTime = fc.oneof(
  { weight: 5, arbitrary: isoLike },
  { weight: 3, arbitrary: epochLike },
  { weight: 1, arbitrary: fc.oneof(fc.string(), fc.constant(null), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), fc.constant({ t: 1 })) },
);

describe('the Firehose archiver\'s partitioning program, run by jq 1.6', () => {
  beforeAll(() => {
    expect(jqVersion()).toBe('jq-1.6');
  });

  test('property: every payload lands in the handler\'s hour partition, or in the errors where the handler has no time', () => {
    const payloads = fc.sample(fc.record({ sensorid: fc.string({ minLength: 1 }), value: fc.double(), timestamp: anyTime }, { requiredKeys: ['sensorid', 'value'] }),
      { numRuns: 4_000, seed: 1_117 });
    const texts = payloads.map((p) => JSON.stringify(p));
    const results = runJq(partitionQuery('timestamp', 'sensorid', false), texts);
    let partitioned = 0;
    texts.forEach((text, i) => {
      const expected = handlerPartition(text, 'timestamp');
      if (expected) {
        partitioned++;
        expect({ text, result: results[i] }).toEqual({ text, result: expected });
      } else {
        expect({ text, result: results[i] }).toEqual({ text, result: { error: expect.any(String) } });
      }
    });
    // Both kinds are exercised.
    expect(partitioned).toBeGreaterThan(1_000);
    expect(texts.length - partitioned).toBeGreaterThan(500);
  });

  test('the edge cases by hand: zones across midnight, leap days, fractions, the epoch boundaries, whitespace', () => {
    const cases: Array<[unknown, string | undefined]> = [
      ['2024-02-29T23:59:59.999+01:30', '2024/02/29/22'],
      ['2023-02-29T00:00:00Z', undefined],
      ['2000-02-29T12:00Z', '2000/02/29/12'],
      ['1900-02-29T12:00Z', undefined],
      ['2024-12-31T23:30:00-01:00', '2025/01/01/00'],
      ['1970-01-01T00:30:00+01:00', undefined],
      ['1969-12-31T23:59:59-01:00', '1970/01/01/00'],
      ['9999-12-31T23:59:59.999Z', '9999/12/31/23'],
      ['2024-01-02 03:04', '2024/01/02/03'],
      ['2024-01-02t03:04:05,5z', '2024/01/02/03'],
      ['  2024-01-02T03:04:05Z\n', '2024/01/02/03'],
      ['2024-01-02T03:04:05+2400', undefined],
      ['2024-01-02T24:00:00Z', undefined],
      ['2024-01-02', undefined],
      ['1704164645', undefined],
      [1704164645, '2024/01/02/03'],
      [1704164645123, '2024/01/02/03'],
      [99_999_999_999, '5138/11/16/09'],
      [100_000_000_000, '1973/03/03/09'],
      [0, '1970/01/01/00'],
      [-1, undefined],
      [253_402_300_800_000, undefined],
      [null, undefined],
      [true, undefined],
    ];
    const texts = cases.map(([t]) => JSON.stringify({ sensorid: 's1', timestamp: t }));
    const results = runJq(partitionQuery('timestamp', 'sensorid', false), texts);
    cases.forEach(([time, expected], i) => {
      const handler = handlerPartition(texts[i], 'timestamp');
      const asPath = (p: Record<string, string> | undefined) => (p ? `${p.year}/${p.month}/${p.day}/${p.hour}` : undefined);
      expect({ time, handler: asPath(handler) }).toEqual({ time, handler: expected });
      expect({ time, jq: 'error' in results[i] ? undefined : asPath(results[i] as Record<string, string>) }).toEqual({ time, jq: expected });
    });
  });

  test('payloads that are not objects, or lack the field, go to the errors, as the handler finds no time in them', () => {
    const texts = ['[1,2]', '"2024-01-02T03:04:05Z"', '42', 'null', '{}', '{"ts": "2024-01-02T03:04:05Z"}', '{"timestamp": {"t": 1}}'];
    const results = runJq(partitionQuery('timestamp', 'sensorid', false), texts);
    texts.forEach((text, i) => {
      expect(handlerPartition(text, 'timestamp')).toBeUndefined();
      expect(results[i]).toEqual({ error: expect.any(String) });
    });
  });

  test('a JSON array of readings lands whole in its first reading\'s partition, as the handler puts it; an empty one, or one led by no object, in the errors', () => {
    const texts = [
      '[{"sensorid":"a","timestamp":"2024-01-02T03:04:05Z"},{"sensorid":"b","timestamp":"2030-01-01T00:00:00Z"}]',
      '[{"sensorid":"a","timestamp":1704164645},7]',
      '[]', '[7,{"sensorid":"b","timestamp":0}]', '[[{"timestamp":0}]]',
    ];
    const results = runJq(partitionQuery('timestamp', 'sensorid', true), texts);
    expect(results).toEqual([
      { year: '2024', month: '01', day: '02', hour: '03', sensor: 'a' },
      { year: '2024', month: '01', day: '02', hour: '03', sensor: 'a' },
      { error: expect.any(String) }, { error: expect.any(String) }, { error: expect.any(String) },
    ]);
    texts.forEach((text, i) => {
      const handler = handlerPartition(text, 'timestamp');
      expect(handler).toEqual('error' in results[i] ? undefined : { year: '2024', month: '01', day: '02', hour: '03' });
    });
  });

  test('field names with quotes, backslashes, spaces and non-ASCII are read by name', () => {
    for (const field of ['ts', 'time "of" reading', 'a\\b', 'zeit \u00e4', '$t', 'x.y']) {
      const text = JSON.stringify({ [field]: '2024-05-06T07:08:09Z', timestamp: 0, id: 'd' });
      expect(runJq(partitionQuery(field, 'id', true), [text])).toEqual([{ year: '2024', month: '05', day: '06', hour: '07', sensor: 'd' }]);
      expect(handlerPartition(text, field)).toEqual({ year: '2024', month: '05', day: '06', hour: '07' });
    }
  });

  test('by sensor: the id percent-encoded for the S3 key (jq 1.6\'s @uri is encodeURIComponent); numbers as text; no id, or one too long, goes to the errors', () => {
    const ids = fc.sample(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }), { numRuns: 500, seed: 11 });
    const texts = ids.map((id) => JSON.stringify({ id, t: 1704164645 }));
    runJq(partitionQuery('t', 'id', true), texts).forEach((result, i) => {
      expect(result).toEqual({ year: '2024', month: '01', day: '02', hour: '03', sensor: encodeURIComponent(ids[i]) });
    });
    const edge = ['{"id": 42, "t": 0}', '{"t": 0}', '{"id": "", "t": 0}', '{"id": null, "t": 0}', JSON.stringify({ id: 'x'.repeat(MAX_SENSOR_PARTITION_LENGTH + 1), t: 0 })];
    expect(runJq(partitionQuery('t', 'id', true), edge)).toEqual([
      { year: '1970', month: '01', day: '01', hour: '00', sensor: '42' },
      { error: expect.stringContaining('sensor id') },
      { error: expect.stringContaining('sensor id') },
      { error: expect.stringContaining('sensor id') },
      { error: expect.stringContaining('too long') },
    ]);
  });
});

describe('the S3 layout', () => {
  test('data under the prefix in Hive-style hour partitions, the S3 archiver\'s layout; errors by type and day', () => {
    expect(dataPrefix('raw/', false)).toBe('raw/year=!{partitionKeyFromQuery:year}/month=!{partitionKeyFromQuery:month}/'
      + 'day=!{partitionKeyFromQuery:day}/hour=!{partitionKeyFromQuery:hour}/');
    expect(dataPrefix('', true)).toMatch(/hour=!\{partitionKeyFromQuery:hour\}\/sensor=!\{partitionKeyFromQuery:sensor\}\/$/);
    expect(partitionKeys(true)).toEqual(['year', 'month', 'day', 'hour', 'sensor']);
    expect(errorPrefix('errors/')).toBe('errors/!{firehose:error-output-type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/');
  });
});
