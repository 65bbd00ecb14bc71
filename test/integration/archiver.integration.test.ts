/**
 * The bundled archiver (assets/handlers/archiver.lambda/index.js) against
 * kinesalite and s3rver.
 */
import { gunzipSync } from 'zlib';
import type { KinesisStreamBatchResponse } from 'aws-lambda';
import { loadBundle, setEnv } from './bundles';
import { FailingS3Proxy } from './failing-s3-proxy';
import { LocalAws, runEventSourceMapping, SHARD_ID, StreamRecord, toKinesisEvent } from '../../local/src';
import type * as Archiver from '../../src/handlers/archiver.lambda';

jest.setTimeout(60_000);

const BUCKET = 'sensor-archive';
const PREFIX = 'raw/';
/** The archiver's default batch size, as the construct configures its event source mapping. */
const BATCH_SIZE = 100;
const KEY_PATTERN = /^raw\/year=(\d{4})\/month=(\d{2})\/day=(\d{2})\/hour=(\d{2})\/shardId-000000000000-(\d+)\.ndjson\.gz$/;

let aws: LocalAws;
let restoreEnv: () => void = () => undefined;

beforeAll(async () => {
  aws = await LocalAws.start();
  await aws.createBucket(BUCKET);
});

afterAll(async () => {
  restoreEnv();
  await aws?.stop();
});

afterEach(() => {
  restoreEnv();
  restoreEnv = () => undefined;
});

interface ArchiveLine {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  approximateArrivalTimestamp: string;
  payload?: string;
  payloadBase64?: string;
}

async function readArchive(prefix: string): Promise<Map<string, ArchiveLine[]>> {
  const objects = new Map<string, ArchiveLine[]>();
  for (const key of await aws.listKeys(BUCKET, prefix)) {
    const { body, contentEncoding } = await aws.getObject(BUCKET, key);
    expect(contentEncoding).toBe('gzip');
    const text = gunzipSync(body).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    objects.set(key, text.trimEnd().split('\n').map((l) => JSON.parse(l)));
  }
  return objects;
}

const HOUR = 3_600_000;
const BASE = Date.UTC(2024, 11, 31, 21, 0, 0);
const NON_ASCII = 'capteur-température-ß-北京-🌡️';

/** 240 payloads over 5 hours of event time, across a year boundary, some not JSON, one not UTF-8. */
function payloads(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 240; i++) {
    const time = BASE + Math.floor((i * 5 * HOUR) / 240);
    if (i === 17) out.push(Buffer.from('this is not json, à la française', 'utf8'));
    else if (i === 18) out.push(Buffer.from([0xff, 0xfe, 0x41, 0x00]));
    else if (i % 50 === 3) out.push(Buffer.from(JSON.stringify({ sensorid: NON_ASCII, timestamp: new Date(time).toISOString(), value: 21.5, note: 'Grüße 😀' }), 'utf8'));
    else out.push(Buffer.from(JSON.stringify({ sensorid: `sensor-${i % 7}`, timestamp: new Date(time).toISOString(), value: i }), 'utf8'));
  }
  return out;
}

function partitionOf(millis: number): string {
  const d = new Date(millis);
  const p = (n: number) => String(n).padStart(2, '0');
  return `year=${d.getUTCFullYear()}/month=${p(d.getUTCMonth() + 1)}/day=${p(d.getUTCDate())}/hour=${p(d.getUTCHours())}`;
}

