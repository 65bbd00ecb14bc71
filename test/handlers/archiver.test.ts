import { gunzipSync } from 'zlib';
import { Logger } from '@aws-lambda-powertools/logger';
import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamEvent } from 'aws-lambda';
import { asClient, b64, b64json, FakeClient, serviceError } from './helpers';
import { toLine } from '../../src/handlers/archive';
import { archiveBatch, ArchiverDeps } from '../../src/handlers/archiver.lambda';

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
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/retried whole/), { objects: 2, error: 'InternalError' });
    } finally {
      warn.mockRestore();
    }
  });
});
