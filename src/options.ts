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
   * @default lambda.StartingPosition.TRIM_HORIZON - every record still in the stream, as the reference
   */
  readonly startingPosition?: lambda.StartingPosition;

  /**
   * Split a failing batch in two and retry each half.
   *
   * @default false - the handlers report the first failed record instead (reportBatchItemFailures)
   */
  readonly bisectBatchOnError?: boolean;

  /**
   * Retries of a failing batch before its records go to the on-failure
   * destination, 0 to 10,000.
   *
   * @default 10
   */
  readonly retryAttempts?: number;

  /**
   * Records older than this are sent to the on-failure destination instead of
   * being processed, 1 minute to 7 days.
   *
   * @default Duration.days(1)
   */
  readonly maxRecordAge?: Duration;

  /**
   * Where the event source mapping sends the shard and sequence range of a
   * batch it gives up on (after `retryAttempts` or `maxRecordAge`).
   *
   * @default - an encrypted SQS queue that keeps messages 14 days
   */
  readonly onFailure?: lambda.IEventSourceDlq;

  /**
   * Let the function report the first record it could not process, so that
   * only the rest of the batch is retried.
   *
   * @default true
   */
  readonly reportBatchItemFailures?: boolean;
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
   * Time limit of one invocation.
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

