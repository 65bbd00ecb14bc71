/**
 * How readings and their rollups sit in the table: the item keys, attributes
 * and aggregates of each layout. The functional core shared by the processor
 * (which writes them) and the query function (which reads them); nothing here
 * talks to AWS. The schema is documented for users in the README ("Table
 * layouts and the item schema").
 *
 * Every item is keyed by `SensorId` (S) and `Timestamp` (S). A per-reading
 * item's sort key is the reading's ISO-8601 time, which always starts with a
 * digit; every other item's sort key starts with a letter and `#`, so each
 * kind of item is a range of sort keys of its own in a sensor's partition:
 *
 * - `P#<minute>`: the readings of one sensor in one minute (packed layout),
 *   one attribute per reading, named by the reading's millisecond within the
 *   minute (`r00000` to `r59999`), its value a number.
 * - `P#<minute>#<SS>`: readings of that minute that no longer fit in its item
 *   (DynamoDB's 400 KB item limit), by second; same attributes.
 * - `H#<hour>`: the rollup of one hour: an aggregate per minute (`m<MM>`, and
 *   `m<MM>s<SS>` for the readings of a spilled second).
 * - `D#<day>`: the rollup of one day: an aggregate per hour (`h<HH>`).
 * - `V#<hour>`: per-minute change counters of the per-reading layout's rollups.
 *
 * Times in sort keys are ISO-8601 UTC with milliseconds, as readings are.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { Reading } from './reading';
import { TTL_ATTRIBUTE } from '../private/handler-contract';
import { DYNAMODB_NUMBER } from '../private/service-limits';

export { TTL_ATTRIBUTE };
/** The version of a packed, hour or day item: raised by one with every write, so that a rollup can tell a newer state from an older one. */
export const VERSION_ATTRIBUTE = 'v';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export const PACKED_PREFIX = 'P#';
export const HOUR_PREFIX = 'H#';
export const DAY_PREFIX = 'D#';
export const COUNTER_PREFIX = 'V#';

/** How the processor stores readings (the values of the handlers' TABLE_LAYOUT setting). */
export type LayoutKind = 'PER_READING' | 'PACKED';

export interface LayoutSettings {
  readonly kind: LayoutKind;
  /** Whether per-minute, per-hour and per-day aggregates are kept. */
  readonly rollups: boolean;
  /** Seconds an item is kept after the newest time it covers; 0 for ever (no TTL attribute). */
  readonly retentionSeconds: number;
}

export const PER_READING: LayoutSettings = { kind: 'PER_READING', rollups: false, retentionSeconds: 0 };

/** The resolutions of the query function's rollups, and the width of their buckets. */
export const RESOLUTIONS = { '1m': MINUTE_MS, '1h': HOUR_MS, '1d': DAY_MS } as const;
export type Resolution = keyof typeof RESOLUTIONS;

const iso = (ms: number) => new Date(ms).toISOString();
export const floorTo = (ms: number, width: number) => Math.floor(ms / width) * width;

/** The sort key of a packed item: the minute, and the second for a spilled part. */
export function packedKey(minuteMs: number, second?: number): string {
  return second === undefined ? `${PACKED_PREFIX}${iso(minuteMs)}` : `${PACKED_PREFIX}${iso(minuteMs)}#${String(second).padStart(2, '0')}`;
}
export const hourKey = (hourMs: number) => `${HOUR_PREFIX}${iso(hourMs)}`;
export const dayKey = (dayMs: number) => `${DAY_PREFIX}${iso(dayMs)}`;
export const counterKey = (hourMs: number) => `${COUNTER_PREFIX}${iso(hourMs)}`;

/** The attribute of a reading in its packed item: its millisecond in the minute, five digits. */
export function slotName(offsetMs: number): string {
  return `r${String(offsetMs).padStart(5, '0')}`;
}

const SLOT = /^r(\d{5})$/;

/** The time of a sort key's item: the minute of a packed item (spilled or not), the hour or day of a rollup. */
export function keyTime(sortKey: string): { kind: 'P' | 'H' | 'D' | 'V'; ms: number; second?: number } | undefined {
  const m = /^([PHDV])#(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)(?:#(\d\d))?$/.exec(sortKey);
  if (!m) return undefined;
  const ms = Date.parse(m[2]);
  if (!Number.isFinite(ms)) return undefined;
  return { kind: m[1] as 'P' | 'H' | 'D' | 'V', ms, second: m[3] === undefined ? undefined : Number(m[3]) };
}

