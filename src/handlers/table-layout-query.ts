/**
 * Queries of the packed layout and of the rollups: the same answers as the
 * per-reading layout's Query (newest first, inclusive time bounds, a page of
 * at most `limit`, a token to continue after the last row), read from items
 * that each hold many readings or buckets. Every read is a Query on the
 * sensor's partition, never a Scan, with a Limit on items sized to the page.
 */
import { AttributeValue, DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { encodeToken } from './query-input';
import { Reading } from './reading';
import {
  Aggregate,
  AttributeMap,
  DAY_MS,
  DAY_PREFIX,
  floorTo,
  HOUR_MS,
  HOUR_PREFIX,
  hoursOfDayItem,
  isoTime,
  itemAggregate,
  keyTime,
  MINUTE_MS,
  minutesOfHourItem,
  PACKED_PREFIX,
  readingsOfPackedItem,
  Resolution,
  RESOLUTIONS,
} from './table-layout';

/** The time range of a page: inclusive bounds in epoch ms, the upper one lowered below a page token's time. */
export interface TimeRange {
  readonly sensorId: string;
  readonly limit: number;
  readonly from?: string;
  readonly to?: string;
  readonly after?: string;
}

function bounds(q: TimeRange): { lower: number; upper: number } {
  const lower = q.from === undefined ? 0 : Date.parse(q.from);
  let upper = q.to === undefined ? Number.MAX_SAFE_INTEGER : Date.parse(q.to);
  if (q.after !== undefined) upper = Math.min(upper, Date.parse(q.after) - 1);
  return { lower, upper };
}

/** The greatest time an ISO-8601 sort key can hold: year 9999. */
const MAX_ISO = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Reads items of one kind newest first, between two sort keys, a page of
 * `pageItems` at a time, until `enough` says so or the range ends.
 */
async function readItems(
  client: DynamoDBClient,
  tableName: string,
  sensorId: string,
  lowKey: string,
  highKey: string,
  pageItems: number,
  visit: (item: AttributeMap) => boolean,
): Promise<boolean> {
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: '#id = :id AND #ts BETWEEN :lo AND :hi',
      ExpressionAttributeNames: { '#id': 'SensorId', '#ts': 'Timestamp' },
      ExpressionAttributeValues: { ':id': { S: sensorId }, ':lo': { S: lowKey }, ':hi': { S: highKey } },
      ScanIndexForward: false,
      Limit: Math.min(Math.max(pageItems, 1), 1_000),
      ExclusiveStartKey: start,
    }));
    for (const item of out.Items ?? []) {
      if (visit(item as AttributeMap)) return true;
    }
    start = out.LastEvaluatedKey;
  } while (start);
  return false;
}

/**
 * A page of raw readings from packed items. A minute's readings are emitted
 * once every item of the minute has been read: its spilled seconds
 * (`P#<minute>#<SS>`) sort after its own item and so come first, newest first.
 */
export async function queryPacked(client: DynamoDBClient, tableName: string, q: TimeRange): Promise<{ items: Reading[]; nextToken?: string }> {
  const { lower, upper } = bounds(q);
  if (upper < lower) return { items: [] };
  const lowKey = `${PACKED_PREFIX}${isoTime(floorTo(lower, MINUTE_MS))}`;
  const highKey = `${PACKED_PREFIX}${isoTime(floorTo(Math.min(upper, MAX_ISO), MINUTE_MS))}#~`;
  const out: Reading[] = [];
  let more = false;
  let minute: number | undefined;
  let held = new Map<string, Reading>();
  // Emits the held minute; true once the page is full.
  const flush = (): boolean => {
    const readings = [...held.values()].filter((r) => {
      const t = Date.parse(r.timestamp);
      return t >= lower && t <= upper;
    }).sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1));
    held = new Map();
    for (const r of readings) {
      if (out.length === q.limit) {
        more = true;
        return true;
      }
      out.push(r);
    }
    return false;
  };
  const stopped = await readItems(client, tableName, q.sensorId, lowKey, highKey, q.limit + 2, (item) => {
    const key = keyTime(item.Timestamp?.S ?? '');
    if (!key || key.kind !== 'P') return false;
    if (minute !== undefined && key.ms !== minute && flush()) return true;
    minute = key.ms;
    // A reading held twice for a moment (spilled while an older value of it
    // was leaving the minute's item) is answered once, with the spilled value.
    for (const r of readingsOfPackedItem(item)) if (key.second !== undefined || !held.has(r.timestamp)) held.set(r.timestamp, r);
    // The minute's own item sorts below its spilled seconds: nothing of this minute is left to read.
    if (key.second === undefined && flush()) return true;
    return false;
  });
  if (!stopped) flush();
  if (stopped && out.length < q.limit) more = true;
  const last = out[out.length - 1];
  return { items: out, nextToken: (more || stopped) && last ? encodeToken(q.sensorId, last.timestamp) : undefined };
}

/** One bucket of a rollup answer. */
export interface Bucket {
  /** The bucket's start, ISO-8601 UTC. */
  readonly timestamp: string;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** The time of the bucket's first and last reading. */
  readonly first: string;
  readonly last: string;
}

const bucketOf = (start: number, a: Aggregate): Bucket => ({
  timestamp: isoTime(start),
  count: a.count,
  sum: a.sum,
  min: a.min,
  max: a.max,
  first: isoTime(a.first),
  last: isoTime(a.last),
});

/**
 * A page of buckets at a resolution, newest first: those whose start lies
 * from the bucket holding `from` up to `to`. Minutes are read from hour
 * items, hours and days from day items: a year of days is 366 items of about
 * 1.2 KB, one Query page.
 */
export async function queryRollups(
  client: DynamoDBClient,
  tableName: string,
  q: TimeRange,
  resolution: Resolution,
): Promise<{ items: Bucket[]; nextToken?: string }> {
  const width = RESOLUTIONS[resolution];
  const { lower: rawLower, upper } = bounds(q);
  const lower = floorTo(rawLower, width);
  if (upper < lower) return { items: [] };
  const itemWidth = resolution === '1m' ? HOUR_MS : DAY_MS;
  const prefix = resolution === '1m' ? HOUR_PREFIX : DAY_PREFIX;
  const lowKey = `${prefix}${isoTime(floorTo(lower, itemWidth))}`;
  const highKey = `${prefix}${isoTime(floorTo(Math.min(upper, MAX_ISO), itemWidth))}`;
  const perItem = resolution === '1m' ? 60 : resolution === '1h' ? 24 : 1;
  const out: Bucket[] = [];
  let more = false;
  const stopped = await readItems(client, tableName, q.sensorId, lowKey, highKey, Math.ceil(q.limit / perItem) + 1, (item) => {
    let buckets: Array<{ start: number; aggregate: Aggregate }>;
    if (resolution === '1m') {
      buckets = minutesOfHourItem(item);
    } else if (resolution === '1h') {
      buckets = hoursOfDayItem(item);
    } else {
      const key = keyTime(item.Timestamp?.S ?? '');
      const aggregate = itemAggregate(item);
      buckets = key && aggregate ? [{ start: key.ms, aggregate }] : [];
    }
    for (const b of buckets.reverse()) {
      if (b.start < lower || b.start > upper) continue;
      if (out.length === q.limit) {
        more = true;
        return true;
      }
      out.push(bucketOf(b.start, b.aggregate));
    }
    return false;
  });
  const last = out[out.length - 1];
  return { items: out, nextToken: (more || stopped) && last ? encodeToken(q.sensorId, last.timestamp) : undefined };
}
