/**
 * Decoding and validation of device records: the functional core shared by the
 * processor and the archiver. Nothing here talks to AWS.
 */
import { deaggregate, isAggregate } from './kpl';
import { PAYLOAD_SETTINGS, readSettings, Settings } from '../private/handler-contract';
import type { ReadingCheck } from '../private/payload-schema';
import { DYNAMODB_KEYS, DYNAMODB_NUMBER } from '../private/service-limits';

/** One stored reading: a row of the sensor table and one metric value. */
export interface Reading {
  readonly sensorId: string;
  /** ISO-8601 in UTC with millisecond precision, so that the sort key orders by time. */
  readonly timestamp: string;
  readonly value: number;
}

/** How a device payload maps onto readings. */
export interface PayloadMapping {
  readonly sensorIdField: string;
  readonly timestampField: string;
  readonly valueField: string;
  /**
   * When non-empty, each of these fields present in a record is one reading,
   * stored under the sensor id `<id><separator><field>`; `valueField` is then unused.
   */
  readonly measurementFields: readonly string[];
  readonly measurementSeparator: string;
  readonly maxSensorIdLength: number;
  /** The array field of a gateway's batch, or empty: the batch's other fields apply to each element that lacks them. */
  readonly readingsField: string;
  /** Whether a record may be a JSON array of readings. */
  readonly acceptArrays: boolean;
  /** Whether KPL aggregates are deaggregated. */
  readonly aggregated: boolean;
  /** The user's JSON Schema of a reading, compiled: each reading as an object (with a batch's shared fields under it) must meet it. */
  readonly schema?: ReadingCheck;
}

/** The payload mapping of a handler's settings. */
export function mappingOf(settings: Settings<typeof PAYLOAD_SETTINGS>): PayloadMapping {
  return {
    sensorIdField: settings.sensorIdField,
    timestampField: settings.timestampField,
    valueField: settings.valueField,
    measurementFields: settings.measurementFields,
    measurementSeparator: settings.measurementSeparator,
    maxSensorIdLength: settings.maxSensorIdLength,
    readingsField: settings.readingsField,
    acceptArrays: settings.acceptArrays,
    aggregated: settings.aggregated,
  };
}

/** The mapping of a pipeline whose payload mapping is left at its defaults. */
export const DEFAULT_MAPPING: PayloadMapping = mappingOf(readSettings(PAYLOAD_SETTINGS, {}));

export type DecodeResult =
  | { readonly ok: true; readonly readings: Reading[] }
  | { readonly ok: false; readonly reason: string };

