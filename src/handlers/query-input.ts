import { parseTimestamp } from './reading';
import { defaultOf, QUERY_SETTINGS } from '../private/handler-contract';

export interface QueryLimits {
  readonly defaultLimit: number;
  readonly maxLimit: number;
  readonly maxSensorIdLength: number;
}

export const DEFAULT_LIMITS: QueryLimits = {
  defaultLimit: defaultOf(QUERY_SETTINGS.defaultLimit),
  maxLimit: defaultOf(QUERY_SETTINGS.maxLimit),
  maxSensorIdLength: defaultOf(QUERY_SETTINGS.maxSensorIdLength),
};

export interface SensorQuery {
  readonly sensorId: string;
  readonly limit: number;
  /** Inclusive bounds, ISO-8601 UTC as stored. */
  readonly from?: string;
  readonly to?: string;
  /** Sort key to continue after (exclusive), from a page token. */
  readonly after?: string;
}

export type ParseResult = { readonly ok: true; readonly query: SensorQuery } | { readonly ok: false; readonly reason: string };

const fail = (reason: string): ParseResult => ({ ok: false, reason });

/** The one operation there is; the reference's test page names it in every request. */
export const QUERY_OPERATION = 'query';

/**
 * Validates a query request. Accepts `sensorid` (as the reference) or
 * `sensorId`, `limit`, `from`, `to` (ISO-8601 or epoch seconds/milliseconds)
 * and `nextToken` from an earlier page, and `operation`, which may be left out
 * but, when given, must be `query`. Strings are accepted for every field,
 * since query strings carry nothing else; other fields are ignored.
 */
export function parseQuery(input: unknown, limits: QueryLimits = DEFAULT_LIMITS): ParseResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return fail('the request must be a JSON object');
  const req = input as Record<string, unknown>;
  // Answering a query to a request that asked for something else would pass for success.
  if (req.operation !== undefined && req.operation !== null && req.operation !== '' && req.operation !== QUERY_OPERATION) {
    return fail(`operation must be "${QUERY_OPERATION}" (the only operation) or left out`);
  }
  const id = req.sensorid ?? req.sensorId;
  if (id === undefined || id === null || id === '') return fail('sensorid is required');
  if (typeof id !== 'string' || id.trim().length === 0) return fail('sensorid must be a non-empty string');
  if (Buffer.byteLength(id, 'utf8') > limits.maxSensorIdLength) return fail(`sensorid is longer than ${limits.maxSensorIdLength} bytes`);

  let limit = limits.defaultLimit;
  if (req.limit !== undefined && req.limit !== null && req.limit !== '') {
    const n = typeof req.limit === 'string' && /^\d+$/.test(req.limit.trim()) ? Number(req.limit) : req.limit;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > limits.maxLimit) {
      return fail(`limit must be an integer from 1 to ${limits.maxLimit}`);
    }
    limit = n;
  }

  const bound = (name: string): string | undefined | null => {
    const raw = req[name];
    if (raw === undefined || raw === null || raw === '') return undefined;
    const asNumber = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
    return parseTimestamp(asNumber) ?? null;
  };
  const from = bound('from');
  if (from === null) return fail('from must be an ISO-8601 time or epoch seconds/milliseconds');
  const to = bound('to');
  if (to === null) return fail('to must be an ISO-8601 time or epoch seconds/milliseconds');
  if (from !== undefined && to !== undefined && from > to) return fail('from must not be later than to');

  let after: string | undefined;
  if (req.nextToken !== undefined && req.nextToken !== null && req.nextToken !== '') {
    if (typeof req.nextToken !== 'string') return fail('nextToken must be a string from an earlier response');
    const decoded = decodeToken(req.nextToken, id);
    if (decoded === undefined) return fail('nextToken is not valid for this sensor');
    if ((from !== undefined && decoded < from) || (to !== undefined && decoded > to)) {
      return fail('nextToken is outside the requested time range');
    }
    after = decoded;
  }
  return { ok: true, query: { sensorId: id, limit, from, to, after } };
}

/** An opaque page token: the last sort key returned, bound to the sensor id. */
export function encodeToken(sensorId: string, timestamp: string): string {
  return Buffer.from(JSON.stringify({ s: sensorId, t: timestamp }), 'utf8').toString('base64url');
}

/** The sort key in a token, or undefined for a token that was not made by `encodeToken` for this sensor. */
export function decodeToken(token: string, sensorId: string): string | undefined {
  // A normalized timestamp is always 24 characters, so a token for this id has
  // exactly this length (a fixed cap broke ids that JSON escapes, or long ids).
  if (token.length !== encodeToken(sensorId, '1970-01-01T00:00:00.000Z').length || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || parsed.s !== sensorId || typeof parsed.t !== 'string') return undefined;
    // Only sort keys the table can hold: normalized ISO-8601.
    return parseTimestamp(parsed.t) === parsed.t ? parsed.t : undefined;
  } catch {
    return undefined;
  }
}
