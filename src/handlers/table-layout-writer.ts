/**
 * The processor's write step for each table layout, and the rollups. The
 * per-reading layout without rollups is the writer of `table-writer.ts`
 * alone. Everything else is written with UpdateItem (it is not batchable),
 * made idempotent so that a redelivered or re-split batch changes nothing:
 *
 * - A reading of the packed layout is an attribute of its minute's item,
 *   named by its millisecond (`SET #slot = :value`): writing it again writes
 *   the same attribute. Every write raises the item's version (`ADD v 1`) and
 *   returns the item as it now is.
 * - A rollup entry is a function of stored data, never a counter that a
 *   redelivery would raise twice: the aggregate of the packed item as the
 *   write returned it (or, in the per-reading layout, of the minute's items
 *   read back with a strongly consistent Query), written with the version of
 *   that state and only over an older one (`attribute_not_exists(#e) OR
 *   #e.v <= :v`). A writer that lost a race to a newer state leaves that
 *   state in place; a writer that crashed before its rollup write has its
 *   record delivered again, which writes the rollup from a newer state.
 * - An hour's entry in its day item is the aggregate of the hour item as its
 *   write returned it, with the hour item's version; the same rule applies.
 *
 * A reading is written only when its item, its hour entry and its day entry
 * all are: whatever part fails is reported as failed for the reading's
 * records, which the event source mapping delivers again.
 */
import { AttributeValue, DynamoDBClient, QueryCommand, QueryCommandOutput, UpdateItemCommand, UpdateItemCommandOutput } from '@aws-sdk/client-dynamodb';
import {
  AttributeMap,
  aggregateAttribute,
  aggregateOf,
  counterKey,
  DAY_MS,
  dayKey,
  expiresAt,
  floorTo,
  HOUR_MS,
  hourEntryName,
  hourKey,
  isoTime,
  itemAggregate,
  LayoutSettings,
  minuteEntryName,
  MINUTE_MS,
  packedItemAggregate,
  packedKey,
  packedPlace,
  TTL_ATTRIBUTE,
  VERSION_ATTRIBUTE,
  Aggregate,
} from './table-layout';
import {
  backoffDelay,
  DEFAULT_RETRY,
  DEFAULT_WRITE_CONCURRENCY,
  isRetryable,
  PendingItem,
  validateConcurrency,
  WriteOptions,
  WriteResult,
  writeItems,
} from './table-writer';
import { WRITER_RESERVE_MS } from '../private/handler-contract';

/**
 * Readings of one item set by one UpdateItem. The expression names two
 * placeholders per reading (`#s12 = :s12, `, 13 characters at most): 150 of
 * them stay well inside DynamoDB's 4 KB limit on an expression's length.
 */
export const MAX_SLOTS_PER_UPDATE = 150;
/** A group of readings too large for their item is tried reading by reading below this size, rather than in halves. */
const SINGLES_BELOW = 16;
/** Rollup entries set by one UpdateItem: each takes about 60 characters of expression and condition. */
export const MAX_ENTRIES_PER_UPDATE = 20;

/** What the layout writer did, beside the readings left unwritten. */
export interface LayoutWriteResult extends WriteResult {
  /** UpdateItem and Query calls made for packed items and rollups (BatchWriteItem calls are in `calls`). */
  readonly updateCalls: number;
}

/**
 * Writes the readings in the table's layout, with their rollups when the
 * layout keeps them. The same contract as `writeItems`: what could not be
 * written within the retries and the invocation's time comes back in `failed`.
 */
export async function writeReadings(
  client: DynamoDBClient,
  tableName: string,
  layout: LayoutSettings,
  items: readonly PendingItem[],
  options: WriteOptions = {},
): Promise<LayoutWriteResult> {
  if (layout.kind === 'PER_READING') {
    const put = await writeItems(client, tableName, items, { ...options, retentionSeconds: layout.retentionSeconds });
    if (!layout.rollups || items.length === put.failed.length) return { ...put, updateCalls: 0 };
    const failed = new Set(put.failed);
    const minutes = await perReadingMinutes(client, tableName, layout, items.filter((i) => !failed.has(i)), options);
    return merge(put, await writeRollups(client, tableName, layout, minutes.states, options, minutes.stage));
  }
  const packed = await writePacked(client, tableName, layout, items, options);
  if (!layout.rollups) return packed;
  return merge(packed, await writeRollups(client, tableName, layout, packed.states, options));
}

