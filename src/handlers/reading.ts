/**
 * Decoding and validation of device records: the functional core shared by the
 * processor and the archiver. Nothing here talks to AWS.
 */
import { PAYLOAD_SETTINGS, readSettings, Settings } from '../private/handler-contract';

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
  };
}

/** The mapping of a pipeline whose payload mapping is left at its defaults. */
export const DEFAULT_MAPPING: PayloadMapping = mappingOf(readSettings(PAYLOAD_SETTINGS, {}));

export type DecodeResult =
  | { readonly ok: true; readonly readings: Reading[] }
  | { readonly ok: false; readonly reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

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

// Date and time are required; seconds, fractions and the zone are optional
// (a time without a zone is taken as UTC).
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const MIN_TIME = Date.UTC(1970, 0, 1);
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
// Epoch numbers below this are seconds (until the year 5138), above it milliseconds.
const EPOCH_SECONDS_LIMIT = 1e11;

/** Normalizes an ISO-8601 string or an epoch number (seconds or milliseconds) to ISO-8601 UTC. */
export function parseTimestamp(raw: unknown): string | undefined {
  let millis: number;
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw) || raw < 0) return undefined;
    millis = raw < EPOCH_SECONDS_LIMIT ? raw * 1000 : raw;
  } else if (typeof raw === 'string') {
    const m = ISO_8601.exec(raw.trim());
    if (!m) return undefined;
    const [, y, mo, d, h, mi, s = '0', frac = '0', zone = 'Z'] = m;
    const month = Number(mo);
    const day = Number(d);
    const hour = Number(h);
    const minute = Number(mi);
    const second = Number(s);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
    const date = new Date(Date.UTC(2000, 0, 1, hour, minute, second, Number(frac.padEnd(3, '0').slice(0, 3))));
    // setUTCFullYear, unlike Date.UTC, does not map the years 0-99 to 1900-1999.
    const base = date.setUTCFullYear(Number(y), month - 1, day);
    // Both roll 31 February over into March: reject dates that do not exist.
    if (date.getUTCDate() !== day) return undefined;
    const offset = zoneOffsetMillis(zone);
    if (offset === undefined) return undefined;
    millis = base - offset;
  } else {
    return undefined;
  }
  millis = Math.floor(millis);
  if (millis < MIN_TIME || millis > MAX_TIME) return undefined;
  return new Date(millis).toISOString();
}

/** The offset of a zone designator, or undefined for one out of range (such as +99:99). */
function zoneOffsetMillis(zone: string): number | undefined {
  if (zone.toUpperCase() === 'Z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) return undefined;
  return sign * (hours * 60 + minutes) * 60_000;
}

function describe(name: string, raw: unknown): string {
  if (raw === undefined) return `missing field "${name}"`;
  const shown = JSON.stringify(raw);
  return `invalid field "${name}": ${shown.length > 64 ? shown.slice(0, 61) + '...' : shown}`;
}

/** An own property only: a configured field named like "constructor" must not match every payload through the prototype. */
function field(obj: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
}

/** Validates one decoded JSON payload and maps it to readings. */
export function toReadings(payload: unknown, mapping: PayloadMapping = DEFAULT_MAPPING): DecodeResult {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return { ok: false, reason: 'payload is not a JSON object' };
  }
  const obj = payload as Record<string, unknown>;
  const id = field(obj, mapping.sensorIdField);
  if (typeof id !== 'string' || id.trim().length === 0) {
    return { ok: false, reason: `${describe(mapping.sensorIdField, id)} (a non-empty string is required)` };
  }
  const timestamp = parseTimestamp(field(obj, mapping.timestampField));
  if (timestamp === undefined) {
    return {
      ok: false,
      reason: `${describe(mapping.timestampField, field(obj, mapping.timestampField))} (ISO-8601 or epoch seconds/milliseconds is required)`,
    };
  }
  const readings: Reading[] = [];
  if (mapping.measurementFields.length === 0) {
    const value = parseValue(field(obj, mapping.valueField));
    if (value === undefined) {
      return { ok: false, reason: `${describe(mapping.valueField, field(obj, mapping.valueField))} (a finite number is required)` };
    }
    readings.push({ sensorId: id, timestamp, value });
  } else {
    for (const name of mapping.measurementFields) {
      if (!Object.prototype.hasOwnProperty.call(obj, name)) continue;
      const value = parseValue(obj[name]);
      if (value === undefined) {
        return { ok: false, reason: `${describe(name, obj[name])} (a finite number is required)` };
      }
      readings.push({ sensorId: `${id}${mapping.measurementSeparator}${name}`, timestamp, value });
    }
    if (readings.length === 0) {
      return { ok: false, reason: `none of the measurement fields ${mapping.measurementFields.join(', ')} is present` };
    }
  }
  for (const r of readings) {
    if (Buffer.byteLength(r.sensorId, 'utf8') > mapping.maxSensorIdLength) {
      return { ok: false, reason: `sensor id "${r.sensorId.slice(0, 32)}..." is longer than ${mapping.maxSensorIdLength} bytes` };
    }
  }
  return { ok: true, readings };
}

/** Decodes and validates one Kinesis record payload (base64). */
export function decodeRecord(dataBase64: string, mapping: PayloadMapping = DEFAULT_MAPPING): DecodeResult {
  const text = decodeUtf8(dataBase64);
  if (text === undefined) return { ok: false, reason: 'payload is not valid UTF-8' };
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'payload is not valid JSON' };
  }
  return toReadings(payload, mapping);
}
