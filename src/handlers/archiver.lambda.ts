import { Logger } from '@aws-lambda-powertools/logger';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { archiveBody, planArchive, RawRecord } from './archive';
import { required, s3Client } from './environment';
import { compareSequenceNumbers } from './reading';

export interface ArchiverDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly timestampField: string;
  readonly logger: Logger;
}

/**
 * Archives a batch as gzip NDJSON objects, one per hour of event time. Every
 * record is archived, valid or not: the archive is the raw data. When an
 * object cannot be written, its first record is reported as the batch item
 * failure, so the event source mapping retries from there.
 */
export async function archiveBatch(event: KinesisStreamEvent, deps: ArchiverDeps): Promise<KinesisStreamBatchResponse & { objects: number }> {
  const records: RawRecord[] = (event.Records ?? []).map((r) => ({
    shardId: r.eventID.split(':')[0],
    sequenceNumber: r.kinesis.sequenceNumber,
    partitionKey: r.kinesis.partitionKey,
    approximateArrivalTimestamp: r.kinesis.approximateArrivalTimestamp,
    data: r.kinesis.data,
  }));
  if (records.length === 0) return { batchItemFailures: [], objects: 0 };
  const plan = planArchive(records, deps.prefix, deps.timestampField);
  const results = await Promise.allSettled(plan.map((object) => deps.s3.send(new PutObjectCommand({
    Bucket: deps.bucket,
    Key: object.key,
    Body: archiveBody(object.records),
    ContentType: 'application/x-ndjson',
    ContentEncoding: 'gzip',
  }))));
  const failedFirsts = plan
    .filter((_, i) => results[i].status === 'rejected')
    .map((object) => object.records[0].sequenceNumber)
    .sort(compareSequenceNumbers);
  if (failedFirsts.length > 0) {
    const reason = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error;
    deps.logger.warn('archive objects not written; reporting a partial batch failure', { objects: failedFirsts.length, error: reason?.name });
  }
  deps.logger.info('batch archived', { records: records.length, objects: plan.length, failed: failedFirsts.length });
  return {
    batchItemFailures: failedFirsts.length > 0 ? [{ itemIdentifier: failedFirsts[0] }] : [],
    objects: plan.length,
  };
}

export function depsFromEnv(env: NodeJS.ProcessEnv): ArchiverDeps {
  return {
    s3: s3Client(env),
    bucket: required(env, 'ARCHIVE_BUCKET'),
    prefix: env.ARCHIVE_PREFIX ?? '',
    timestampField: env.PAYLOAD_TIMESTAMP_FIELD || 'timestamp',
    logger: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME || 'sensor-archiver' }),
  };
}

let deps: ArchiverDeps | undefined;

export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  deps ??= depsFromEnv(process.env);
  const { batchItemFailures } = await archiveBatch(event, deps);
  return { batchItemFailures };
}