function merge(a: WriteResult & { updateCalls?: number }, b: StageResult): LayoutWriteResult {
  const failed = new Set([...a.failed, ...b.failed]);
  return {
    failed: [...failed],
    calls: a.calls,
    updateCalls: (a.updateCalls ?? 0) + b.calls,
    retries: a.retries + b.retries,
    lastError: b.lastError ?? a.lastError,
  };
}

/** A minute's (or spilled second's) stored state: what its hour entry is computed from. */
interface MinuteState {
  readonly sensorId: string;
  readonly minute: number;
  readonly second?: number;
  /** Undefined when the part holds no reading any more. */
  readonly aggregate?: Aggregate;
  readonly version: number;
  /** The readings this state carries to the rollups: they fail when a rollup write does. */
  readonly items: Set<PendingItem>;
}

interface StageResult {
  readonly failed: PendingItem[];
  readonly calls: number;
  readonly retries: number;
  readonly lastError?: string;
}

/** Sends one command, retrying throttling, 5xx and network errors with backoff while the invocation has time. */
type Call = <O>(command: { readonly input: unknown }) => Promise<O>;

/** One unit of work of a stage: one or more calls, each retried, and the whole retried in the next round when a call still fails. */
interface Task {
  readonly items: Set<PendingItem>;
  attempts: number;
  state: 'pending' | 'done' | 'failed';
  run(call: Call): Promise<void>;
}

/**
 * Runs tasks the way `writeItems` runs requests: all at first, up to
 * `concurrency` at a time, then rounds of what failed with throttling, a 5xx
 * or a network error, after one backoff wait per round; a client error fails
 * its task at once; no call or wait starts inside the reserve at the end of
 * the invocation. Every task is idempotent, so that a retry after a call
 * that did get through changes nothing.
 */
async function runTasks(client: DynamoDBClient, tasks: readonly Task[], options: WriteOptions): Promise<StageResult & { lastError?: string }> {
  const policy = options.retry ?? DEFAULT_RETRY;
  const concurrency = validateConcurrency(options.concurrency ?? DEFAULT_WRITE_CONCURRENCY);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const remaining = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const margin = options.safetyMarginMs ?? WRITER_RESERVE_MS;
  let calls = 0;
  let retries = 0;
  let lastError: string | undefined;
  let pending = [...tasks];
  let level = 0;
  // A task of many calls (a minute's item at its size limit) would seldom
  // get through whole if one failed call sent it all back to the next round.
  const call: Call = async <O>(command: { readonly input: unknown }): Promise<O> => {
    for (let attempt = 1; ; attempt++) {
      if (remaining() < margin) throw Object.assign(new Error('no time left for another call'), { name: 'TimeoutError' });
      calls++;
      try {
        return await client.send(command as never) as O;
      } catch (err) {
        if (!isRetryable(err) || attempt >= policy.maxAttempts) throw err;
        const delay = backoffDelay(attempt, policy, options.random);
        if (remaining() - delay < margin) throw err;
        retries++;
        await sleep(delay);
      }
    }
  };
  for (let round = 0; pending.length > 0; round++) {
    if (round > 0) {
      const delay = backoffDelay(level, policy, options.random);
      if (remaining() - delay < margin) break;
      retries++;
      await sleep(delay);
    }
    let next = 0;
    let done = 0;
    let outOfTime = false;
    const worker = async () => {
      while (next < pending.length && !outOfTime) {
        if (remaining() < margin) {
          outOfTime = true;
          break;
        }
        const task = pending[next++];
        task.attempts++;
        try {
          await task.run(call);
          task.state = 'done';
          done++;
        } catch (err) {
          lastError = `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`;
          if (!isRetryable(err)) task.state = 'failed';
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, pending.length) }, worker));
    for (const t of pending) if (t.state === 'pending' && t.attempts >= policy.maxAttempts) t.state = 'failed';
    pending = pending.filter((t) => t.state === 'pending');
    if (outOfTime) break;
    level = done > 0 ? 1 : level + 1;
  }
  const failed = new Set<PendingItem>();
  for (const t of tasks) if (t.state !== 'done') for (const i of t.items) failed.add(i);
  return { failed: [...failed], calls, retries, lastError };
}

