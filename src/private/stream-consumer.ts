import { Duration, Names } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisConsumerEventSource, KinesisEventSource, KinesisEventSourceProps, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { suppressKeyGrants } from './nag';
import { createReplayFunction } from './replay-function';
import { createFailureQueue, FailureQueueKind } from './resources';
import { validateDuration, validateInteger } from './validation';
import { HandlerFunctionOptions, StreamConsumerOptions } from '../options';

/** Defaults that differ per consumer kind. */
export interface ConsumerDefaults {
  readonly batchSize: number;
  readonly maxBatchingWindow?: Duration;
  /** The key of a failed-batches queue the pipeline creates. */
  readonly encryptionKey?: kms.IKey;
  /** The consumer's own function options, whose logging the replay function follows. */
  readonly handlerOptions?: HandlerFunctionOptions;
}

/** The failed-batches queue and the replay function the pipeline created for a consumer, where it did. */
export interface AttachedConsumer {
  readonly failedBatchesQueue?: sqs.IQueue;
  readonly replayFunction?: lambda.IFunction;
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
  if (options.replayFunction === true && options.onFailure) {
    throw new Error(`${propsName}.replayFunction replays the failed-batches queue the pipeline creates; it must not be true together with `
      + `${propsName}.onFailure, a destination of your own`);
  }
}

/**
 * Attaches `fn` to the stream with the options' event source mapping (through
 * a stream consumer of its own with `enhancedFanOut`), and returns the
 * failed-batches queue and its replay function when they were created for it.
 */
export function attachToStream(
  scope: Construct,
  fn: lambda.IFunction,
  stream: kinesis.IStream,
  options: StreamConsumerOptions,
  defaults: ConsumerDefaults,
): AttachedConsumer {
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
  const replayFunction = failureQueue && options.replayFunction !== false
    ? createReplayFunction(scope, 'ReplayFunction', {
      fn,
      stream,
      queue: failureQueue,
      batchSize: props.batchSize!,
      reportBatchItemFailures: props.reportBatchItemFailures!,
      logRetention: defaults.handlerOptions?.logRetention,
      logLevel: defaults.handlerOptions?.logLevel,
    })
    : undefined;
  return { failedBatchesQueue: failureQueue, replayFunction };
}