// A byte order mark is kept as U+FEFF (ignoreBOM), not dropped: the text
// must hold every byte the device sent, for the archive and dead letters.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes a base64 Kinesis payload strictly as UTF-8 (the reference used ASCII and corrupted ids). */
export function decodeUtf8(dataBase64: string): string | undefined {
  try {
    return utf8.decode(Buffer.from(dataBase64, 'base64'));
  } catch {
    return undefined;
  }
}

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A finite number, or a string holding one (the reference test page sends strings). */
export function parseValue(raw: unknown): number | undefined {
  if (typeof raw === 'number') {
    return Number.isFinite(raw) ? raw : undefined;
  }
  if (typeof raw === 'string') {
    const s = raw.trim();
    if (!NUMERIC.test(s)) return undefined;
    const n = Number(s);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/**
 * Why DynamoDB's number type cannot hold a value, or undefined when it can.
 * The value is written as the shortest decimal that reads back as the same
 * double (at most 17 digits, within DynamoDB's 38), so only its magnitude can
 * be out of range. The bounds are compared as doubles: a double at or above
 * the double nearest 1E-130 is written as a decimal at or above 1E-130, and
 * one below 1E+126 as a decimal below it.
 */
export function dynamoDbNumberProblem(value: number): string | undefined {
  const magnitude = Math.abs(value);
  if (magnitude === 0) return undefined;
  if (magnitude >= DYNAMODB_NUMBER.maxMagnitudeExclusive) return 'is larger in magnitude than DynamoDB\'s numbers hold (below 1E+126)';
  if (magnitude < DYNAMODB_NUMBER.minMagnitude) return 'is smaller in magnitude than DynamoDB\'s numbers hold (1E-130 or more, or 0)';
  return undefined;
}

/** Whether a numeric literal names a number other than zero (a digit other than 0 before its exponent). */
function nonZeroLiteral(literal: string): boolean {
  for (let i = 0; i < literal.length; i++) {
    const c = literal.charCodeAt(i);
    if (c === 101 || c === 69) return false; // e, E: the exponent cannot make zero nonzero
    if (c >= 49 && c <= 57) return true;
  }
  return false;
}

/** Where a value sits in the JSON text of its record: object keys and array indexes from the top. */
export type JsonPath = ReadonlyArray<string | number>;

const C_QUOTE = 34;
const C_BACKSLASH = 92;
const C_COLON = 58;
const NUMBER_TOKEN = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function isJsonSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/**
 * The paths (as `JSON.stringify(path)`) at which a JSON text holds a number
 * too small for a double: a literal with a digit other than 0 that reads as
 * 0 (`1e-400`), where JSON.parse keeps the last of duplicate keys, as this
 * does. Read with one pass over the text and a stack of its own, so that no
 * depth of nesting elsewhere in the record can make it fail (a recursive
 * parser overflows its stack on a field nested a few thousand levels deep).
 * Only for a text JSON.parse has accepted.
 */
export function underflowingNumbers(text: string): Set<string> {
  const tiny = new Map<string, boolean>();
  // The depths of the paths in `tiny`: a value at another depth cannot replace one, and needs no path.
  const depths = new Set<number>();
  const stack: Array<{ object: boolean; key: string | number }> = [];
  const here = () => JSON.stringify(stack.map((f) => f.key));
  // Any value at a path where a tiny number was seen replaces it (duplicate keys: the last wins).
  const replaced = () => {
    if (depths.has(stack.length)) {
      const key = here();
      if (tiny.has(key)) tiny.set(key, false);
    }
  };
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === C_QUOTE) {
      let j = i + 1;
      while (text.charCodeAt(j) !== C_QUOTE) j += text.charCodeAt(j) === C_BACKSLASH ? 2 : 1;
      let after = j + 1;
      while (after < n && isJsonSpace(text.charCodeAt(after))) after++;
      const top = stack[stack.length - 1];
      if (top?.object && text.charCodeAt(after) === C_COLON) {
        top.key = JSON.parse(text.slice(i, j + 1)) as string;
        i = after + 1;
      } else {
        replaced();
        i = j + 1;
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      replaced();
      stack.push({ object: c === 123, key: c === 123 ? '' : 0 });
      i++;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      stack.pop();
      i++;
    } else if (c === 44 /* , */) {
      const top = stack[stack.length - 1];
      if (top && !top.object) top.key = (top.key as number) + 1;
      i++;
    } else if (c === C_MINUS || (c >= C_0 && c <= C_0 + 9)) {
      NUMBER_TOKEN.lastIndex = i;
      const literal = NUMBER_TOKEN.exec(text)![0];
      i += literal.length;
      if (Number(literal) === 0 && nonZeroLiteral(literal)) {
        tiny.set(here(), true);
        depths.add(stack.length);
      } else {
        replaced();
      }
    } else if (c === 116 /* t */ || c === 102 /* f */ || c === 110 /* n */) {
      replaced();
      i += c === 102 ? 5 : 4;
    } else {
      i++;
    }
  }
  return new Set([...tiny].filter(([, isTiny]) => isTiny).map(([key]) => key));
}

// The records of a batch are read one after another: the last text's paths serve all its readings.
let underflowText: string | undefined;
let underflowPaths: Set<string> = new Set();

/** Whether the JSON text holds a number too small for a double at `path` (see `underflowingNumbers`). */
function underflowsAt(text: string, path: JsonPath): boolean {
  if (text !== underflowText) {
    underflowPaths = underflowingNumbers(text);
    underflowText = text;
  }
  return underflowPaths.size > 0 && underflowPaths.has(JSON.stringify(path));
}

/** The reason a value cannot be stored, or undefined. `underflows` tells whether a number that read as 0 was written as one that is not. */
function valueProblem(value: number, raw: unknown, underflows: () => boolean): string | undefined {
  if (value === 0) {
    const tooSmall = typeof raw === 'string' ? nonZeroLiteral(raw.trim()) : underflows();
    return tooSmall ? 'is too small in magnitude to be read as a number other than 0' : undefined;
  }
  return dynamoDbNumberProblem(value);
}

// A UTF-16 string holding an unpaired surrogate cannot be written as UTF-8:
// DynamoDB would refuse it or store U+FFFD, another id.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// Date and time are required; seconds, fractions and the zone are optional
// (a time without a zone is taken as UTC):
//   YYYY-MM-DD(T|t| )HH:MM[:SS[(.|,)F{1,9}]][Z|z|(+|-)HH[[:]MM]]
// Read by hand rather than by a regular expression: this runs for every
// reading, and a scan without captures costs a fraction of one.
const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
// Epoch numbers below this are seconds (until the year 5138), above it milliseconds.
const EPOCH_SECONDS_LIMIT = 1e11;
// No offset (at most 23:59) brings a time of a year before 1969 to 1970 or later.
const MIN_YEAR = 1969;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
// The canonical form, what Date#toISOString writes: YYYY-MM-DDTHH:MM:SS.sssZ.
const CANONICAL_LENGTH = 24;

const C_0 = 48;
const C_T = 84;
const C_t = 116;
const C_Z = 90;
const C_z = 122;
const C_MINUS = 45;
const C_SPACE = 32;

/** The decimal number of `count` ASCII digits at `at`, or -1. */
function digits(s: string, at: number, count: number): number {
  if (at + count > s.length) return -1;
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = s.charCodeAt(i) - C_0;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function daysIn(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1];
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

/** Epoch milliseconds of an ISO-8601 date-time, or undefined for one that is not valid or not in range. */
function isoMillis(s: string): number | undefined {
  const n = s.length;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const sep = s.charCodeAt(10);
  if (year < 0 || month < 1 || day < 1 || hour < 0 || minute < 0) return undefined;
  if (s[4] !== '-' || s[7] !== '-' || s[13] !== ':' || (sep !== C_T && sep !== C_t && sep !== C_SPACE)) return undefined;
  let i = 16;
  let second = 0;
  let millis = 0;
  if (s[i] === ':') {
    second = digits(s, i + 1, 2);
    if (second < 0) return undefined;
    i += 3;
    if (s[i] === '.' || s[i] === ',') {
      const from = ++i;
      while (i < n && i - from < 9 && digits(s, i, 1) >= 0) i++;
      if (i === from) return undefined;
      // Kept to the millisecond: the first three digits, the rest dropped.
      for (let k = from; k < from + 3; k++) millis = millis * 10 + (k < i ? s.charCodeAt(k) - C_0 : 0);
    }
  }
  let offset = 0;
  if (i < n) {
    const zone = s.charCodeAt(i);
    if (zone === C_Z || zone === C_z) {
      i++;
    } else if (s[i] === '+' || s[i] === '-') {
      const hours = digits(s, i + 1, 2);
      if (hours < 0) return undefined;
      i += 3;
      let minutes = 0;
      if (i < n) {
        if (s[i] === ':') i++;
        minutes = digits(s, i, 2);
        if (minutes < 0) return undefined;
        i += 2;
      }
      if (hours > 23 || minutes > 59) return undefined;
      offset = (zone === C_MINUS ? -1 : 1) * (hours * 60 + minutes) * 60_000;
    } else {
      return undefined;
    }
  }
  if (i !== n) return undefined;
  if (month > 12 || hour > 23 || minute > 59 || second > 59 || year < MIN_YEAR || day > daysIn(year, month)) return undefined;
  const time = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset;
  return time < MIN_TIME || time > MAX_TIME ? undefined : time;
}

/** Epoch milliseconds of an ISO-8601 string or an epoch number (seconds or milliseconds), or undefined for one that is not valid. */
export function timestampMillis(raw: unknown): number | undefined {
  if (typeof raw === 'string') return isoMillis(raw.trim());
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < 0) return undefined;
  const millis = Math.floor(raw < EPOCH_SECONDS_LIMIT ? raw * 1000 : raw);
  return millis < MIN_TIME || millis > MAX_TIME ? undefined : millis;
}

/** Normalizes an ISO-8601 string or an epoch number (seconds or milliseconds) to ISO-8601 UTC. */
export function parseTimestamp(raw: unknown): string | undefined {
  const millis = timestampMillis(raw);
  if (millis === undefined) return undefined;
  // Already in the form it is stored in: no need to write it again.
  if (typeof raw === 'string' && raw.length === CANONICAL_LENGTH && raw.charCodeAt(10) === C_T && raw.charCodeAt(23) === C_Z && raw[19] === '.') return raw;
  return new Date(millis).toISOString();
}


function describe(name: string, raw: unknown): string {
  if (raw === undefined) return `missing field "${name}"`;
  return `invalid field "${name}": ${shown(raw)}`;
}

/**
 * A field's value as a reason shows it: strings cut to 61 characters, arrays
 * and objects by their kind. Never serialized whole: a record can nest a
 * field a million levels deep, which JSON.stringify cannot write (it throws)
 * and a reason has no use for.
 */
function shown(raw: unknown): string {
  if (typeof raw === 'string') {
    const cut = cutAt(raw, 61);
    return `${JSON.stringify(cut)}${cut.length < raw.length ? '...' : ''}`;
  }
  if (Array.isArray(raw)) return `an array of ${raw.length}`;
  if (typeof raw === 'object' && raw !== null) return 'an object';
  return String(raw);
}

/** An own property only: a configured field named like "constructor" must not match every payload through the prototype. */
function field(obj: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
}

/**
 * Validates one decoded JSON payload and maps it to readings. A payload is
 * refused when any reading it holds would be refused by a service it goes
 * to (`src/private/service-limits.ts`): DynamoDB would fail the whole
 * request that carries it, and with it 24 other readings.
 *
 * @param text the JSON text the payload was parsed from, when there is one:
 *   it tells a number too small for a double, read as 0, from a zero
 * @param shared the fields of a gateway's batch, read where the payload has
 *   no field of that name
 * @param at where the payload sits in `text` (for a reading of a batch or an array)
 * @param sharedAt where `shared` sits in `text`
 */
export function toReadings(
  payload: unknown,
  mapping: PayloadMapping = DEFAULT_MAPPING,
  text?: string,
  shared?: Record<string, unknown>,
  at: JsonPath = [],
  sharedAt: JsonPath = [],
): DecodeResult {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { ok: false, reason: 'payload is not a JSON object' };
  }
  const obj = payload as Record<string, unknown>;
  const has = (name: string) => hasOwn(obj, name) || (shared !== undefined && name !== mapping.readingsField && hasOwn(shared, name));
  const get = (name: string): unknown => {
    if (hasOwn(obj, name)) return obj[name];
    return shared !== undefined && name !== mapping.readingsField ? field(shared, name) : undefined;
  };
  const pathOf = (name: string): JsonPath => (hasOwn(obj, name) ? [...at, name] : [...sharedAt, name]);
  const id = get(mapping.sensorIdField);
  if (typeof id !== 'string' || id.trim().length === 0) {
    return { ok: false, reason: `${describe(mapping.sensorIdField, id)} (a non-empty string is required)` };
  }
  if (LONE_SURROGATE.test(id)) {
    return { ok: false, reason: `${describe(mapping.sensorIdField, id)} (not valid Unicode: it holds a lone surrogate, which UTF-8 cannot encode)` };
  }
  const rawTime = get(mapping.timestampField);
  const timestamp = parseTimestamp(rawTime);
  if (timestamp === undefined) {
    return {
      ok: false,
      reason: `${describe(mapping.timestampField, rawTime)} (ISO-8601 or epoch seconds/milliseconds is required)`,
    };
  }
  const valueOf = (name: string): number | string => {
    const raw = get(name);
    const value = parseValue(raw);
    if (value === undefined) return `${describe(name, raw)} (a finite number is required)`;
    const problem = valueProblem(value, raw, () => text !== undefined && underflowsAt(text, pathOf(name)));
    return problem === undefined ? value : `${describe(name, raw)} ${problem}`;
  };
  const readings: Reading[] = [];
  if (mapping.measurementFields.length === 0) {
    const value = valueOf(mapping.valueField);
    if (typeof value === 'string') return { ok: false, reason: value };
    readings.push({ sensorId: id, timestamp, value });
  } else {
    for (const name of mapping.measurementFields) {
      if (!has(name)) continue;
      const value = valueOf(name);
      if (typeof value === 'string') return { ok: false, reason: value };
      readings.push({ sensorId: `${id}${mapping.measurementSeparator}${name}`, timestamp, value });
    }
    if (readings.length === 0) {
      return { ok: false, reason: `none of the measurement fields ${mapping.measurementFields.join(', ')} is present` };
    }
  }
  // The longest sensor id is at most DynamoDB's 2,048-byte partition key (the setting's range).
  const maxBytes = Math.min(mapping.maxSensorIdLength, DYNAMODB_KEYS.maxPartitionKeyBytes);
  for (const r of readings) {
    if (Buffer.byteLength(r.sensorId, 'utf8') > maxBytes) {
      return { ok: false, reason: `sensor id ${describeId(r.sensorId)} is longer than ${maxBytes} bytes` };
    }
  }
  if (mapping.schema) {
    let whole = obj;
    if (shared !== undefined) {
      const { [mapping.readingsField]: _list, ...fields } = shared;
      whole = { ...fields, ...obj };
    }
    const problem = mapping.schema(whole);
    if (problem !== undefined) return { ok: false, reason: problem };
  }
  return { ok: true, readings };
}

