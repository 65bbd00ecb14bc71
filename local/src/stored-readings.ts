/**
 * The readings a table item holds, in either of the pipeline's table layouts:
 * the local package's own copy of the construct library's reading of its items
 * (src/handlers/table-layout.ts, readingsOfItem); a property test holds the
 * two equal.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export interface StoredReading {
  readonly sensorId: string;
  /** ISO-8601 in UTC with millisecond precision. */
  readonly timestamp: string;
  readonly value: number;
}

const SLOT = /^r(\d{5})$/;
const PACKED_KEY = /^P#(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)(?:#\d\d)?$/;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The readings of a packed item (sort key `P#<minute>`, spilled parts
 * `P#<minute>#<second>`), oldest first: the minute of the sort key plus the
 * millisecond of each `rNNNNN` attribute.
 */
export function readingsOfPackedItem(item: Record<string, AttributeValue>): StoredReading[] {
  const sensorId = item.SensorId?.S ?? '';
  const key = PACKED_KEY.exec(item.Timestamp?.S ?? '');
  const minute = key ? Date.parse(key[1]) : NaN;
  if (!Number.isFinite(minute)) return [];
  const out: Array<{ offset: number; value: number }> = [];
  for (const [name, value] of Object.entries(item)) {
    const slot = SLOT.exec(name);
    if (slot && value.N !== undefined) out.push({ offset: Number(slot[1]), value: Number(value.N) });
  }
  out.sort((a, b) => a.offset - b.offset);
  return out.map((s) => ({ sensorId, timestamp: iso(minute + s.offset), value: s.value }));
}

/** The readings an item of either layout holds: one for a per-reading item, those of a packed item, none for a rollup. */
export function readingsOfItem(item: Record<string, AttributeValue>): StoredReading[] {
  const sortKey = item.Timestamp?.S ?? '';
  if (/^\d/.test(sortKey)) {
    return item.Value?.N === undefined ? [] : [{ sensorId: item.SensorId?.S ?? '', timestamp: sortKey, value: Number(item.Value.N) }];
  }
  return readingsOfPackedItem(item);
}
