import { Logger } from '@aws-lambda-powertools/logger';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { gzipLines, planArchive } from './archive';
import { s3Client } from './environment';
import { rawRecord } from './raw-record';
import { ARCHIVER_SETTINGS, LOG_METRICS, readSettings } from '../private/handler-contract';

/**
 * PutObject calls in flight at once, by default. A batch is one object per
 * hour of event time: one or two for live data, up to hundreds when a device
 * sends a backlog. Four keeps a backlog's round trips overlapping without a
 * burst of hundreds of requests, and holds at most four compressed bodies in
 * memory at a time.
 */
export const DEFAULT_ARCHIVE_CONCURRENCY = 4;

export interface ArchiverDeps {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly timestampField: string;
  readonly logger: Logger;
  /** PutObject calls in flight at once. Default `DEFAULT_ARCHIVE_CONCURRENCY`. */
  readonly concurrency?: number;
}

/**
 * Archives a batch as gzip NDJSON objects, one per hour of event time, up to
 * `concurrency` at a time. Every record is archived, valid or not: the archive
 * is the raw data. When an object cannot be written, the batch's first record
 * is reported as the batch item failure, so the event source mapping retries
 * the whole batch; no further object is started once one has failed, since the
 * retry writes them all again.
 */
export async function archiveBatch(event: KinesisStreamEvent, deps: ArchiverDeps): Promise<KinesisStreamBatchResponse & { objects: number }> {
  const records = (event.Records ?? []).map(rawRecord);
  if (records.length === 0) return { batchItemFailures: [], objects: 0 };
  const plan = planArchive(records, deps.prefix, deps.timestampField);
  const concurrency = deps.concurrency ?? DEFAULT_ARCHIVE_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`ArchiverDeps.concurrency must be a positive integer, got ${concurrency}`);
  const failed: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < plan.length && failed.length === 0) {
      const object = plan[next++];
      try {
        // Compressed just before it is sent: at most `concurrency` bodies are held at once.
        await deps.s3.send(new PutObjectCommand({
          Bucket: deps.bucket,
          Key: object.key,
          Body: gzipLines(object.lines),
          ContentType: 'application/x-ndjson',
          ContentEncoding: 'gzip',
        }));
      } catch (err) {
        failed.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, worker));
  if (failed.length > 0) {
    deps.logger.warn('archive objects not written; the batch will be retried whole', {
      objects: failed.length,
      notStarted: plan.length - next,
      error: (failed[0] as Error)?.name,
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
    concurrency: DEFAULT_ARCHIVE_CONCURRENCY,
  };
}

let deps: ArchiverDeps | undefined;

export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  deps ??= depsFromEnv(process.env);
  const { batchItemFailures } = await archiveBatch(event, deps);
  return { batchItemFailures };
}
