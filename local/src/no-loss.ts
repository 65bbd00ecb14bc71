/**
 * The no-loss check of a local run: crafted records (./crafted-records) put
 * on the stream, then every place a record can end up read back and held to
 * what each record was made to be. Exact counts: every valid reading stored
 * once with its value, every crafted record dead-lettered once with its
 * reason and its bytes, every record archived, nothing in a failed-batches
 * queue, nothing discarded. Shared by the end-to-end test and the bench.
 */
import { gunzipSync } from 'zlib';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { CraftedRecord, OVERSIZED_RECORD } from './crafted-records';
import type { LocalRun } from './runner/local-run';
import { CREDENTIALS } from './servers';
import { readingsOfItem } from './stored-readings';

/** PutRecords takes 500 records and 5 MiB per call. */
const PUT_RECORDS_MAX = 500;
const PUT_RECORDS_MAX_BYTES = 5 * 1_048_576;

export interface PutResult {
  readonly sequenceNumbers: string[];
  /** Whether Kinesis refused a record one byte over its limit, as it must. */
  readonly oversizedRefused: boolean;
}

/** Puts the records on the run's first stream, in order, and one record too large for Kinesis, which it must refuse. */
export async function putCrafted(run: LocalRun, records: readonly CraftedRecord[]): Promise<PutResult> {
  const kinesis = new KinesisClient({
    region: run.region, credentials: CREDENTIALS, endpoint: run.endpoints.kinesis, requestHandler: new NodeHttpHandler(),
  });
  const streamName = run.plan.streams[0].name;
  const sequenceNumbers: string[] = [];
  try {
    let start = 0;
    while (start < records.length) {
      let end = start;
      let bytes = 0;
      const fits = (next: number) => next === start || bytes + records[next].data.length <= PUT_RECORDS_MAX_BYTES - 65_536;
      while (end < records.length && end - start < PUT_RECORDS_MAX && fits(end)) {
        bytes += records[end].data.length;
        end++;
      }
      const out = await kinesis.send(new PutRecordsCommand({
        StreamName: streamName,
        Records: records.slice(start, end).map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
      }));
      if (out.FailedRecordCount) throw new Error(`PutRecords refused ${out.FailedRecordCount} records: ${out.Records?.find((r) => r.ErrorCode)?.ErrorMessage}`);
      sequenceNumbers.push(...out.Records!.map((r) => r.SequenceNumber!));
      start = end;
    }
    const oversizedRefused = await kinesis.send(new PutRecordCommand({ StreamName: streamName, Data: OVERSIZED_RECORD, PartitionKey: records[0]?.partitionKey ?? 'k' }))
      .then(() => false, () => true);
    return { sequenceNumbers, oversizedRefused };
  } finally {
    kinesis.destroy();
  }
}

export interface NoLossReport {
  readonly records: number;
  /** Valid readings: of records of one reading, and of records of many. */
  readonly valid: number;
  /** Records that must be dead-lettered: refused whole, or holding refused readings. */
  readonly crafted: number;
  /** Readings refused inside records of many, each listed in its record's dead letter. */
  readonly invalidReadings: number;
  readonly byKind: Readonly<Record<string, number>>;
  readonly stored: number;
  readonly deadLetters: number;
  readonly archived: number;
  readonly failedBatches: number;
  readonly discarded: number;
  /** Everything that is not as it must be, one line each; empty when nothing was lost. */
  readonly problems: string[];
}

interface DeadLetterBody {
  readonly reason: string;
  readonly sequenceNumber: string;
  readonly invalidReadings?: ReadonlyArray<{ index?: number; subSequenceNumber?: number; reason: string }>;
  readonly part?: number;
  readonly parts?: number;
  readonly payload?: string;
  readonly payloadBase64?: string;
  readonly truncated?: boolean;
}

/** Whether a record must be dead-lettered: refused whole, or holding a refused reading. */
const mustLetter = (r: CraftedRecord) => r.reason !== undefined || (r.readings ?? []).some((x) => x.reason);
/** The rows a record must put in the table. */
const rowsOf = (r: CraftedRecord) => (r.expected ? [r.expected] : (r.readings ?? []).flatMap((x) => (x.expected ? [x.expected] : [])));
const placeText = (p: { index?: number; subSequenceNumber?: number }) => JSON.stringify({ subSequenceNumber: p.subSequenceNumber, index: p.index });

