/**
 * Records drawn from the whole space a device can send, as an adversary
 * would: any JSON, any Unicode (noncharacters, lone surrogates, controls),
 * numbers at and beyond every limit of the services a reading reaches, huge
 * and deeply nested records, invalid UTF-8; mixed with valid readings on one
 * partition key, so that every crafted record shares batches and requests
 * with valid neighbours.
 *
 * Each record says what must become of it, from how it was made, not from the
 * processor's own validation: the reading the table must hold, or the reason
 * its dead letter must give. Seeded: the same seed draws the same records.
 */
import * as fc from 'fast-check';
import { aggregate } from './kpl-aggregate';

/** What a record is made to be. */
export type CraftedKind =
  | 'valid'
  | 'valid, at the record size limit'
  | 'not UTF-8'
  | 'not JSON'
  | 'not an object'
  | 'no sensor id'
  | 'sensor id not a string or blank'
  | 'sensor id with a lone surrogate'
  | 'sensor id too long'
  | 'value DynamoDB cannot hold'
  | 'value too small for a double'
  | 'value not a number'
  | 'timestamp invalid'
  | 'array of readings'
  | 'empty array'
  | 'gateway batch'
  | 'gateway batch without an array'
  | 'KPL aggregate'
  | 'KPL aggregate, digest mismatch';

/** A row of the table. */
export interface Row {
  readonly sensorId: string;
  readonly timestamp: string;
  readonly value: number;
}

/** A reading of a record that holds many: its place, and what must become of it. */
export interface CraftedReading {
  readonly place: { readonly index?: number; readonly subSequenceNumber?: number };
  /** For a valid reading: the row the table must hold. */
  readonly expected?: Row;
  /** For an invalid one: what its entry in the record's dead letter must say. */
  readonly reason?: RegExp;
}

/** The shapes of a record of many readings that the pipeline accepts (its payload mapping). */
export interface RecordShapes {
  readonly acceptArrays?: boolean;
  readonly readingsField?: string;
  readonly aggregated?: boolean;
}

export interface CraftedRecord {
  readonly kind: CraftedKind;
  /** The record's bytes, as PutRecords sends them. */
  readonly data: Buffer;
  readonly partitionKey: string;
  /** For a valid record of one reading: the row the table must hold. */
  readonly expected?: Row;
  /** For a record refused whole: what its dead letter's reason must say. */
  readonly reason?: RegExp;
  /** For a record of many readings: each of them, in the order the processor reads them. */
  readonly readings?: readonly CraftedReading[];
}

export interface CraftedRecordOptions {
  readonly count: number;
  readonly seed: number;
  /** The share of valid readings among the records; the rest is crafted. Default 0.5. */
  readonly validShare?: number;
  /** Default "one-key": every record on one shard, in one order. */
  readonly partitionKey?: string;
  /** Records of 1 MiB, the largest Kinesis takes, among the valid ones. Default 1. */
  readonly largest?: number;
  /** The longest sensor id the pipeline takes, in UTF-8 bytes. Default 256. */
  readonly maxSensorIdLength?: number;
  /**
   * Records of many readings to draw among the others, as the pipeline
   * accepts them. Default none: every record is one reading (an array is
   * then a record that is not an object).
   */
  readonly shapes?: RecordShapes;
}

/** Kinesis takes records of up to 1 MiB of data. */
export const KINESIS_MAX_RECORD_BYTES = 1_048_576;

const BASE_TIME = Date.UTC(2026, 0, 1);
const utf8 = (text: string) => Buffer.from(text, 'utf8');
const wellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** Characters a device may send that are easy to get wrong: noncharacters, controls, astral, combining marks. */
const awkward = fc.constantFrom('\ufffe', '\uffff', '\ufdd0', '\u0000', '\u0001', '\u001f', '\u007f', '\u0085', '\u2028', '\u00a0',
  '\ud83c\udf21', '\u{10ffff}', 'e\u0301', '%', '"', '\\', '/', '#', '\t', '\n');
