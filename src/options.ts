import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';

/** Log levels of the bundled handlers (Powertools for AWS Lambda levels). */
export enum HandlerLogLevel {
  /** Everything, including per-record detail. */
  DEBUG = 'DEBUG',
  /** One line per batch. */
  INFO = 'INFO',
  /** Only what needs attention: dead-lettered records, retries given up. */
  WARN = 'WARN',
  /** Only failures. */
  ERROR = 'ERROR',
  /** Nothing. */
  SILENT = 'SILENT',
}

/**
 * How a Lambda consumer reads the stream: the settings of its event source
 * mapping. Every default is chosen so that one bad batch never blocks a shard
 * and nothing is dropped without a trace.
 */
export interface StreamConsumerOptions {
  /**
   * Records per invocation, 1 to 10,000. Larger batches mean fewer invocations
   * and fewer API calls per reading.
   *
   * @default - 500 for the DynamoDB processor, 1,000 for the S3 archiver, 100 for a function of your own
   */
  readonly batchSize?: number;

  /**
   * How long to gather records before invoking, up to 5 minutes.
   *
   * @default - 1 second for the DynamoDB processor, 60 seconds for the S3 archiver, none for a function of your own
   */
  readonly maxBatchingWindow?: Duration;

  /**
   * Concurrent batches per shard, 1 to 10. Records of one partition key (one
   * sensor) stay in order.
   *
   * @default 1
   */
  readonly parallelizationFactor?: number;

  /**
   * Where in the stream a new consumer starts.
   *
   * @default lambda.StartingPosition.TRIM_HORIZON - every record still in the stream
   */
  readonly startingPosition?: lambda.StartingPosition;

  /**
   * Split a failing batch in two and retry each half.
   *
   * @default false - the handlers report the first failed record instead (reportBatchItemFailures)
   */
  readonly bisectBatchOnError?: boolean;

  /**
   * Retries of a failing batch before the event source mapping gives up on it
   * and reports it to the failed-batches destination (`onFailure`), 0 to 10,000.
   *
   * @default 10
   */
  readonly retryAttempts?: number;

  /**
   * Records older than this are not processed: the event source mapping
   * reports them to the failed-batches destination (`onFailure`), 1 minute to
   * 7 days.
   *
   * @default Duration.days(1)
   */
  readonly maxRecordAge?: Duration;

  /**
   * The failed-batches destination: where the event source mapping sends the
   * shard and sequence range of a batch it gives up on (after `retryAttempts`
   * or `maxRecordAge`). The records themselves stay in the stream until its
   * retention ends. Not to be confused with the dead-letter destination, which
   * receives the records that fail validation.
   *
   * @default - a new failed-batches queue: encrypted SQS, messages kept 14 days
   */
  readonly onFailure?: lambda.IEventSourceDlq;

  /**
   * Create a replay function beside the failed-batches queue the pipeline
   * creates: invoked by you (`aws lambda invoke --function-name <name>
   * out.json`), never on its own, it reads the range of each message of the
   * queue back from the stream, while the stream still holds it, and invokes
   * this consumer's function with it, the way the event source mapping does;
   * it deletes a message once its whole range is done and answers a summary.
   * Not with `onFailure`, a destination of your own.
   *
   * @default - true when the pipeline creates the failed-batches queue
   */
  readonly replayFunction?: boolean;

  /**
   * Let the function report the first record it could not process, so that
   * only the rest of the batch is retried. The built-in processor and
   * archiver report failures this way and refuse `false`: without it the
   * event source mapping would ignore their reports and the failed records
   * would be lost.
   *
   * @default true
   */
  readonly reportBatchItemFailures?: boolean;

  /**
   * Read the stream through a dedicated stream consumer (Kinesis enhanced
   * fan-out) instead of the shared read throughput. Every consumer without
   * it shares each shard's 2 MB/s and five reads per second with the others
   * (the Firehose archiver included), so that a busy stream with several
   * consumers falls behind; an enhanced consumer gets 2 MB/s per shard of
   * its own, pushed to it over HTTP/2, in about 70 ms from put to delivery
   * instead of about 200 ms for one shared consumer and up to a second for
   * five. It costs extra: an hourly charge per consumer and shard, and a
   * charge per GB read. A stream has at most 20 enhanced consumers.
   *
   * @default false
   */
  readonly enhancedFanOut?: boolean;
}

/** Settings every bundled handler function takes. */
export interface HandlerFunctionOptions {
  /**
   * Memory of the function, in MiB.
   *
   * @default - 512 for the processor, 256 for the archiver and the query function
   */
  readonly memorySize?: number;

  /**
   * Time limit of one invocation. The built-in processor takes 8 seconds or
   * more: its writer keeps the last 4 seconds of each invocation for a
   * request in flight, the dead letters and the metric.
   *
   * @default - 60 seconds for stream consumers, 10 seconds for the query function
   */
  readonly timeout?: Duration;

  /**
   * How long the function's logs are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * The lowest level the handler logs. At INFO a handler writes one line per
   * batch, never one per reading.
   *
   * @default HandlerLogLevel.INFO
   */
  readonly logLevel?: HandlerLogLevel;
}