describe('bundled archiver against s3rver', () => {
  let records: StreamRecord[];
  let archiver: typeof Archiver;
  const streamName = 'archive-stream';

  beforeAll(async () => {
    await aws.createStream(streamName);
    await aws.putRecords(streamName, payloads().map((data, i) => ({ data, partitionKey: `pk-${i % 7}` })));
    records = await aws.shardReader(streamName).readAll();
    expect(records).toHaveLength(240);
  });

  beforeEach(() => {
    restoreEnv = setEnv(aws.handlerEnv({ ARCHIVE_BUCKET: BUCKET, ARCHIVE_PREFIX: PREFIX }));
    archiver = loadBundle<typeof Archiver>('archiver');
  });

  test('every record lands once, as gzip NDJSON under the hour of its event time', async () => {
    const mapping = await runEventSourceMapping(aws.shardReader(streamName),
      (event) => archiver.handler(event) as Promise<KinesisStreamBatchResponse>, { batchSize: BATCH_SIZE });
    expect(mapping.invocations).toBe(3);
    expect(mapping.partialRedeliveries + mapping.wholeBatchRetries).toBe(0);

    const archive = await readArchive(PREFIX);
    const bySeq = new Map<string, { key: string; line: ArchiveLine }>();
    for (const [key, lines] of archive) {
      const m = KEY_PATTERN.exec(key);
      expect(m).not.toBeNull();
      // Named after its first record.
      expect(lines[0].sequenceNumber).toBe(m![5]);
      for (const line of lines) {
        expect(bySeq.has(line.sequenceNumber)).toBe(false);
        bySeq.set(line.sequenceNumber, { key, line });
        expect(line.shardId).toBe(SHARD_ID);
      }
    }
    expect(bySeq.size).toBe(records.length);

    const partitions = new Set<string>();
    for (const record of records) {
      const { key, line } = bySeq.get(record.sequenceNumber)!;
      expect(line.partitionKey).toBe(record.partitionKey);
      expect(line.approximateArrivalTimestamp).toBe(new Date(record.approximateArrivalTimestamp).toISOString());
      const raw = Buffer.from(record.data);
      let eventTime = record.approximateArrivalTimestamp;
      if (raw[0] === 0xff) {
        expect(line.payloadBase64).toBe(raw.toString('base64'));
      } else {
        // Kept as the device sent it, JSON or not.
        expect(line.payload).toBe(raw.toString('utf8'));
        if (raw[0] === 0x7b) eventTime = Date.parse(JSON.parse(raw.toString('utf8')).timestamp);
      }
      expect(key.startsWith(`${PREFIX}${partitionOf(eventTime)}/`)).toBe(true);
      partitions.add(partitionOf(eventTime));
    }
    // 5 hours of event time (over the new year), and the two records without one filed under their arrival hour.
    expect(partitions.size).toBe(6);
    expect([...partitions].some((p) => p.startsWith('year=2025/month=01/day=01/hour=01'))).toBe(true);

    // Non-ASCII payloads round-trip byte for byte.
    const parsed = [...bySeq.values()].flatMap(({ line }) => (line.payload?.startsWith('{') ? [JSON.parse(line.payload)] : []));
    const nonAscii = parsed.filter((p) => p.sensorid === NON_ASCII);
    expect(nonAscii.length).toBe(5);
    for (const p of nonAscii) expect(p.note).toBe('Grüße 😀');
    expect([...bySeq.values()].some(({ line }) => line.payload === 'this is not json, à la française')).toBe(true);
  });

  test('the same batch archived twice writes the same keys again: no new object, no duplicate', async () => {
    const event = toKinesisEvent(records.slice(0, BATCH_SIZE), { streamName });
    const prefix = 'twice/';
    restoreEnv();
    restoreEnv = setEnv(aws.handlerEnv({ ARCHIVE_BUCKET: BUCKET, ARCHIVE_PREFIX: prefix }));
    archiver = loadBundle<typeof Archiver>('archiver');

    expect((await archiver.handler(event) as KinesisStreamBatchResponse).batchItemFailures).toEqual([]);
    const first = await readArchive(prefix);
    expect(first.size).toBeGreaterThan(1);
    // A redelivery, in a new sandbox.
    const again = loadBundle<typeof Archiver>('archiver');
    expect((await again.handler(event) as KinesisStreamBatchResponse).batchItemFailures).toEqual([]);
    const second = await readArchive(prefix);
    expect([...second.keys()]).toEqual([...first.keys()]);
    expect(second).toEqual(first);
    const lines = [...second.values()].flat();
    expect(lines).toHaveLength(BATCH_SIZE);
    expect(new Set(lines.map((l) => l.sequenceNumber)).size).toBe(BATCH_SIZE);
  });

  test('a missing bucket: the batch is reported from its first record', async () => {
    restoreEnv();
    restoreEnv = setEnv(aws.handlerEnv({ ARCHIVE_BUCKET: 'no-such-bucket', ARCHIVE_PREFIX: 'missing/' }));
    const broken = loadBundle<typeof Archiver>('archiver');
    const event = toKinesisEvent(records.slice(100, 200), { streamName });
    const response = await broken.handler(event) as KinesisStreamBatchResponse;
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[100].sequenceNumber }]);
  });

  test('S3 answers 500 for one hour: the batch is retried whole and the retry overwrites, never duplicates', async () => {
    // Two devices, one of them uploading an hour late: the batch interleaves two hours of event time.
    const lateStream = 'archive-late-stream';
    await aws.createStream(lateStream);
    await aws.putRecords(lateStream, Array.from({ length: 60 }, (_, i) => ({
      partitionKey: `dev-${i % 2}`,
      data: JSON.stringify({ sensorid: `dev-${i % 2}`, timestamp: new Date(Date.UTC(2024, 5, 1, i % 2 === 0 ? 10 : 11, i, 0)).toISOString(), value: i }),
    })));
    const batch = await aws.shardReader(lateStream).read({ type: 'TRIM_HORIZON' }, BATCH_SIZE);
    expect(batch).toHaveLength(60);

    const failing = await FailingS3Proxy.start(aws.s3.endpoint, (req) => req.method === 'PUT' && decodeURIComponent(req.url ?? '').includes('hour=11'));
    try {
      const prefix = 'partial/';
      restoreEnv();
      restoreEnv = setEnv(aws.handlerEnv({ AWS_ENDPOINT_URL_S3: failing.endpoint, ARCHIVE_BUCKET: BUCKET, ARCHIVE_PREFIX: prefix }));
      const flaky = loadBundle<typeof Archiver>('archiver');
      const response = await flaky.handler(toKinesisEvent(batch, { streamName: lateStream })) as KinesisStreamBatchResponse;

      // The hour-11 object failed: the batch's first record is reported, so the whole batch comes again.
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: batch[0].sequenceNumber }]);
      expect(failing.failed).toBeGreaterThan(0);
      const written = await readArchive(prefix);
      expect([...written.keys()].map((k) => k.replace(/\/shardId.*$/, ''))).toEqual(['partial/year=2024/month=06/day=01/hour=10']);

      // S3 recovers; the mapping redelivers the batch from the reported record.
      failing.healthy = true;
      const retry = await flaky.handler(toKinesisEvent(batch, { streamName: lateStream })) as KinesisStreamBatchResponse;
      expect(retry.batchItemFailures).toEqual([]);
      const after = await readArchive(prefix);
      expect(after.size).toBe(2);
      const seen = new Map<string, number>();
      for (const line of [...after.values()].flat()) seen.set(line.sequenceNumber, (seen.get(line.sequenceNumber) ?? 0) + 1);
      // Every record exactly once: the hour-10 object was overwritten under the same key.
      expect(batch.filter((r) => seen.get(r.sequenceNumber) !== 1)).toEqual([]);
      console.log(`archiver partial failure: ${after.size} objects after the retry, every one of ${batch.length} records archived exactly once`);
    } finally {
      await failing.close();
    }
  });
});
