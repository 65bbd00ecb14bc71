import { gunzipSync } from 'zlib';
import { Logger } from '@aws-lambda-powertools/logger';
import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamEvent } from 'aws-lambda';
import { asClient, b64, b64json, FakeClient, serviceError } from './helpers';
import { toLine } from '../../src/handlers/archive';
import { archiveBatch, ArchiverDeps, DEFAULT_ARCHIVE_CONCURRENCY, depsFromEnv } from '../../src/handlers/archiver.lambda';

const SHARD = 'shardId-000000000002';
const seq = (i: number) => (49590338271490256608559692538361571095921575989136588898n + BigInt(i)).toString();

function event(payloads: string[]): KinesisStreamEvent {
  return {
    Records: payloads.map((data, i) => ({
      awsRegion: 'eu-west-1',
      eventID: `${SHARD}:${seq(i)}`,
      eventName: 'aws:kinesis:record',
      eventSource: 'aws:kinesis',
      eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/sensors',
      eventVersion: '1.0',
      invokeIdentityArn: 'arn:aws:iam::123456789012:role/archiver',
      kinesis: { kinesisSchemaVersion: '1.0', partitionKey: `pk-${i}`, sequenceNumber: seq(i), data, approximateArrivalTimestamp: Date.UTC(2024, 0, 2, 9) / 1000 },
    })),
  };
}

const at = (hour: number) => b64json({ sensorid: 's1', value: 1, timestamp: new Date(Date.UTC(2024, 0, 2, hour, 30)).toISOString() });

function makeDeps(fake: FakeClient): ArchiverDeps {
  return { s3: asClient<S3Client>(fake), bucket: 'archive', prefix: 'raw/', timestampField: 'timestamp', logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }) };
}

/** S3 that fails the puts whose key contains one of the given hours. */
function s3FailingHours(...hours: string[]): FakeClient {
  return new FakeClient([], (input: PutObjectCommandInput) =>
    hours.some((h) => input.Key!.includes(`hour=${h}/`)) ? serviceError('InternalError', 500) : {});
}

describe('archiveBatch', () => {
  test('one gzip NDJSON object per hour, every record archived (valid or not)', async () => {
    const fake = new FakeClient();
    const payloads = [at(3), at(4), b64('not json'), at(3)];
    const out = await archiveBatch(event(payloads), makeDeps(fake));
    expect(out).toEqual({ batchItemFailures: [], objects: 3 });
    const inputs = fake.inputs as PutObjectCommandInput[];
    expect(inputs.map((i) => i.Key)).toEqual([
      `raw/year=2024/month=01/day=02/hour=03/${SHARD}-${seq(0)}.ndjson.gz`,
      `raw/year=2024/month=01/day=02/hour=04/${SHARD}-${seq(1)}.ndjson.gz`,
      `raw/year=2024/month=01/day=02/hour=09/${SHARD}-${seq(2)}.ndjson.gz`,
    ]);
    for (const input of inputs) {
      expect(input.Bucket).toBe('archive');
      expect(input.ContentType).toBe('application/x-ndjson');
      expect(input.ContentEncoding).toBe('gzip');
    }
    const lines = gunzipSync(Buffer.from(inputs[0].Body as Uint8Array)).toString('utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).sequenceNumber)).toEqual([seq(0), seq(3)]);
    expect(lines[0]).toBe(toLine({ shardId: SHARD, sequenceNumber: seq(0), partitionKey: 'pk-0', approximateArrivalTimestamp: Date.UTC(2024, 0, 2, 9) / 1000, data: payloads[0] }));
    expect(JSON.parse(gunzipSync(Buffer.from(inputs[2].Body as Uint8Array)).toString('utf8')).payload).toBe('not json');
  });

  test('an empty batch writes nothing', async () => {
    const fake = new FakeClient();
    expect(await archiveBatch({ Records: [] }, makeDeps(fake))).toEqual({ batchItemFailures: [], objects: 0 });
    expect(fake.inputs).toHaveLength(0);
  });

  test('a failed object reports the batch\'s first record, so the retry rewrites the same keys', async () => {
    const fake = s3FailingHours('04');
    const out = await archiveBatch(event([at(3), at(3), at(4), at(3), at(4)]), makeDeps(fake));
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(0) }]);
    expect(fake.inputs).toHaveLength(2);
  });

  test('with several failed objects the batch\'s first record is reported once', async () => {
    const fake = s3FailingHours('05', '04');
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const out = await archiveBatch(event([at(3), at(5), at(4), at(5)]), makeDeps(fake));
      expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(0) }]);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/retried whole/), { objects: 2, notStarted: 0, error: 'InternalError' });
    } finally {
      warn.mockRestore();
    }
  });

  /** An S3 stand-in whose puts take a few event-loop turns, counting how many are in flight. */
  function slowS3(failKeys: (key: string) => boolean = () => false) {
    const state = { inFlight: 0, most: 0, keys: [] as string[] };
    const s3 = {
      send: async (command: { input: PutObjectCommandInput }) => {
        state.keys.push(command.input.Key!);
        state.most = Math.max(state.most, ++state.inFlight);
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
        state.inFlight--;
        if (failKeys(command.input.Key!)) throw serviceError('InternalError', 500);
        return {};
      },
    };
    return { state, s3: s3 as unknown as S3Client };
  }

  const hours = (n: number) => Array.from({ length: n }, (_, h) => at(h));

  test('objects are written at most `concurrency` at a time, DEFAULT_ARCHIVE_CONCURRENCY by default', async () => {
    for (const concurrency of [1, 3, undefined]) {
      const { state, s3 } = slowS3();
      const out = await archiveBatch(event(hours(12)), { ...makeDeps(new FakeClient()), s3, concurrency });
      expect(out).toEqual({ batchItemFailures: [], objects: 12 });
      expect(state.keys).toHaveLength(12);
      expect(state.most).toBe(concurrency ?? DEFAULT_ARCHIVE_CONCURRENCY);
    }
  });

  test('once an object has failed no further one is started: the whole batch comes again', async () => {
    const { state, s3 } = slowS3((key) => key.includes('hour=01/'));
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const out = await archiveBatch(event(hours(6)), { ...makeDeps(new FakeClient()), s3, concurrency: 1 });
      expect(out.batchItemFailures).toEqual([{ itemIdentifier: seq(0) }]);
      expect(state.keys.map((k) => k.match(/hour=(\d\d)/)![1])).toEqual(['00', '01']);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/retried whole/), { objects: 1, notStarted: 4, error: 'InternalError' });
    } finally {
      warn.mockRestore();
    }
  });

  test('a concurrency that is not a positive integer is refused, naming the setting', async () => {
    for (const concurrency of [0, -1, 2.5]) {
      await expect(archiveBatch(event([at(1)]), { ...makeDeps(new FakeClient()), concurrency }))
        .rejects.toThrow(`ArchiverDeps.concurrency must be a positive integer, got ${concurrency}`);
    }
  });

  test('depsFromEnv passes the default concurrency', () => {
    expect(depsFromEnv({ ARCHIVE_BUCKET: 'b' }).concurrency).toBe(DEFAULT_ARCHIVE_CONCURRENCY);
  });
});