const anyText = (maxLength: number) => fc.string({ unit: fc.oneof(awkward, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength });

function sensorIdArb(maxBytes: number): fc.Arbitrary<string> {
  return anyText(40).filter((s) => s.trim().length > 0 && wellFormed(s) && bytes(s) <= maxBytes);
}

/** A value DynamoDB holds: 0, or a magnitude from 1E-130 to below 1E+126. */
const storableValue = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((v) => v === 0 || (Math.abs(v) >= 1e-130 && Math.abs(v) < 1e126)),
  fc.constantFrom(1e-130, -1e-130, 9.999999999999998e125, 0, -0, 1.7976931348623157e125),
);

/** Fields beyond the three a reading needs: carried along, never looked at. */
const extraFields = fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => !['sensorid', 'value', 'timestamp', '__proto__', 'readings', 'gateway'].includes(k)),
  fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 });

/** The timestamp of the i-th valid reading, written in one of the forms a device may use. Distinct per i. */
function timestampForm(i: number, form: number): { raw: unknown; iso: string } {
  const ms = BASE_TIME + i * 1_000 + (form === 3 ? 0 : (i % 997));
  const iso = new Date(ms).toISOString();
  switch (form) {
    case 0: return { raw: iso, iso };
    case 1: return { raw: ms, iso };
    case 2: {
      // the same instant at UTC+05:30, with a comma before the fraction
      const local = new Date(ms + 330 * 60_000).toISOString().slice(0, 23).replace('.', ',');
      return { raw: `${local}+05:30`, iso };
    }
    default: return { raw: ms / 1000, iso };
  }
}

