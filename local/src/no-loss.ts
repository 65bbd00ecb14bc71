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
  readonly valid: number;
  readonly crafted: number;
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
  readonly payload?: string;
  readonly payloadBase64?: string;
  readonly truncated?: boolean;
}

const bytesOf = (line: { payload?: string; payloadBase64?: string }) =>
  line.payload !== undefined ? Buffer.from(line.payload, 'utf8') : Buffer.from(line.payloadBase64 ?? '', 'base64');

/** Reads back the table, the dead-letter queue, the archive and the mappings of a run the records went through. */
export async function checkNoLoss(run: LocalRun, records: readonly CraftedRecord[], sequenceNumbers: readonly string[]): Promise<NoLossReport> {
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
      for (const item of page.Items ?? []) {
        const key = `${item.SensorId.S}\u0000${item.Timestamp.S}`;
        if (stored.has(key)) problem(`the table holds ${JSON.stringify(key)} twice`);
        stored.set(key, Number(item.Value.N));
      }
      start = page.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
  } finally {
    dynamo.destroy();
  }
  const expectedKeys = new Set<string>();
  records.forEach((r, i) => {
    if (!r.expected) return;
    const key = `${r.expected.sensorId}\u0000${r.expected.timestamp}`;
    expectedKeys.add(key);
    if (!stored.has(key)) problem(`${show(i)} is not in the table`);
    else if (stored.get(key) !== r.expected.value) problem(`${show(i)} is stored as ${stored.get(key)}, not ${r.expected.value}`);
  });
  for (const key of stored.keys()) if (!expectedKeys.has(key)) problem(`the table holds ${JSON.stringify(key)}, which no valid record put there`);

  // The dead-letter queue: every crafted record once, with its reason and its bytes.
  const queue = run.plan.queues.find((q) => /DeadLetter/i.test(q.path) && !/FailedBatches/i.test(q.path));
  const letters = queue ? run.sqs.peekAll(queue.name).map((b) => JSON.parse(b) as DeadLetterBody) : [];
  const lettered = new Map<number, number>();
  for (const letter of letters) {
    const i = bySequence.get(letter.sequenceNumber);
    if (i === undefined) {
      problem(`a dead letter names sequence number ${letter.sequenceNumber}, not one that was put`);
      continue;
    }
    lettered.set(i, (lettered.get(i) ?? 0) + 1);
    const r = records[i];
    if (!r.reason) problem(`${show(i)} is valid but was dead-lettered: ${letter.reason}`);
    else if (!r.reason.test(letter.reason)) problem(`${show(i)} was dead-lettered with "${letter.reason}", not ${r.reason}`);
    const got = bytesOf(letter);
    if (letter.truncated ? !r.data.subarray(0, got.length).equals(got) : !got.equals(r.data)) problem(`${show(i)}: its dead letter does not hold its bytes`);
  }
  records.forEach((r, i) => {
    const n = lettered.get(i) ?? 0;
    if (r.reason && n !== 1) problem(`${show(i)} was dead-lettered ${n} times, not once`);
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
    valid: records.filter((r) => r.expected).length,
    crafted: records.filter((r) => r.reason).length,
    byKind,
    stored: stored.size,
    deadLetters: letters.length,
    archived: archived.size,
    failedBatches,
    discarded,
    problems,
  };
}