const isConditionFailure = (err: unknown) => (err as { name?: string })?.name === 'ConditionalCheckFailedException';
/** DynamoDB's answer to an update that would take an item past 400 KB. */
const isItemTooLarge = (err: unknown) => (err as { name?: string })?.name === 'ValidationException'
  && /item size/i.test((err as Error)?.message ?? '') && /exceed/i.test((err as Error)?.message ?? '');

const versionOf = (item: AttributeMap | undefined) => Number(item?.[VERSION_ATTRIBUTE]?.N ?? 0);

interface Slot {
  readonly item: PendingItem;
  readonly slot: string;
}

/** Writes readings into their packed items; the state of each item written comes back for the rollups. */
async function writePacked(
  client: DynamoDBClient,
  tableName: string,
  layout: LayoutSettings,
  items: readonly PendingItem[],
  options: WriteOptions,
): Promise<LayoutWriteResult & { states: MinuteState[] }> {
  const groups = new Map<string, { sensorId: string; minute: number; slots: Slot[] }>();
  for (const item of items) {
    const place = packedPlace(item.reading);
    const key = `${item.reading.sensorId}\u0000${place.minute}`;
    let g = groups.get(key);
    if (!g) groups.set(key, g = { sensorId: item.reading.sensorId, minute: place.minute, slots: [] });
    g.slots.push({ item, slot: place.slot });
  }
  // The newest state of each part written, by part: the one of highest version holds every write before it.
  const states = new Map<string, MinuteState>();
  const keep = (sensorId: string, minute: number, second: number | undefined, item: AttributeMap | undefined, written: Slot[]) => {
    const key = `${sensorId}\u0000${minute}\u0000${second ?? ''}`;
    const seen = states.get(key);
    const version = versionOf(item);
    const carried = new Set([...(seen?.items ?? []), ...written.map((s) => s.item)]);
    if (!seen || version > seen.version) {
      states.set(key, { sensorId, minute, second, version, aggregate: item ? packedItemAggregate(item) : undefined, items: carried });
    } else {
      states.set(key, { ...seen, items: carried });
    }
  };

  const update = async (call: Call, sensorId: string, minute: number, second: number | undefined, set: Slot[], remove: string[]) => {
    const names: Record<string, string> = { '#v': VERSION_ATTRIBUTE };
    const values: Record<string, AttributeValue> = { ':one': { N: '1' } };
    const assignments: string[] = [];
    set.forEach((s, i) => {
      names[`#s${i}`] = s.slot;
      values[`:s${i}`] = { N: String(s.item.reading.value) };
      assignments.push(`#s${i} = :s${i}`);
    });
    const ttl = expiresAt(minute + MINUTE_MS, layout);
    if (ttl !== undefined) {
      names['#ttl'] = TTL_ATTRIBUTE;
      values[':ttl'] = { N: String(ttl) };
      assignments.push('#ttl = :ttl');
    }
    remove.forEach((slot, i) => {
      names[`#r${i}`] = slot;
    });
    const out = await call<UpdateItemCommandOutput>(new UpdateItemCommand({
      TableName: tableName,
      Key: { SensorId: { S: sensorId }, Timestamp: { S: packedKey(minute, second) } },
      // Removing an attribute the item does not hold is no error: nothing to check first.
      UpdateExpression: `${assignments.length > 0 ? `SET ${assignments.join(', ')} ` : ''}${remove.length > 0 ? `REMOVE ${remove.map((_, i) => `#r${i}`).join(', ')} ` : ''}ADD #v :one`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    }));
    return out.Attributes as AttributeMap | undefined;
  };

  /**
   * Sets the slots in the minute's item. An item that would pass 400 KB is
   * written in halves, then reading by reading; the readings that do not fit
   * go to their second's item instead, and leave the minute's item in case
   * an earlier value of theirs was there. Items only grow but for that
   * removal, so a reading that does not fit now does not fit when delivered
   * again: it goes to the same place.
   */
  const writeSlots = async (call: Call, sensorId: string, minute: number, slots: Slot[], spilled: Slot[]): Promise<void> => {
    try {
      keep(sensorId, minute, undefined, await update(call, sensorId, minute, undefined, slots, []), slots);
    } catch (err) {
      if (!isItemTooLarge(err)) throw err;
      if (slots.length === 1) {
        spilled.push(slots[0]);
      } else if (slots.length <= SINGLES_BELOW) {
        for (const s of slots) await writeSlots(call, sensorId, minute, [s], spilled);
      } else {
        const half = Math.ceil(slots.length / 2);
        await writeSlots(call, sensorId, minute, slots.slice(0, half), spilled);
        await writeSlots(call, sensorId, minute, slots.slice(half), spilled);
      }
    }
  };

  const writeTask = async (call: Call, sensorId: string, minute: number, slots: Slot[]): Promise<void> => {
    const spilled: Slot[] = [];
    await writeSlots(call, sensorId, minute, slots, spilled);
    if (spilled.length === 0) return;
    const bySecond = new Map<number, Slot[]>();
    for (const s of spilled) {
      const second = Math.floor(Number(s.slot.slice(1)) / 1000);
      bySecond.set(second, [...(bySecond.get(second) ?? []), s]);
    }
    // A second's item holds at most 1,000 readings of up to 27 bytes: it never reaches the limit.
    for (const [second, list] of bySecond) keep(sensorId, minute, second, await update(call, sensorId, minute, second, list, []), list);
    keep(sensorId, minute, undefined, await update(call, sensorId, minute, undefined, [], spilled.map((s) => s.slot)), []);
  };

  const tasks: Task[] = [];
  for (const g of groups.values()) {
    for (let i = 0; i < g.slots.length; i += MAX_SLOTS_PER_UPDATE) {
      const slots = g.slots.slice(i, i + MAX_SLOTS_PER_UPDATE);
      tasks.push({ items: new Set(slots.map((s) => s.item)), attempts: 0, state: 'pending', run: (call) => writeTask(call, g.sensorId, g.minute, slots) });
    }
  }
  const result = await runTasks(client, tasks, options);
  const failed = new Set(result.failed);
  // A part's state carries only readings whose every write got through.
  const written = [...states.values()]
    .map((s) => ({ ...s, items: new Set([...s.items].filter((i) => !failed.has(i))) }))
    .filter((s) => s.items.size > 0);
  return { failed: result.failed, calls: 0, updateCalls: result.calls, retries: result.retries, lastError: result.lastError, states: written };
}