const bytesOf = (line: { payload?: string; payloadBase64?: string }) =>
  line.payload !== undefined ? Buffer.from(line.payload, 'utf8') : Buffer.from(line.payloadBase64 ?? '', 'base64');

/** Reads back the table, the dead-letter queue, the archive and the mappings of a run the records went through. */
export interface NoLossOptions {
  /**
   * Accept a dead letter sent more than once, each copy the same: after a
   * processor was killed once it had sent its batch's letters, as after any
   * crash in Lambda, the batch comes again and so do they. Default false.
   */
  readonly repeatedLetters?: boolean;
}

export async function checkNoLoss(
  run: LocalRun, records: readonly CraftedRecord[], sequenceNumbers: readonly string[], options: NoLossOptions = {},
): Promise<NoLossReport> {
  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < 50) problems.push(text);
  };
  const show = (i: number) => `record ${i} (${records[i].kind}, ${JSON.stringify(records[i].data.subarray(0, 80).toString('utf8'))})`;
  const bySequence = new Map(sequenceNumbers.map((s, i) => [s, i]));

  // The table: every valid reading once, with its value, and nothing else.
  const dynamo = new DynamoDBClient({ region: run.region, credentials: CREDENTIALS, endpoint: run.endpoints.dynamodb });
  const table = run.plan.tables.find((t) => t.path.includes('PipelineTable')) ?? run.plan.tables[0];
  const stored = new Map<string, number>();
  try {
    let start: Record<string, never> | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: table.name, ExclusiveStartKey: start }));
      // Either layout: an item per reading, or a sensor's minute in one item (rollup items hold no reading).
      for (const reading of (page.Items ?? []).flatMap((item) => readingsOfItem(item))) {
        const key = `${reading.sensorId}\u0000${reading.timestamp}`;
        if (stored.has(key)) problem(`the table holds ${JSON.stringify(key)} twice`);
        stored.set(key, reading.value);
      }
      start = page.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
  } finally {
    dynamo.destroy();
  }
  const expectedKeys = new Set<string>();
  records.forEach((r, i) => {
    for (const row of rowsOf(r)) {
      const key = `${row.sensorId}\u0000${row.timestamp}`;
      if (expectedKeys.has(key)) problem(`${show(i)}: two readings were made with the key ${JSON.stringify(key)}`);
      expectedKeys.add(key);
      if (!stored.has(key)) problem(`${show(i)}: ${JSON.stringify(key)} is not in the table`);
      else if (stored.get(key) !== row.value) problem(`${show(i)}: ${JSON.stringify(key)} is stored as ${stored.get(key)}, not ${row.value}`);
    }
  });
  for (const key of stored.keys()) if (!expectedKeys.has(key)) problem(`the table holds ${JSON.stringify(key)}, which no valid record put there`);

  // The dead-letter queue: every crafted record once, with its reason and its bytes; each refused
  // reading of a record of many listed once, at its place, with its reason. A letter listing more
  // than one message holds is sent in parts: a record is dead-lettered once when each part is there once.
  const queue = run.plan.queues.find((q) => /DeadLetter/i.test(q.path) && !/FailedBatches/i.test(q.path));
  const letters = queue ? run.sqs.peekAll(queue.name).map((b) => JSON.parse(b) as DeadLetterBody) : [];
  const lettered = new Map<number, DeadLetterBody[]>();
  for (const letter of letters) {
    const i = bySequence.get(letter.sequenceNumber);
    if (i === undefined) {
      problem(`a dead letter names sequence number ${letter.sequenceNumber}, not one that was put`);
      continue;
    }
    lettered.set(i, [...(lettered.get(i) ?? []), letter]);
  }
  let invalidReadings = 0;
  records.forEach((r, i) => {
    const got = lettered.get(i) ?? [];
    if (!mustLetter(r)) {
      if (got.length > 0) problem(`${show(i)} holds no invalid reading but was dead-lettered: ${got[0].reason}`);
      return;
    }
    const parts = got[0]?.parts ?? 1;
    const byPart = new Map(got.map((l) => [l.part ?? 1, l]));
    const copiesAlike = got.every((l) => JSON.stringify(l) === JSON.stringify(byPart.get(l.part ?? 1)));
    const once = got.length === parts && byPart.size === parts;
    if (!(once || (options.repeatedLetters && byPart.size === parts && copiesAlike))) {
      problem(`${show(i)} was dead-lettered ${got.length} times (in ${parts} parts), not once`);
      return;
    }
    const first = byPart.get(1)!;
    const bytes = bytesOf(first);
    if (first.truncated ? !r.data.subarray(0, bytes.length).equals(bytes) : !bytes.equals(r.data)) problem(`${show(i)}: its dead letter does not hold its bytes`);
    if (r.reason) {
      if (!r.reason.test(first.reason)) problem(`${show(i)} was dead-lettered with "${first.reason}", not ${r.reason}`);
      if (first.invalidReadings) problem(`${show(i)} was refused whole, but its letter lists readings`);
      return;
    }
    const listed = [...byPart.entries()].sort(([a], [b]) => a - b).flatMap(([, l]) => l.invalidReadings ?? []);
    const refused = (r.readings ?? []).filter((x) => x.reason);
    invalidReadings += refused.length;
    if (listed.map(placeText).join() !== refused.map((x) => placeText(x.place)).join()) {
      problem(`${show(i)}: its letter lists ${listed.map(placeText).join(' ')}, not ${refused.map((x) => placeText(x.place)).join(' ')}`);
      return;
    }
    refused.forEach((x, k) => {
      if (!x.reason!.test(listed[k].reason)) problem(`${show(i)}: the reading at ${placeText(x.place)} was refused with "${listed[k].reason}", not ${x.reason}`);
    });
  });

  // The archive: every record, with its bytes.
  const archived = new Map<number, Buffer>();
  const s3 = new S3Client({
    region: run.region,
    credentials: CREDENTIALS,
    endpoint: run.endpoints.s3,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const archiveBucket = run.plan.buckets.find((b) => /ArchiverBucket/i.test(b.path)) ?? run.plan.buckets[0];
    const keys = (await run.listBucketObjects())[archiveBucket.name] ?? [];
    for (const key of keys) {
      const out = await s3.send(new GetObjectCommand({ Bucket: archiveBucket.name, Key: key }));
      const text = gunzipSync(Buffer.from(await out.Body!.transformToByteArray())).toString('utf8');
      for (const line of text.split('\n')) {
        if (!line) continue;
        const parsed = JSON.parse(line) as { sequenceNumber: string; payload?: string; payloadBase64?: string };
        const i = bySequence.get(parsed.sequenceNumber);
        if (i !== undefined) archived.set(i, bytesOf(parsed));
      }
    }
  } finally {
    s3.destroy();
  }
  records.forEach((r, i) => {
    const got = archived.get(i);
    if (!got) problem(`${show(i)} is not in the archive`);
    else if (!got.equals(r.data)) problem(`${show(i)}: the archive does not hold its bytes`);
  });

  // Nothing given up on.
  const failedBatches = run.plan.queues.filter((q) => /FailedBatches/i.test(q.path)).reduce((n, q) => n + run.sqs.stats(q.name).sent, 0);
  if (failedBatches > 0) problem(`${failedBatches} batches went to a failed-batches queue`);
  const discarded = run.pollers.reduce((n, p) => n + p.stats.recordsDiscarded, 0);
  if (discarded > 0) problem(`${discarded} records were discarded by an event source mapping`);

  const byKind: Record<string, number> = {};
  for (const r of records) byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
  return {
    records: records.length,
    valid: records.reduce((n, r) => n + rowsOf(r).length, 0),
    crafted: records.filter(mustLetter).length,
    invalidReadings,
    byKind,
    stored: stored.size,
    deadLetters: lettered.size,
    archived: archived.size,
    failedBatches,
    discarded,
    problems,
  };
}
