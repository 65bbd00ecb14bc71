import { readFileSync } from 'fs';
import * as path from 'path';
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { BucketDeadLetterSink, DeadLetter, DeadLetterSink, QueueDeadLetterSink } from './dead-letter';
import { cloudWatchClient, dynamoDbClient, s3Client, sqsClient } from './environment';
import { rawRecord } from './raw-record';
import { decodeRecord, invalidReadingsReason, mappingOf, PayloadMapping, Reading } from './reading';
import { emfLines, metricGroups, MetricSettings, putMetricData, toMetricData } from './sensor-metrics';
import { dedupeByKey, writeItems, WriteOptions } from './table-writer';
import { LOG_METRICS, MetricsModeName, PROCESSOR_SETTINGS, readSettings } from '../private/handler-contract';
import { compilePayloadSchema } from '../private/payload-schema';

export type MetricsMode = MetricsModeName;

export interface ProcessorDeps {
  readonly tableName: string;
  readonly dynamodb: DynamoDBClient;
  readonly mapping: PayloadMapping;
  readonly deadLetters: DeadLetterSink;
  readonly metricsMode: MetricsMode;
  readonly metricSettings: MetricSettings;
  readonly cloudwatch?: CloudWatchClient;
  /** Where EMF lines go (metrics mode EMF): the function's standard output, whose lines CloudWatch Logs reads. */
  readonly emf?: (text: string) => void;
  readonly logger: Logger;
  readonly writeOptions?: WriteOptions;
}

/** What one invocation did; logged once per batch. */
export interface BatchSummary {
  records: number;
  /** Valid readings of the batch's records. */
  readings: number;
  stored: number;
  /** Dead letters sent: one per record that failed whole or holds refused readings. */
  deadLettered: number;
  /** Readings refused, in the dead letters sent: a record that failed whole counts as one. */
  readingsDeadLettered: number;
  failedRecords: number;
  batchWriteCalls: number;
  retries: number;
  metricCalls: number;
  /** Values of stored readings left out of the metric: outside CloudWatch's range, or of an id no dimension value can hold. */
  metricValuesSkipped: number;
  /** Values of stored readings counted in the metric at the time they were processed: their minute is older or newer than CloudWatch takes. */
  metricValuesRestamped: number;
  /** PutMetricData calls that failed: their values are missing from the metric. */
  metricCallsFailed: number;
}

/**
 * Processes one batch: decode and validate every record, reading by reading
 * (a record may hold many: an array, a gateway's batch, a KPL aggregate),
 * store the valid readings, send the invalid ones to the dead-letter
 * destination (one letter per record, listing each refused reading of a
 * record that holds many), publish metrics, and report the first record that
 * could not be finished so that the event source mapping retries from there
 * (ReportBatchItemFailures). Writes are puts keyed by sensor id and
 * timestamp, so a retried record overwrites its rows.
 *
 * Dead letters are sent after the writes, and only for records before the
 * first one reported failed: the checkpoint moves past exactly those, so a
 * dead letter is not sent again with every retry of the records after it.
 * A record is finished only when all its valid readings are written and its
 * letter sent, so each of its readings is stored or dead-lettered once.
 */
export async function processBatch(
  event: KinesisStreamEvent,
  deps: ProcessorDeps,
  remainingMs: () => number,
): Promise<KinesisStreamBatchResponse & { summary: BatchSummary }> {
  const records = event.Records ?? [];
  const failed = new Set<number>();
  const readings: Array<{ reading: Reading; source: number }> = [];
  const letters: Array<{ letter: DeadLetter; source: number }> = [];

  records.forEach((record, source) => {
    const result = decodeRecord(record.kinesis.data, deps.mapping);
    if (result.ok) {
      for (const reading of result.readings) readings.push({ reading, source });
      if (result.invalid.length > 0) {
        letters.push({ source, letter: { ...rawRecord(record), reason: invalidReadingsReason(result.invalid), invalidReadings: result.invalid } });
      }
    } else {
      letters.push({ source, letter: { ...rawRecord(record), reason: result.reason } });
    }
  });
  const refused = (letter: DeadLetter) => letter.invalidReadings?.length ?? 1;

  const write = await writeItems(deps.dynamodb, deps.tableName, dedupeByKey(readings), { ...deps.writeOptions, remainingMs });
  for (const item of write.failed) for (const s of item.sources) failed.add(s);
  if (write.failed.length > 0) {
    deps.logger.warn('readings not stored after retries; reporting a partial batch failure', {
      items: write.failed.length,
      lastError: write.lastError,
    });
  }

  // Kinesis checkpoints at the lowest sequence number reported, so the first
  // failed record is enough; everything from it on comes again on the retry.
  const firstFailedOf = () => records.findIndex((_, i) => failed.has(i));
  const beforeWrites = firstFailedOf();
  const due = beforeWrites < 0 ? letters : letters.filter((l) => l.source < beforeWrites);
  if (due.length > 0) {
    const notSent = new Set(await deps.deadLetters.send(due.map((l) => l.letter)));
    for (const l of due) if (notSent.has(l.letter)) failed.add(l.source);
    // Counted by a metric filter of the constructs (LOG_METRICS.deadLettered).
    deps.logger.warn(LOG_METRICS.deadLettered.message, {
      count: due.length - notSent.size,
      readings: due.filter((l) => !notSent.has(l.letter)).reduce((n, l) => n + refused(l.letter), 0),
      undelivered: notSent.size,
      firstReason: due[0].letter.reason,
    });
  }
  const firstFailed = firstFailedOf();
  const finished = firstFailed < 0 ? records.length : firstFailed;

  // Metrics count only records that will not be delivered again.
  const stored = readings.filter((r) => r.source < finished).map((r) => r.reading);
  const metrics = await publishMetrics(stored, deps);

  const summary: BatchSummary = {
    records: records.length,
    readings: readings.length,
    stored: stored.length,
    deadLettered: letters.filter((l) => l.source < finished).length,
    readingsDeadLettered: letters.filter((l) => l.source < finished).reduce((n, l) => n + refused(l.letter), 0),
    failedRecords: failed.size,
    batchWriteCalls: write.calls,
    retries: write.retries,
    ...metrics,
  };
  // Counted by a metric filter of the constructs (LOG_METRICS.readingsStored).
  deps.logger.info(LOG_METRICS.readingsStored.message, { ...summary });
  return {
    batchItemFailures: firstFailed < 0 ? [] : [{ itemIdentifier: records[firstFailed].kinesis.sequenceNumber }],
    summary,
  };
}