/**
 * The per-reading layout's minute states: for each minute written, the
 * minute's counter is raised, then its items are read back with a strongly
 * consistent Query. A state read after a counter value holds every reading
 * written before that value was reached, so a higher counter means a
 * complete-or-newer state, as a packed item's version does.
 */
async function perReadingMinutes(
  client: DynamoDBClient,
  tableName: string,
  layout: LayoutSettings,
  items: readonly PendingItem[],
  options: WriteOptions,
): Promise<{ states: MinuteState[]; stage: StageResult }> {
  const groups = new Map<string, { sensorId: string; minute: number; items: Set<PendingItem> }>();
  for (const item of items) {
    const minute = floorTo(Date.parse(item.reading.timestamp), MINUTE_MS);
    const key = `${item.reading.sensorId}\u0000${minute}`;
    let g = groups.get(key);
    if (!g) groups.set(key, g = { sensorId: item.reading.sensorId, minute, items: new Set() });
    g.items.add(item);
  }
  const states: MinuteState[] = [];
  const tasks: Task[] = [...groups.values()].map((g) => ({
    items: g.items,
    attempts: 0,
    state: 'pending',
    run: async (call) => {
      const hour = floorTo(g.minute, HOUR_MS);
      const counter = minuteEntryName(g.minute).replace(/^m/, 'c');
      const ttl = expiresAt(hour + HOUR_MS, layout);
      const bumped = await call<UpdateItemCommandOutput>(new UpdateItemCommand({
        TableName: tableName,
        Key: { SensorId: { S: g.sensorId }, Timestamp: { S: counterKey(hour) } },
        UpdateExpression: `ADD #c :one${ttl !== undefined ? ' SET #ttl = :ttl' : ''}`,
        ExpressionAttributeNames: { '#c': counter, ...(ttl !== undefined ? { '#ttl': TTL_ATTRIBUTE } : {}) },
        ExpressionAttributeValues: { ':one': { N: '1' }, ...(ttl !== undefined ? { ':ttl': { N: String(ttl) } } : {}) },
        ReturnValues: 'UPDATED_NEW',
      }));
      const version = Number(bumped.Attributes?.[counter]?.N ?? 0);
      const readings: Array<{ time: number; value: number }> = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await call<QueryCommandOutput>(new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: '#id = :id AND #ts BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#id': 'SensorId', '#ts': 'Timestamp', '#val': 'Value' },
          ExpressionAttributeValues: { ':id': { S: g.sensorId }, ':from': { S: isoTime(g.minute) }, ':to': { S: isoTime(g.minute + MINUTE_MS - 1) } },
          ProjectionExpression: '#ts, #val',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }));
        for (const item of page.Items ?? []) readings.push({ time: Date.parse(item.Timestamp?.S ?? ''), value: Number(item.Value?.N) });
        start = page.LastEvaluatedKey;
      } while (start);
      const aggregate = readings.length > 0 ? aggregateOf(readings) : undefined;
      states.push({ sensorId: g.sensorId, minute: g.minute, version, aggregate, items: g.items });
    },
  }));
  return { states, stage: await runTasks(client, tasks, options) };
}