function hasOwn(obj: object, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, name);
}

/** The first `length` UTF-16 units of a string, one fewer where that would cut a surrogate pair in two. */
export function cutAt(s: string, length: number): string {
  if (s.length <= length) return s;
  const code = s.charCodeAt(length - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}

function describeId(id: string): string {
  const cut = cutAt(id, 32);
  return `${JSON.stringify(cut)}${cut.length < id.length ? '...' : ''}`;
}

/** Where a reading sits in a record that holds many. */
export interface ReadingPlace {
  /** The user record's place in a KPL aggregate (its sub-sequence number), for a reading of an aggregate. */
  readonly subSequenceNumber?: number;
  /** The element's place in a JSON array or a gateway's batch, for a reading of one. */
  readonly index?: number;
}

/** A reading of a record that holds many, refused, and why. */
export interface InvalidReading extends ReadingPlace {
  readonly reason: string;
}

/**
 * A record read: either refused whole (not UTF-8, not JSON, an invalid
 * single reading, an aggregate that does not decode), or its readings, with
 * those of its readings that are refused, each at its place. `many` tells a
 * record that holds many readings (an array, a batch, an aggregate), whose
 * readings are judged one by one, from one that is one reading.
 */
export type RecordResult =
  | { readonly ok: true; readonly readings: Reading[]; readonly invalid: InvalidReading[]; readonly many: boolean }
  | { readonly ok: false; readonly reason: string };

/**
 * Decodes and validates one Kinesis record payload (base64): one reading, or
 * many where the mapping accepts them (a JSON array, a gateway's batch, a
 * KPL aggregate), each reading judged alone.
 */
export function decodeRecord(dataBase64: string, mapping: PayloadMapping = DEFAULT_MAPPING): RecordResult {
  if (mapping.aggregated) {
    const bytes = Buffer.from(dataBase64, 'base64');
    if (isAggregate(bytes)) return readAggregate(bytes, mapping);
    return readPayload(bytes, mapping);
  }
  return readPayload(Buffer.from(dataBase64, 'base64'), mapping);
}

function readAggregate(bytes: Buffer, mapping: PayloadMapping): RecordResult {
  const aggregate = deaggregate(bytes);
  if (!aggregate.ok) return { ok: false, reason: aggregate.reason };
  const readings: Reading[] = [];
  const invalid: InvalidReading[] = [];
  aggregate.records.forEach((data, subSequenceNumber) => {
    const result = readPayload(data, mapping);
    if (!result.ok) {
      invalid.push({ subSequenceNumber, reason: result.reason });
      return;
    }
    for (const r of result.readings) readings.push(r);
    for (const bad of result.invalid) invalid.push({ subSequenceNumber, ...bad });
  });
  return { ok: true, readings, invalid, many: true };
}

/** One payload (a record's, or a user record's of an aggregate): UTF-8 JSON of one reading, an array of readings, or a gateway's batch. */
function readPayload(bytes: Buffer, mapping: PayloadMapping): RecordResult {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'payload is not valid UTF-8' };
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'payload is not valid JSON' };
  }
  let elements: unknown[];
  let shared: Record<string, unknown> | undefined;
  let at: JsonPath = [];
  if (Array.isArray(payload) && mapping.acceptArrays) {
    elements = payload;
  } else if (mapping.readingsField !== '' && typeof payload === 'object' && payload !== null && !Array.isArray(payload)
    && hasOwn(payload, mapping.readingsField)) {
    const batch = payload as Record<string, unknown>;
    const list = batch[mapping.readingsField];
    if (!Array.isArray(list)) {
      return { ok: false, reason: `${describe(mapping.readingsField, list)} (a gateway's batch holds an array of readings)` };
    }
    elements = list;
    shared = batch;
    at = [mapping.readingsField];
  } else {
    const one = toReadings(payload, mapping, text);
    return one.ok ? { ok: true, readings: one.readings, invalid: [], many: false } : one;
  }
  if (elements.length === 0) return { ok: false, reason: 'payload holds no reading (an empty array)' };
  const readings: Reading[] = [];
  const invalid: InvalidReading[] = [];
  for (let index = 0; index < elements.length; index++) {
    const result = toReadings(elements[index], mapping, text, shared, [...at, index]);
    if (result.ok) {
      for (const r of result.readings) readings.push(r);
    } else {
      invalid.push({ index, reason: result.reason.replace(/^payload is not/, 'reading is not') });
    }
  }
  return { ok: true, readings, invalid, many: true };
}

/** Where a reading sits, as a reason names it: `user record 2, reading 5`. */
export function describePlace(place: ReadingPlace): string {
  const parts: string[] = [];
  if (place.subSequenceNumber !== undefined) parts.push(`user record ${place.subSequenceNumber}`);
  if (place.index !== undefined) parts.push(`reading ${place.index}`);
  return parts.join(', ');
}

/**
 * The reason of a dead letter for the refused readings of a record that holds
 * many: the first one's place and reason, and how many more there are (each
 * is listed with its own reason in the letter).
 */
export function invalidReadingsReason(invalid: readonly InvalidReading[]): string {
  const first = `${describePlace(invalid[0])}: ${invalid[0].reason}`;
  return invalid.length === 1 ? first : `${invalid.length} readings refused; the first, ${first}`;
}