/** An item as the DynamoDB API writes it. */
export type AttributeMap = Record<string, AttributeValue>;

/**
 * The readings of a packed item (spilled or not), oldest first. Also what a
 * user reading the table directly does: the minute of the sort key plus the
 * millisecond of each `rNNNNN` attribute.
 */
export function readingsOfPackedItem(item: AttributeMap): Reading[] {
  const sensorId = item.SensorId?.S ?? '';
  const key = keyTime(item.Timestamp?.S ?? '');
  if (!key || key.kind !== 'P') return [];
  const out: Array<{ offset: number; value: number }> = [];
  for (const [name, value] of Object.entries(item)) {
    const slot = SLOT.exec(name);
    if (slot && value.N !== undefined) out.push({ offset: Number(slot[1]), value: Number(value.N) });
  }
  out.sort((a, b) => a.offset - b.offset);
  return out.map((s) => ({ sensorId, timestamp: iso(key.ms + s.offset), value: s.value }));
}

/** The readings an item of either layout holds: one for a per-reading item, those of a packed item, none for a rollup. */
export function readingsOfItem(item: AttributeMap): Reading[] {
  const sortKey = item.Timestamp?.S ?? '';
  if (/^\d/.test(sortKey)) {
    return item.Value?.N === undefined ? [] : [{ sensorId: item.SensorId?.S ?? '', timestamp: sortKey, value: Number(item.Value.N) }];
  }
  return readingsOfPackedItem(item);
}

/** Count, sum, least and greatest value, first and last time (epoch ms) of the readings of a bucket. */
export interface Aggregate {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly first: number;
  readonly last: number;
}

/** The aggregate of readings (at least one), summed in time order so that the same readings always give the same sum. */
export function aggregateOf(readings: ReadonlyArray<{ readonly time: number; readonly value: number }>): Aggregate {
  const sorted = [...readings].sort((a, b) => a.time - b.time);
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const r of sorted) {
    sum += r.value;
    if (r.value < min) min = r.value;
    if (r.value > max) max = r.value;
  }
  return { count: sorted.length, sum, min, max, first: sorted[0].time, last: sorted[sorted.length - 1].time };
}

/** Aggregates combined (at least one), in the order given: callers pass them in time order, so that the sum is the same every time. */
export function combine(parts: readonly Aggregate[]): Aggregate {
  let { count, sum, min, max, first, last } = parts[0];
  for (const p of parts.slice(1)) {
    count += p.count;
    sum += p.sum;
    if (p.min < min) min = p.min;
    if (p.max > max) max = p.max;
    if (p.first < first) first = p.first;
    if (p.last > last) last = p.last;
  }
  return { count, sum, min, max, first, last };
}

/**
 * A sum as the table holds it: a number where DynamoDB's number type can
 * hold it, else a string. The readings are each within that type, but a sum
 * of many can pass its largest magnitude, and a sum of values of opposite
 * signs can come closer to zero than its smallest: a number DynamoDB refuses
 * would fail the write for good.
 */
export function sumAttribute(sum: number): AttributeValue {
  const magnitude = Math.abs(sum);
  if (magnitude === 0 || (magnitude < DYNAMODB_NUMBER.maxMagnitudeExclusive && magnitude >= DYNAMODB_NUMBER.minMagnitude)) return { N: String(sum) };
  return { S: String(sum) };
}

/** An aggregate as an entry of a rollup item, with the version of what it was computed from. */
export function aggregateAttribute(a: Aggregate, version: number): AttributeValue {
  return {
    M: {
      n: { N: String(a.count) },
      s: sumAttribute(a.sum),
      lo: { N: String(a.min) },
      hi: { N: String(a.max) },
      f: { N: String(a.first) },
      l: { N: String(a.last) },
      v: { N: String(version) },
    },
  };
}

