import { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { BucketDeadLetterSink, DeadLetter, DeadLetterSink, QueueDeadLetterSink } from './dead-letter';
import { dynamoDbClient, required, s3Client } from './environment';
import { decodeRecord, mappingFromEnv, PayloadMapping, Reading } from './reading';
import { aggregate, createEmfMetrics, MetricSettings, publishEmf, putMetricData, toMetricData } from './sensor-metrics';
import { dedupeByKey, DEFAULT_WRITE_CONCURRENCY, writeItems, WriteOptions } from './table-writer';

export type MetricsMode = 'EMF' | 'PUT_METRIC_DATA' | 'NONE';

export interface ProcessorDeps {
  readonly tableName: string;
  readonly dynamodb: DynamoDBClient;
  readonly mapping: PayloadMapping;
  readonly deadLetters: DeadLetterSink;
  readonly metricsMode: MetricsMode;
  readonly metricSettings: MetricSettings;
  readonly cloudwatch?: CloudWatchClient;
  readonly emf?: Metrics;
  readonly logger: Logger;
  readonly writeOptions?: WriteOptions;
}

/** What one invocation did; logged once per batch. */
export interface BatchSummary {
  records: number;
  readings: number;
  stored: number;
  deadLettered: number;
  failedRecords: number;
  batchWriteCalls: number;
  retries: number;
  metricCalls: number;
}

/**
 * Processes one batch: decode and validate every record, send the invalid ones
 * to the dead-letter destination, store the valid ones, publish metrics, and
 * report the first record that could not be finished so that the event source
 * mapping retries from there (ReportBatchItemFailures). Writes are puts keyed
 * by sensor id and timestamp, so a retried record overwrites its row.
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
    } else {
      letters.push({
        source,
        letter: {
          reason: result.reason,
          shardId: record.eventID.split(':')[0],
          sequenceNumber: record.kinesis.sequenceNumber,
          partitionKey: record.kinesis.partitionKey,
          approximateArrivalTimestamp: record.kinesis.approximateArrivalTimestamp,
          data: record.kinesis.data,
        },
      });
    }
  });

  // Dead letters and table writes are independent: both run at once, so that
  // a batch waits for the slower of the two round trips, not their sum.
  const items = dedupeByKey(readings);
  const [undelivered, write] = await Promise.all([
    letters.length > 0 ? deps.deadLetters.send(letters.map((l) => l.letter)) : Promise.resolve([]),
    writeItems(deps.dynamodb, deps.tableName, items, { ...deps.writeOptions, remainingMs }),
  ]);
  if (letters.length > 0) {
    const notSent = new Set(undelivered);
    for (const l of letters) if (notSent.has(l.letter)) failed.add(l.source);
    deps.logger.warn('records sent to the dead-letter destination', {
      count: letters.length - notSent.size,
      undelivered: notSent.size,
      firstReason: letters[0].letter.reason,
    });
  }
  for (const item of write.failed) for (const s of item.sources) failed.add(s);
  if (write.failed.length > 0) {
    deps.logger.warn('readings not stored after retries; reporting a partial batch failure', {
      items: write.failed.length,
      lastError: write.lastError,
    });
  }

  // Kinesis checkpoints at the lowest sequence number reported, so the first
  // failed record is enough; everything from it on comes again on the retry.
  const firstFailed = records.findIndex((_, i) => failed.has(i));
  const finished = firstFailed < 0 ? records.length : firstFailed;
  // Metrics count only records that will not be delivered again.
  const stored = readings.filter((r) => r.source < finished).map((r) => r.reading);
  let metricCalls = 0;
  if (stored.length > 0 && deps.metricsMode !== 'NONE') {
    const groups = aggregate(stored);
    if (deps.metricsMode === 'PUT_METRIC_DATA') {
      try {
        metricCalls = await putMetricData(deps.cloudwatch!, deps.metricSettings.namespace, toMetricData(groups, deps.metricSettings));
      } catch (err) {
        // The readings are stored; retrying the batch for a metric would only write them again.
        deps.logger.error('PutMetricData failed; metrics of this batch are missing', err as Error);
      }
    } else {
      publishEmf(deps.emf!, groups, deps.metricSettings);
    }
  }

  const summary: BatchSummary = {
    records: records.length,
    readings: readings.length,
    stored: stored.length,
    deadLettered: letters.length,
    failedRecords: failed.size,
    batchWriteCalls: write.calls,
    retries: write.retries,
    metricCalls,
  };
  deps.logger.info('batch processed', { ...summary });
  return {
    batchItemFailures: firstFailed < 0 ? [] : [{ itemIdentifier: records[firstFailed].kinesis.sequenceNumber }],
    summary,
  };
}

/** Builds the processor's dependencies from its environment variables. */
export function depsFromEnv(env: NodeJS.ProcessEnv): ProcessorDeps {
  const metricsMode = (env.METRICS_MODE ?? 'EMF') as MetricsMode;
  if (!['EMF', 'PUT_METRIC_DATA', 'NONE'].includes(metricsMode)) {
    throw new Error(`METRICS_MODE must be EMF, PUT_METRIC_DATA or NONE, got ${metricsMode}`);
  }
  const metricSettings: MetricSettings = {
    namespace: env.METRICS_NAMESPACE || 'Sensors',
    metricName: env.METRIC_NAME || 'SensorData',
    dimensionName: env.METRIC_DIMENSION_NAME || 'SensorId',
  };
  let deadLetters: DeadLetterSink;
  if (env.DEAD_LETTER_QUEUE_URL) {
    deadLetters = new QueueDeadLetterSink(new SQSClient({}), env.DEAD_LETTER_QUEUE_URL);
  } else if (env.DEAD_LETTER_BUCKET) {
    deadLetters = new BucketDeadLetterSink(s3Client(env), env.DEAD_LETTER_BUCKET, env.DEAD_LETTER_PREFIX ?? 'dead-letter/');
  } else {
    throw new Error('environment variable DEAD_LETTER_QUEUE_URL or DEAD_LETTER_BUCKET must be set');
  }
  return {
    tableName: required(env, 'TABLE_NAME'),
    dynamodb: dynamoDbClient(),
    mapping: mappingFromEnv(env),
    deadLetters,
    metricsMode,
    metricSettings,
    cloudwatch: metricsMode === 'PUT_METRIC_DATA' ? new CloudWatchClient({}) : undefined,
    emf: metricsMode === 'EMF' ? createEmfMetrics(metricSettings) : undefined,
    logger: new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME || 'sensor-processor' }),
    writeOptions: { concurrency: DEFAULT_WRITE_CONCURRENCY },
  };
}

let deps: ProcessorDeps | undefined;

export async function handler(event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> {
  deps ??= depsFromEnv(process.env);
  const { batchItemFailures } = await processBatch(event, deps, () => context.getRemainingTimeInMillis());
  return { batchItemFailures };
}