type MetricCounts = Pick<BatchSummary, 'metricCalls' | 'metricValuesSkipped' | 'metricValuesRestamped' | 'metricCallsFailed'>;

/** Publishes the metric of the stored readings, held to what CloudWatch accepts (`metricGroups`). */
async function publishMetrics(stored: readonly Reading[], deps: ProcessorDeps): Promise<MetricCounts> {
  const counts: MetricCounts = { metricCalls: 0, metricValuesSkipped: 0, metricValuesRestamped: 0, metricCallsFailed: 0 };
  if (stored.length === 0 || deps.metricsMode === 'NONE') return counts;
  const { groups, skipped, restamped } = metricGroups(stored);
  counts.metricValuesSkipped = skipped;
  counts.metricValuesRestamped = restamped;
  if (deps.metricsMode === 'PUT_METRIC_DATA') {
    try {
      counts.metricCalls = await putMetricData(deps.cloudwatch!, deps.metricSettings.namespace, toMetricData(groups, deps.metricSettings));
    } catch (err) {
      // The readings are stored; retrying the batch for a metric would only write them again.
      counts.metricCallsFailed = 1;
      deps.logger.error('PutMetricData failed; metrics of this batch are missing', err as Error);
    }
  } else {
    const lines = emfLines(groups, deps.metricSettings);
    // One write: standard output is a pipe in Lambda, written synchronously.
    if (lines.length > 0) deps.emf!(`${lines.join('\n')}\n`);
  }
  return counts;
}

/** Builds the processor's dependencies from its settings (environment variables). */
export function depsFromEnv(env: NodeJS.ProcessEnv): ProcessorDeps {
  const settings = readSettings(PROCESSOR_SETTINGS, env);
  const metricSettings: MetricSettings = {
    namespace: settings.metricNamespace,
    metricName: settings.metricName,
    dimensionName: settings.metricDimensionName,
  };
  const target = settings.deadLetterTarget;
  const deadLetters: DeadLetterSink = 'queueUrl' in target
    ? new QueueDeadLetterSink(sqsClient(), target.queueUrl)
    : new BucketDeadLetterSink(s3Client(env), target.bucket, target.prefix);
  return {
    tableName: settings.tableName,
    dynamodb: dynamoDbClient(),
    mapping: settings.payloadSchemaFile === ''
      ? mappingOf(settings)
      // Read and compiled once, at the cold start: the file sits beside this bundle.
      : { ...mappingOf(settings), schema: compilePayloadSchema(JSON.parse(readFileSync(path.resolve(__dirname, settings.payloadSchemaFile), 'utf8'))) },
    deadLetters,
    metricsMode: settings.metricsMode,
    metricSettings,
    cloudwatch: settings.metricsMode === 'PUT_METRIC_DATA' ? cloudWatchClient() : undefined,
    emf: settings.metricsMode === 'EMF' ? (text) => process.stdout.write(text) : undefined,
    logger: new Logger({ serviceName: settings.serviceName, logLevel: settings.logLevel }),
    writeOptions: { concurrency: settings.writeConcurrency },
  };
}

let deps: ProcessorDeps | undefined;

export async function handler(event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> {
  deps ??= depsFromEnv(process.env);
  const { batchItemFailures } = await processBatch(event, deps, () => context.getRemainingTimeInMillis());
  return { batchItemFailures };
}
