import { Logger } from '@aws-lambda-powertools/logger';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { gzipLines, planArchive } from './archive';
import { s3Client } from './environment';
import { rawRecord } from './raw-record';
import { ARCHIVER_SETTINGS, LOG_METRICS, readSettings } from '../private/handler-contract';

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
 * object cannot be written, the batch's first record is reported as the batch
 * item failure, so the event source mapping retries the whole batch.
 */
export async function archiveBatch(event: KinesisStreamEvent, deps: ArchiverDeps): Promise<KinesisStreamBatchResponse & { objects: number }> {
  const records = (event.Records ?? []).map(rawRecord);
  if (records.length === 0) return { batchItemFailures: [], objects: 0 };
  const plan = planArchive(records, deps.prefix, deps.timestampField);
  const results = await Promise.allSettled(plan.map((object) => deps.s3.send(new PutObjectCommand({
    Bucket: deps.bucket,
    Key: object.key,
    Body: gzipLines(object.lines),
    ContentType: 'application/x-ndjson',
    ContentEncoding: 'gzip',
  }))));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    deps.logger.warn('archive objects not written; the batch will be retried whole', {
      objects: failed.length,
      error: (failed[0].reason as Error)?.name,
    });
  }
  // Counted by a metric filter of the constructs (LOG_METRICS.archiveObjects).
  deps.logger.info(LOG_METRICS.archiveObjects.message, { records: records.length, objects: plan.length, failed: failed.length });
  // Objects of one batch interleave by hour: a retry from a later record would
  // name them differently and archive some records twice. Retrying the whole
  // batch rewrites the same keys, so it overwrites instead.
  return {
    batchItemFailures: failed.length > 0 ? [{ itemIdentifier: records[0].sequenceNumber }] : [],
    objects: plan.length,
  };
}

/** Builds the archiver's dependencies from its settings (environment variables). */
export function depsFromEnv(env: NodeJS.ProcessEnv): ArchiverDeps {
  const settings = readSettings(ARCHIVER_SETTINGS, env);
  return {
    s3: s3Client(env),
    bucket: settings.archiveBucket,
    prefix: settings.archivePrefix,
    timestampField: settings.timestampField,
    logger: new Logger({ serviceName: settings.serviceName, logLevel: settings.logLevel }),
  };
}

let deps: ArchiverDeps | undefined;

export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  deps ??= depsFromEnv(process.env);
  const { batchItemFailures } = await archiveBatch(event, deps);
  return { batchItemFailures };
}
