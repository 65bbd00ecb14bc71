import { Duration, Names } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisConsumerEventSource, KinesisEventSource, KinesisEventSourceProps, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { suppressKeyGrants } from './nag';
import { createFailureQueue, FailureQueueKind } from './resources';
import { validateDuration, validateInteger } from './validation';
import { StreamConsumerOptions } from '../options';

/** Defaults that differ per consumer kind. */
export interface ConsumerDefaults {
  readonly batchSize: number;
  readonly maxBatchingWindow?: Duration;
  /** The key of a failed-batches queue the pipeline creates. */
  readonly encryptionKey?: kms.IKey;
}

/**
 * Validates the options, naming the prop as `<propsName>.<prop>`. A built-in
 * consumer reports failed records in its response, so it needs
 * ReportBatchItemFailures: without it Lambda ignores the response and the
 * records are lost.
 */
export function validateConsumerOptions(propsName: string, options: StreamConsumerOptions, builtIn: boolean): void {
  if (builtIn && options.reportBatchItemFailures === false) {
    throw new Error(`${propsName}.reportBatchItemFailures must not be false: this consumer reports the records it could not finish `
      + 'in its response, which the event source mapping ignores without ReportBatchItemFailures, so they would be lost');
  }
  validateInteger(`${propsName}.batchSize`, options.batchSize, 1, 10_000);
  validateInteger(`${propsName}.parallelizationFactor`, options.parallelizationFactor, 1, 10);
  validateInteger(`${propsName}.retryAttempts`, options.retryAttempts, 0, 10_000);
  validateDuration(`${propsName}.maxBatchingWindow`, options.maxBatchingWindow, Duration.seconds(0), Duration.minutes(5));
  validateDuration(`${propsName}.maxRecordAge`, options.maxRecordAge, Duration.minutes(1), Duration.days(7));
}

/**
 * Attaches `fn` to the stream with the options' event source mapping (through
 * a stream consumer of its own with `enhancedFanOut`), and returns the
 * failed-batches queue when one was created for it.
 */
export function attachToStream(
  scope: Construct,
  fn: lambda.IFunction,
  stream: kinesis.IStream,
  options: StreamConsumerOptions,
  defaults: ConsumerDefaults,
): sqs.IQueue | undefined {
  let failureQueue: sqs.Queue | undefined;
  let onFailure = options.onFailure;
  if (!onFailure) {
    failureQueue = createFailureQueue(scope, 'FailedBatches', FailureQueueKind.FAILED_BATCHES, defaults.encryptionKey);
    onFailure = new SqsDlq(failureQueue);
  }
  const props: KinesisEventSourceProps = {
    batchSize: options.batchSize ?? defaults.batchSize,
    maxBatchingWindow: options.maxBatchingWindow ?? defaults.maxBatchingWindow,
    parallelizationFactor: options.parallelizationFactor ?? 1,
    startingPosition: options.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON,
    bisectBatchOnError: options.bisectBatchOnError ?? false,
    retryAttempts: options.retryAttempts ?? 10,
    maxRecordAge: options.maxRecordAge ?? Duration.days(1),
    onFailure,
    reportBatchItemFailures: options.reportBatchItemFailures ?? true,
  };
  if (options.enhancedFanOut) {
    // The consumer's name is unique in the stream as long as the construct path is in the app.
    const consumer = new kinesis.StreamConsumer(scope, 'StreamConsumer', {
      stream,
      streamConsumerName: Names.uniqueResourceName(scope, { maxLength: 128, separator: '-' }),
    });
    fn.addEventSource(new KinesisConsumerEventSource(consumer, props));
  } else {
    fn.addEventSource(new KinesisEventSource(stream, props));
  }
  // The mapping sends to the failed-batches queue as the function's role.
  if (failureQueue?.encryptionMasterKey) suppressKeyGrants(fn);
  return failureQueue;
}