/** JSON text of an object whose fields are given as JSON texts, in order. */
const objectText = (fields: ReadonlyArray<readonly [string, string]>) => `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

const nested = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

type Maker = (i: number, partitionKey: string) => fc.Arbitrary<CraftedRecord>;

function makers(maxIdBytes: number, shapes: RecordShapes = {}): Array<[CraftedKind, Maker]> {
  const id = sensorIdArb(maxIdBytes);
  const ts = (i: number) => JSON.stringify(timestampForm(i, 0).raw);
  const invalid = (kind: CraftedKind, reason: RegExp, text: fc.Arbitrary<string | Buffer>, partitionKey: string) =>
    text.map((t): CraftedRecord => ({ kind, data: typeof t === 'string' ? utf8(t) : t, partitionKey, reason }));
  return [
    ['not UTF-8', (_i, pk) => invalid('not UTF-8', /not valid UTF-8/,
      // Complete characters, then a byte sequence no UTF-8 decoder takes, then more: never valid as a whole.
      fc.tuple(anyText(20), fc.constantFrom([0xff], [0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80]),
        fc.uint8Array({ maxLength: 20 }))
        .map(([a, bad, rest]) => Buffer.concat([utf8(a), Buffer.from(bad), Buffer.from(rest)])), pk)],
    ['not JSON', (i, pk) => invalid('not JSON', /not valid JSON/, fc.oneof(
      id.map((s) => objectText([['sensorid', JSON.stringify(s)], ['value', '1'], ['timestamp', ts(i)]]).slice(0, -1)),
      fc.constantFrom('{"sensorid":"s","value":NaN}', '{"value":1e999999999999999999,}', "{'sensorid':'s'}", '', ' ', '\ufeff{}', 'null null'),
      anyText(30).map((s) => `${s}{`)), pk)],
    ['not an object', (_i, pk) => invalid('not an object', /not a JSON object/, shapes.acceptArrays
      // An array is a record of many readings then: see 'array of readings'.
      ? fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null).map((v) => JSON.stringify(v))
      : fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)),
        fc.integer({ min: 1_000, max: 200_000 }).map((d) => nested(d)),
      ), pk)],
    ['no sensor id', (i, pk) => invalid('no sensor id', /missing field "sensorid"/,
      fc.tuple(storableValue, extraFields).map(([v, extra]) => JSON.stringify({ ...extra, value: v, timestamp: timestampForm(i, 0).raw })), pk)],
    ['sensor id not a string or blank', (i, pk) => invalid('sensor id not a string or blank', /invalid field "sensorid"/,
      fc.oneof(fc.constantFrom('""', '"   "', '"\\t\\n"', '"\\u00a0"', '"\\u3000"', 'null', 'true', '17', '{}', '[]'),
        fc.integer({ min: 1, max: 100_000 }).map((d) => nested(d, '"s"'))).map((raw) => objectText([['sensorid', raw], ['value', '1'], ['timestamp', ts(i)]])), pk)],
    ['sensor id with a lone surrogate', (i, pk) => invalid('sensor id with a lone surrogate', /lone surrogate/,
      fc.tuple(fc.string({ maxLength: 8 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 8 }))
        .map(([a, unit, b]) => objectText([['sensorid', `"${JSON.stringify(a).slice(1, -1)}\\u${unit.toString(16)}${JSON.stringify(b).slice(1, -1)}"`],
          ['value', '1'], ['timestamp', ts(i)]]))
        // a high surrogate followed by an escaped low one is a pair: not a lone surrogate
        .filter((text) => !wellFormed(JSON.parse(text).sensorid)), pk)],
    ['sensor id too long', (i, pk) => invalid('sensor id too long', new RegExp(`longer than ${maxIdBytes} bytes`),
      fc.tuple(id, fc.constantFrom('a', '\u00e9', '\ud83c\udf21')).map(([s, pad]) => {
        let long = s;
        while (bytes(long) <= maxIdBytes) long += pad;
        return JSON.stringify({ sensorid: long, value: 1, timestamp: timestampForm(i, 0).raw });
      }), pk)],
    ['value DynamoDB cannot hold', (i, pk) => invalid('value DynamoDB cannot hold', /magnitude than DynamoDB's numbers hold/,
      fc.tuple(id, fc.oneof(
        fc.double({ min: 1e126, noNaN: true, noDefaultInfinity: true }),
        fc.double({ min: Number.MIN_VALUE, max: 9.99e-131, noNaN: true }),
        fc.constantFrom(1e126, 1e200, 1e-131, 1e-200, 5e-324, 1.7976931348623157e308)), fc.boolean(), fc.boolean())
        .map(([s, v, negative, asString]) => {
          const n = negative ? -v : v;
          return objectText([['sensorid', JSON.stringify(s)], ['value', asString ? JSON.stringify(String(n)) : String(n)], ['timestamp', ts(i)]]);
        }), pk)],
    ['value too small for a double', (i, pk) => invalid('value too small for a double', /too small in magnitude to be read/,
      fc.tuple(id, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 400, max: 100_000 }), fc.boolean())
        .map(([s, digit, exponent, asString]) => {
          const literal = `${digit}e-${exponent}`;
          return objectText([['sensorid', JSON.stringify(s)], ['value', asString ? `"${literal}"` : literal], ['timestamp', ts(i)]]);
        }), pk)],
    ['value not a number', (i, pk) => invalid('value not a number', /invalid field "value".*finite number/s,
      fc.tuple(id, fc.oneof(
        fc.constantFrom('"abc"', '""', '"NaN"', '"Infinity"', '"1e999"', '"0x10"', '"1,5"', 'true', 'null', '{}', '[1]', '1e999', '-1e999'),
        fc.integer({ min: 1, max: 100_000 }).map((d) => nested(d)),
        anyText(20).filter((s) => !/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(s)).map((s) => JSON.stringify(s))))
        .map(([s, raw]) => objectText([['sensorid', JSON.stringify(s)], ['value', raw], ['timestamp', ts(i)]])), pk)],
    ['timestamp invalid', (_i, pk) => invalid('timestamp invalid', /field "timestamp"/,
      fc.tuple(id, fc.oneof(
        fc.constantFrom('"2024-02-30T00:00:00Z"', '"2024-01-01"', '"yesterday"', '""', '-1', '1e20', 'null', '{}', '"10000-01-01T00:00:00Z"',
          '"1969-12-31T23:59:59Z"', '"2024-01-01T24:00:00Z"', '"2024-01-01T00:00:00+24:00"'),
        fc.integer({ min: 1, max: 100_000 }).map((d) => nested(d, '"2024-01-01T00:00:00Z"'))))
        .map(([s, raw]) => objectText([['sensorid', JSON.stringify(s)], ['value', '1'], ['timestamp', raw]])), pk)],
  ];
}

/** A valid reading's JSON text, at the time of `slot`, with the row it must become. `omit` leaves out a field another supplies. */
function validReading(slot: number, maxIdBytes: number, omit: { sensorId?: string; timestamp?: { raw: unknown; iso: string } } = {}):
fc.Arbitrary<{ text: string; expected: Row }> {
  return fc.tuple(sensorIdArb(maxIdBytes), storableValue, fc.boolean(), fc.integer({ min: 0, max: 3 }), extraFields, fc.boolean())
    .map(([drawnId, value, asString, form, extra, extraFirst]) => {
      const { raw, iso } = omit.timestamp ?? timestampForm(slot, form);
      const sensorId = omit.sensorId ?? drawnId;
      const reading: Record<string, unknown> = { sensorid: sensorId, value: asString ? String(value) : value, timestamp: raw };
      if (omit.sensorId !== undefined) delete reading.sensorid;
      if (omit.timestamp !== undefined) delete reading.timestamp;
      return {
        text: JSON.stringify(extraFirst ? { ...extra, ...reading } : { ...reading, ...extra }),
        expected: { sensorId, timestamp: iso, value: value === 0 ? 0 : value },
      };
    });
}

function validArb(i: number, partitionKey: string, maxIdBytes: number): fc.Arbitrary<CraftedRecord> {
  return validReading(slotOf(i, 0), maxIdBytes).map(({ text, expected }) => ({ kind: 'valid' as const, data: utf8(text), partitionKey, expected }));
}

/** Each reading its own instant: record i, reading j (j below 1,000). */
const slotOf = (i: number, j: number) => i * 1_000 + j;

/** Kinds whose text is one invalid reading as a JSON object: what an element of a record of many may be. */
const ELEMENT_KINDS: readonly CraftedKind[] = [
  'no sensor id', 'sensor id not a string or blank', 'sensor id with a lone surrogate', 'sensor id too long',
  'value DynamoDB cannot hold', 'value too small for a double', 'value not a number', 'timestamp invalid',
];

interface Element {
  readonly text: string;
  readonly expected?: Row;
  readonly reason?: RegExp;
}

/**
 * The readings of a record of many: about two thirds valid, the rest invalid
 * readings of every kind (and values that are not objects at all), each
 * valid one at an instant of its own.
 */
function elementsArb(slot: (j: number) => number, count: number, maxIdBytes: number, kinds: Array<[CraftedKind, Maker]>, options: {
  omitted?: { sensorId?: string; timestamp?: { raw: unknown; iso: string } };
  invalidKinds?: readonly CraftedKind[];
} = {}): fc.Arbitrary<Element[]> {
  const invalidKinds = options.invalidKinds ?? ELEMENT_KINDS;
  const byKind = new Map(kinds);
  // 0 to 2: valid; 3: not an object; then one invalid kind each.
  return fc.tuple(...Array.from({ length: count }, (_, j) => fc.nat({ max: 3 + invalidKinds.length }).chain((draw): fc.Arbitrary<Element> => {
    if (draw < 3) return validReading(slot(j), maxIdBytes, options.omitted ?? {}).map(({ text, expected }) => ({ text, expected }));
    if (draw === 3) {
      return fc.oneof(fc.constantFrom('1', '"s"', 'null', 'true', '[]'), fc.integer({ min: 1, max: 5_000 }).map((d) => nested(d)))
        .map((text) => ({ text, reason: /reading is not a JSON object/ }));
    }
    return byKind.get(invalidKinds[draw - 4])!(slot(j), 'k').map((r) => ({ text: r.data.toString('utf8'), reason: r.reason }));
  })));
}

function manyMakers(maxIdBytes: number, shapes: RecordShapes, kinds: Array<[CraftedKind, Maker]>): Array<[CraftedKind, Maker]> {
  const out: Array<[CraftedKind, Maker]> = [];
  const readingsOf = (elements: readonly Element[], place: (j: number) => CraftedReading['place']): CraftedReading[] =>
    elements.map((e, j) => ({ place: place(j), expected: e.expected, reason: e.reason }));
  if (shapes.acceptArrays) {
    out.push(['array of readings', (i, pk) => fc.integer({ min: 1, max: 30 }).chain((n) => elementsArb((j) => slotOf(i, j), n, maxIdBytes, kinds))
      .map((elements): CraftedRecord => ({
        kind: 'array of readings', partitionKey: pk, data: utf8(`[${elements.map((e) => e.text).join(',')}]`), readings: readingsOf(elements, (index) => ({ index })),
      }))]);
    out.push(['empty array', (_i, pk) => fc.constantFrom('[]', ' [ ] ', '[\n]').map((text) => ({ kind: 'empty array', partitionKey: pk, data: utf8(text), reason: /holds no reading/ }))]);
  }
  const field = shapes.readingsField;
  if (field) {
    out.push(['gateway batch', (i, pk) => fc.tuple(fc.integer({ min: 1, max: 30 }), fc.boolean(), sensorIdArb(maxIdBytes), fc.string({ maxLength: 12 }))
      .chain(([n, bySensor, sensorId, gateway]) => {
        // A device's batch shares its sensor id, each reading its own time; a gateway's snapshot shares the time, each reading its own sensor.
        const shared = bySensor ? { sensorId } : { timestamp: timestampForm(slotOf(i, 999), 0) };
        return elementsArb((j) => slotOf(i, j), n, maxIdBytes, kinds, {
          omitted: shared,
          // A reading without a sensor id takes the batch's.
          invalidKinds: bySensor ? ELEMENT_KINDS.filter((k) => k !== 'no sensor id') : ELEMENT_KINDS,
        }).map((elements): CraftedRecord => {
          // Readings of a snapshot share its time: one sensor twice would be one key.
          const seen = new Set<string>();
          const kept = elements.map((e) => {
            if (!e.expected || bySensor) return e;
            if (seen.has(e.expected.sensorId)) return { text: JSON.stringify({ sensorid: e.expected.sensorId }), reason: /invalid field "value"|missing field "value"/ };
            seen.add(e.expected.sensorId);
            return e;
          });
          const head = bySensor ? `"gateway":${JSON.stringify(gateway)},"sensorid":${JSON.stringify(sensorId)}`
            : `"gateway":${JSON.stringify(gateway)},"timestamp":${JSON.stringify((shared as { timestamp: { raw: unknown } }).timestamp.raw)}`;
          return {
            kind: 'gateway batch',
            partitionKey: pk,
            data: utf8(`{${head},${JSON.stringify(field)}:[${kept.map((e) => e.text).join(',')}]}`),
            readings: readingsOf(kept, (index) => ({ index })),
          };
        });
      })]);
    out.push(['gateway batch without an array', (_i, pk) => fc.constantFrom('{}', '"x"', '17', 'null', '[]')
      .map((raw) => ({
        kind: 'gateway batch without an array',
        partitionKey: pk,
        data: utf8(`{"gateway":"g",${JSON.stringify(field)}:${raw}}`),
        reason: raw === '[]' ? /holds no reading/ : new RegExp(`invalid field "${field}"`),
      }))]);
  }
  if (shapes.aggregated) {
    const userRecords = (i: number) => fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, k) =>
      fc.nat({ max: shapes.acceptArrays ? 4 : 3 }).chain((draw): fc.Arbitrary<{ data: Buffer; readings: CraftedReading[] }> => {
        const one = (slot: number) => validReading(slot, maxIdBytes)
          .map(({ text, expected }) => ({ data: utf8(text), readings: [{ place: { subSequenceNumber: k }, expected }] }));
        if (draw <= 1) return one(slotOf(i, k * 30));
        if (draw === 2) {
          return fc.constantFrom(...kinds.filter(([kind]) => ['not UTF-8', 'not JSON', ...ELEMENT_KINDS].includes(kind)))
            .chain(([, make]) => make(slotOf(i, k * 30), 'k'))
            .map((r) => ({ data: r.data, readings: [{ place: { subSequenceNumber: k }, reason: r.reason }] }));
        }
        if (draw === 3) return one(slotOf(i, k * 30 + 1));
        return fc.integer({ min: 1, max: 5 }).chain((m) => elementsArb((j) => slotOf(i, k * 30 + 2 + j), m, maxIdBytes, kinds))
          .map((elements) => ({ data: utf8(`[${elements.map((e) => e.text).join(',')}]`), readings: readingsOf(elements, (index) => ({ subSequenceNumber: k, index })) }));
      }))));
    out.push(['KPL aggregate', (i, pk) => userRecords(i).map((users): CraftedRecord => ({
      kind: 'KPL aggregate',
      partitionKey: pk,
      data: aggregate(users.map((u, k) => ({ partitionKey: `user-${k}`, data: u.data }))),
      readings: users.flatMap((u) => u.readings),
    }))]);
    out.push(['KPL aggregate, digest mismatch', (i, pk) => userRecords(i).map((users): CraftedRecord => {
      const data = aggregate(users.map((u, k) => ({ partitionKey: `user-${k}`, data: u.data })));
      data[data.length - 1] = 255 - data[data.length - 1];
      return { kind: 'KPL aggregate, digest mismatch', partitionKey: pk, data, reason: /MD5 digest does not match/ };
    })]);
  }
  return out;
}

/** A valid reading padded to exactly the largest record Kinesis takes. */
function largestRecord(i: number, partitionKey: string): CraftedRecord {
  const { iso } = timestampForm(slotOf(i, 0), 0);
  const head = JSON.stringify({ sensorid: `largest-${i}`, value: i, timestamp: iso, padding: '' });
  const padding = 'p'.repeat(KINESIS_MAX_RECORD_BYTES - bytes(head));
  const data = utf8(JSON.stringify({ sensorid: `largest-${i}`, value: i, timestamp: iso, padding }));
  return { kind: 'valid, at the record size limit', data, partitionKey, expected: { sensorId: `largest-${i}`, timestamp: iso, value: i } };
}

/**
 * `count` records in stream order: about `validShare` of them valid readings,
 * the rest drawn evenly from every kind of crafted record, interleaved.
 */
export function craftedRecords(options: CraftedRecordOptions): CraftedRecord[] {
  const partitionKey = options.partitionKey ?? 'one-key';
  const maxIdBytes = options.maxSensorIdLength ?? 256;
  const validShare = options.validShare ?? 0.5;
  const single = makers(maxIdBytes, options.shapes);
  const kinds = [...single, ...manyMakers(maxIdBytes, options.shapes ?? {}, single)];
  // Unbiased: fast-check's usual leaning to small numbers would make nearly every record valid.
  const plan = fc.sample(fc.noBias(fc.tuple(fc.integer({ min: 0, max: 9_999 }), fc.nat({ max: kinds.length - 1 }), fc.nat())), {
    seed: options.seed, numRuns: options.count,
  });
  const records = plan.map(([draw, kind, seed], i) => {
    const arb = draw < validShare * 10_000 ? validArb(i, partitionKey, maxIdBytes) : kinds[kind][1](i, partitionKey);
    return fc.sample(arb, { seed: seed + options.seed, numRuns: 1 })[0];
  });
  const largest = Math.min(options.largest ?? 1, records.length);
  for (let k = 0; k < largest; k++) {
    const at = Math.floor(((k + 1) * records.length) / (largest + 1));
    records[at] = largestRecord(at, partitionKey);
  }
  return records;
}

/** The record one byte past what Kinesis takes: PutRecord must refuse it. */
export const OVERSIZED_RECORD = Buffer.alloc(KINESIS_MAX_RECORD_BYTES + 1, 0x20);