/** An entry to write into a rollup item, with the version of the state it comes from. */
interface Entry {
  readonly name: string;
  readonly aggregate?: Aggregate;
  readonly version: number;
  readonly items: Set<PendingItem>;
}

/**
 * Writes entries into one rollup item, all in one update when none is older
 * than what the item holds; when the condition fails, entry by entry, so that
 * an entry already replaced by a newer state is left as it is. Returns the
 * item as the last successful write left it.
 */
async function writeEntries(
  tableName: string,
  sensorId: string,
  sortKey: string,
  ttl: number | undefined,
  entries: readonly Entry[],
  call: Call,
): Promise<AttributeMap | undefined> {
  const attempt = async (batch: readonly Entry[]) => {
    const names: Record<string, string> = { '#v': VERSION_ATTRIBUTE, '#ver': 'v' };
    const values: Record<string, AttributeValue> = { ':one': { N: '1' } };
    const sets: string[] = [];
    const removes: string[] = [];
    const conditions: string[] = [];
    batch.forEach((e, i) => {
      names[`#e${i}`] = e.name;
      values[`:v${i}`] = { N: String(e.version) };
      if (e.aggregate) {
        values[`:e${i}`] = aggregateAttribute(e.aggregate, e.version);
        sets.push(`#e${i} = :e${i}`);
      } else {
        removes.push(`#e${i}`);
      }
      // Not older: the same version is the same state, written again by a retry whose first answer was lost.
      conditions.push(`(attribute_not_exists(#e${i}) OR #e${i}.#ver <= :v${i})`);
    });
    if (ttl !== undefined) {
      names['#ttl'] = TTL_ATTRIBUTE;
      values[':ttl'] = { N: String(ttl) };
      sets.push('#ttl = :ttl');
    }
    const out = await call<UpdateItemCommandOutput>(new UpdateItemCommand({
      TableName: tableName,
      Key: { SensorId: { S: sensorId }, Timestamp: { S: sortKey } },
      UpdateExpression: `${sets.length > 0 ? `SET ${sets.join(', ')} ` : ''}${removes.length > 0 ? `REMOVE ${removes.join(', ')} ` : ''}ADD #v :one`,
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    }));
    return out.Attributes as AttributeMap | undefined;
  };
  try {
    return await attempt(entries);
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
  }
  let newest: AttributeMap | undefined;
  for (const e of entries) {
    if (entries.length === 1) break;
    try {
      const item = await attempt([e]);
      if (versionOf(item) > versionOf(newest)) newest = item;
    } catch (err) {
      // A newer state of this part is there already: its writer writes the rollups above it.
      if (!isConditionFailure(err)) throw err;
    }
  }
  return newest;
}

