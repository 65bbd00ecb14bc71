import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/** An alarm on a count: it fires when the count over one period reaches the threshold. */
export interface CountAlarmOptions {
  /**
   * Create this alarm.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * The count over one period that fires the alarm.
   *
   * @default 1
   */
  readonly threshold?: number;

  /**
   * Consecutive periods at or above the threshold before the alarm fires.
   *
   * @default 1 - 3 for the stream's read throughput, which event source mappings retry on their own
   */
  readonly evaluationPeriods?: number;

  /**
   * The period the count is taken over.
   *
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/** An alarm on an age: it fires when the age reaches the threshold. */
export interface AgeAlarmOptions {
  /**
   * Create this alarm.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * The age that fires the alarm.
   *
   * @default - given where the alarm is documented
   */
  readonly threshold?: Duration;

  /**
   * Consecutive periods at or above the threshold before the alarm fires.
   *
   * @default 1
   */
  readonly evaluationPeriods?: number;

  /**
   * The period the maximum age is taken over.
   *
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/**
 * An alarm on a limit that AWS reports as reached (1) or not (0): it fires
 * when the limit was reached at any time of a period.
 */
export interface LimitAlarmOptions {
  /**
   * Create this alarm.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * Consecutive periods in which the limit was reached before the alarm fires.
   *
   * @default 1
   */
  readonly evaluationPeriods?: number;

  /**
   * The period the maximum is taken over.
   *
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

/**
 * The pipeline's CloudWatch alarms. Each fires on a sign that the pipeline
 * falls behind, drops or rejects data, or is throttled; together they feed
 * one composite "pipeline unhealthy" alarm to page on.
 */
export interface PipelineAlarmsProps {
  /**
   * Create the alarms.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * Actions of the composite "pipeline unhealthy" alarm, for example
   * `new cloudwatch_actions.SnsAction(topic)`.
   *
   * @default - none
   */
  readonly actions?: cloudwatch.IAlarmAction[];

  /**
   * Put `actions` on every alarm as well as on the composite one.
   *
   * @default false - one signal to page on: the composite alarm
   */
  readonly actionsOnEveryAlarm?: boolean;

  /**
   * How far behind the stream each consumer may fall (the Lambda
   * `IteratorAge` of its function). Records expire at the stream's retention.
   *
   * @default - fires at a quarter of the stream's retention (6 hours for 24 hours), which leaves three quarters to act
   */
  readonly iteratorAge?: AgeAlarmOptions;

  /** Errors of each function (`Errors`). */
  readonly functionErrors?: CountAlarmOptions;

  /** Throttled invocations of each function (`Throttles`). */
  readonly functionThrottles?: CountAlarmOptions;

  /** Records sent to the dead-letter destination: they failed validation. */
  readonly deadLetters?: CountAlarmOptions;

  /** Messages sent to a failed-batches queue: an event source mapping gave up on a batch. */
  readonly failedBatches?: CountAlarmOptions;

  /**
   * The oldest message of a failed-batches queue: a failed batch left unhandled.
   *
   * @default - fires at 1 day
   */
  readonly failedBatchesAge?: AgeAlarmOptions;

  /** Throttled writes to the table (`WriteThrottleEvents`), which the processor retries. */
  readonly tableWriteThrottles?: CountAlarmOptions;

  /** Puts on the stream refused for throughput (`WriteProvisionedThroughputExceeded`): devices are throttled. */
  readonly streamWriteThroughputExceeded?: CountAlarmOptions;

  /** Reads of the stream refused for throughput (`ReadProvisionedThroughputExceeded`): too many consumers per shard. */
  readonly streamReadThroughputExceeded?: CountAlarmOptions;

  /**
   * Messages the ingress could not put on the stream (an IoT topic rule:
   * its error action ran, or the message was not JSON it could read). Only
   * with an ingress.
   */
  readonly ingressFailures?: CountAlarmOptions;

  /**
   * The age of the oldest record the Firehose archiver has not yet written
   * to S3 (`DeliveryToS3.DataFreshness`). Only with `Archiver.firehose()`.
   *
   * @default - fires at 1 hour: four times the default buffering interval, leaving room for dynamic partitioning's extra buffering
   */
  readonly archiveDataFreshness?: AgeAlarmOptions;

  /**
   * S3 writes of the Firehose archiver that failed (`DeliveryToS3.Success`
   * below 1); Firehose retries them for up to a day. The threshold is the
   * percentage of failed writes in a period. Only with `Archiver.firehose()`.
   */
  readonly archiveDeliveryFailures?: CountAlarmOptions;

  /**
   * Records the archiver kept out of the archive's data (Firehose with
   * Parquet: records it could not convert, written to its error prefix).
   */
  readonly archiveRejectedRecords?: CountAlarmOptions;

  /**
   * The Firehose archiver's active partitions at the delivery stream's quota
   * (`PartitionCountExceeded`, 1 while they are): the records past it went
   * to the error output prefix, under `activePartitionExceeded/`, not to the
   * archive. The quota is 500 per delivery stream unless raised (up to 5,000).
   * Only with `Archiver.firehose()`.
   */
  readonly archivePartitionCountExceeded?: LimitAlarmOptions;

  /** Requests the query endpoint answered with a 5xx status. Only with a query endpoint. */
  readonly queryEndpointServerErrors?: CountAlarmOptions;
}