/** The aggregate of a rollup entry, or undefined for an attribute that is not one. */
export function aggregateOfAttribute(value: AttributeValue | undefined): Aggregate | undefined {
  const m = value?.M;
  if (!m || m.n?.N === undefined) return undefined;
  const num = (a: AttributeValue | undefined) => Number(a?.N ?? a?.S);
  return { count: num(m.n), sum: num(m.s), min: num(m.lo), max: num(m.hi), first: num(m.f), last: num(m.l) };
}

/** The aggregate of a packed item's readings, or undefined when it holds none. */
export function packedItemAggregate(item: AttributeMap): Aggregate | undefined {
  const readings = readingsOfPackedItem(item);
  return readings.length === 0 ? undefined : aggregateOf(readings.map((r) => ({ time: Date.parse(r.timestamp), value: r.value })));
}

/** The name of a minute's entry in its hour item: `m<MM>`, or `m<MM>s<SS>` for a spilled second. */
export function minuteEntryName(minuteMs: number, second?: number): string {
  const mm = String(new Date(minuteMs).getUTCMinutes()).padStart(2, '0');
  return second === undefined ? `m${mm}` : `m${mm}s${String(second).padStart(2, '0')}`;
}

/** The name of an hour's entry in its day item: `h<HH>`. */
export function hourEntryName(hourMs: number): string {
  return `h${String(new Date(hourMs).getUTCHours()).padStart(2, '0')}`;
}

const MINUTE_ENTRY = /^m(\d\d)(?:s\d\d)?$/;
const HOUR_ENTRY = /^h(\d\d)$/;

/**
 * The per-minute aggregates of an hour item, oldest first: a minute's
 * entry combined with those of its spilled seconds.
 */
export function minutesOfHourItem(item: AttributeMap): Array<{ start: number; aggregate: Aggregate }> {
  const key = keyTime(item.Timestamp?.S ?? '');
  if (!key || key.kind !== 'H') return [];
  return bucketsOf(item, MINUTE_ENTRY, (n) => key.ms + n * MINUTE_MS);
}

/** The per-hour aggregates of a day item, oldest first. */
export function hoursOfDayItem(item: AttributeMap): Array<{ start: number; aggregate: Aggregate }> {
  const key = keyTime(item.Timestamp?.S ?? '');
  if (!key || key.kind !== 'D') return [];
  return bucketsOf(item, HOUR_ENTRY, (n) => key.ms + n * HOUR_MS);
}

function bucketsOf(item: AttributeMap, entry: RegExp, start: (n: number) => number): Array<{ start: number; aggregate: Aggregate }> {
  const parts = new Map<number, Array<{ name: string; aggregate: Aggregate }>>();
  for (const [name, value] of Object.entries(item)) {
    const m = entry.exec(name);
    const aggregate = m ? aggregateOfAttribute(value) : undefined;
    if (!m || !aggregate) continue;
    const n = Number(m[1]);
    parts.set(n, [...(parts.get(n) ?? []), { name, aggregate }]);
  }
  return [...parts.entries()]
    .sort(([a], [b]) => a - b)
    .map(([n, list]) => ({ start: start(n), aggregate: combine(list.sort((a, b) => (a.name < b.name ? -1 : 1)).map((p) => p.aggregate)) }));
}

/** The aggregate of a whole hour or day item: its entries combined in time order. */
export function itemAggregate(item: AttributeMap): Aggregate | undefined {
  const key = keyTime(item.Timestamp?.S ?? '');
  const buckets = key?.kind === 'H' ? minutesOfHourItem(item) : key?.kind === 'D' ? hoursOfDayItem(item) : [];
  return buckets.length === 0 ? undefined : combine(buckets.map((b) => b.aggregate));
}

/** The TTL of an item whose newest time is just before `endMs`, or undefined when items are kept for ever. */
export function expiresAt(endMs: number, layout: LayoutSettings): number | undefined {
  return layout.retentionSeconds > 0 ? Math.ceil(endMs / 1000) + layout.retentionSeconds : undefined;
}

/** A reading's place: its packed item's minute and its attribute there. */
export function packedPlace(r: Reading): { minute: number; offset: number; slot: string } {
  const ms = Date.parse(r.timestamp);
  const minute = floorTo(ms, MINUTE_MS);
  return { minute, offset: ms - minute, slot: slotName(ms - minute) };
}

export { iso as isoTime };