/** Writes each minute state into its hour item, then each hour item's new state into its day item. */
async function writeRollups(
  client: DynamoDBClient,
  tableName: string,
  layout: LayoutSettings,
  minutes: readonly MinuteState[],
  options: WriteOptions,
  before?: StageResult,
): Promise<StageResult> {
  const hours = new Map<string, { sensorId: string; hour: number; entries: Entry[] }>();
  for (const m of minutes) {
    const hour = floorTo(m.minute, HOUR_MS);
    const key = `${m.sensorId}\u0000${hour}`;
    let h = hours.get(key);
    if (!h) hours.set(key, h = { sensorId: m.sensorId, hour, entries: [] });
    h.entries.push({ name: minuteEntryName(m.minute, m.second), aggregate: m.aggregate, version: m.version, items: m.items });
  }
  const hourStates: Array<{ sensorId: string; hour: number; item: AttributeMap; items: Set<PendingItem> }> = [];
  const hourTasks: Task[] = [];
  for (const h of hours.values()) {
    for (let i = 0; i < h.entries.length; i += MAX_ENTRIES_PER_UPDATE) {
      const entries = h.entries.slice(i, i + MAX_ENTRIES_PER_UPDATE);
      const items = new Set(entries.flatMap((e) => [...e.items]));
      hourTasks.push({
        items,
        attempts: 0,
        state: 'pending',
        run: async (call) => {
          const item = await writeEntries(tableName, h.sensorId, hourKey(h.hour), expiresAt(h.hour + HOUR_MS, layout), entries, call);
          if (item) hourStates.push({ sensorId: h.sensorId, hour: h.hour, item, items });
        },
      });
    }
  }
  const hourResult = await runTasks(client, hourTasks, options);
  const hourFailed = new Set(hourResult.failed);

  // The newest state of each hour item written; the readings of every write to it ride on it.
  const newestHour = new Map<string, { sensorId: string; hour: number; item: AttributeMap; items: Set<PendingItem> }>();
  for (const s of hourStates) {
    const key = `${s.sensorId}\u0000${s.hour}`;
    const seen = newestHour.get(key);
    const items = new Set([...(seen?.items ?? []), ...s.items]);
    newestHour.set(key, !seen || versionOf(s.item) > versionOf(seen.item) ? { ...s, items } : { ...seen, items });
  }
  const days = new Map<string, { sensorId: string; day: number; entries: Entry[] }>();
  for (const s of newestHour.values()) {
    const items = new Set([...s.items].filter((i) => !hourFailed.has(i)));
    if (items.size === 0) continue;
    const day = floorTo(s.hour, DAY_MS);
    const key = `${s.sensorId}\u0000${day}`;
    let d = days.get(key);
    if (!d) days.set(key, d = { sensorId: s.sensorId, day, entries: [] });
    d.entries.push({ name: hourEntryName(s.hour), aggregate: itemAggregate(s.item), version: versionOf(s.item), items });
  }
  const dayTasks: Task[] = [...days.values()].map((d) => ({
    items: new Set(d.entries.flatMap((e) => [...e.items])),
    attempts: 0,
    state: 'pending',
    run: async (call) => {
      await writeEntries(tableName, d.sensorId, dayKey(d.day), expiresAt(d.day + DAY_MS, layout), d.entries, call);
    },
  }));
  const dayResult = await runTasks(client, dayTasks, options);
  return {
    failed: [...new Set([...(before?.failed ?? []), ...hourResult.failed, ...dayResult.failed])],
    calls: (before?.calls ?? 0) + hourResult.calls + dayResult.calls,
    retries: (before?.retries ?? 0) + hourResult.retries + dayResult.retries,
    lastError: dayResult.lastError ?? hourResult.lastError ?? before?.lastError,
  };
}
