import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { DeadLetterDestination } from './dead-letter-destination';
import { HandlerFunctionOptions, StreamConsumerOptions } from './options';
import { IIngestProcessor, ISensorIngestPipeline, ProcessorBinding } from './pipeline-interfaces';
import { defaultOf, LOG_METRICS, MIN_PROCESSOR_TIMEOUT_MS, PROCESSOR_SETTINGS, WRITER_RESERVE_MS } from './private/handler-contract';
import { createBundledFunction, validateHandlerOptions } from './private/handler-function';
import { logMetric } from './private/monitoring';
import { suppressKeyGrants, suppressOnPrincipalPolicy } from './private/nag';
import { withDefaults } from './private/payload';
import { PAYLOAD_SCHEMA_FILE_NAME } from './private/payload-schema';
import { attachToStream, validateConsumerOptions } from './private/stream-consumer';
import { validateDuration, validateInteger, validateNonEmpty } from './private/validation';

/** How the processor publishes the per-sensor CloudWatch metric. */
export enum MetricsMode {
  /**
   * CloudWatch Embedded Metric Format: structured log lines that CloudWatch
   * turns into metrics. No API call and no `cloudwatch:PutMetricData` grant.
   */
  EMBEDDED_METRIC_FORMAT = 'EMF',
  /**
   * PutMetricData calls, aggregated: one datum per sensor and minute, up to
   * 1,000 data per call.
   */
  PUT_METRIC_DATA = 'PUT_METRIC_DATA',
  /** No metric. */
  NONE = 'NONE',
}

/** Props of the built-in DynamoDB + CloudWatch-metrics processor. */
export interface DynamoDbProcessorProps extends StreamConsumerOptions, HandlerFunctionOptions {
  /**
   * How readings are published as the CloudWatch metric.
   *
   * @default MetricsMode.EMBEDDED_METRIC_FORMAT
   */
  readonly metricsMode?: MetricsMode;

  /**
   * The metric's namespace.
   *
   * @default "Sensors"
   */
  readonly metricNamespace?: string;

  /**
   * The metric's name.
   *
   * @default "SensorData"
   */
  readonly metricName?: string;

  /**
   * The name of the metric's one dimension, whose value is the sensor id.
   *
   * @default "SensorId"
   */
  readonly metricDimensionName?: string;

  /**
   * BatchWriteItem requests the processor keeps in flight at once, 1 to 50.
   * A batch of 500 readings is 20 requests: at 20 they all go at once, one
   * round trip instead of 20 in a row. Measured with `npm run bench`: 16 to
   * 20 keep up best at every memory size; at 10, a second round trip per
   * batch costs 4 to 40 % of the throughput; below 4 the round trips are
   * the limit.
   *
   * @default 20
   */
  readonly writeConcurrency?: number;

  /**
   * The dead-letter destination: where records that fail validation go, with
   * the reason. Not to be confused with the failed-batches destination
   * (`onFailure`), which receives batches the event source mapping gives up on.
   *
   * @default DeadLetterDestination.queue() - a new dead-letter queue: encrypted SQS, messages kept 14 days
   */
  readonly deadLetterDestination?: DeadLetterDestination;
}

/**
 * The built-in processor: validates each record, stores readings in the
 * table with BatchWriteItem (25 per call, throttled writes retried with
 * backoff and jitter), publishes the per-sensor metric, sends invalid records
 * to the dead-letter destination, and reports partial batch failures so that
 * a shard never stalls.
 */
export class DynamoDbProcessor implements IIngestProcessor {
  constructor(private readonly props: DynamoDbProcessorProps = {}) {
    validateProcessorProps(props);
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): ProcessorBinding {
    const props = this.props;
    const metricsMode = props.metricsMode ?? MetricsMode.EMBEDDED_METRIC_FORMAT;
    const metricNamespace = props.metricNamespace ?? defaultOf(PROCESSOR_SETTINGS.metricNamespace);
    // The function needs its role before the dead-letter destination can be
    // granted to it, and the destination before its settings are complete.
    const deadLetter = (props.deadLetterDestination ?? DeadLetterDestination.queue())._bind(scope, pipeline.encryptionKey);
    const fn = createBundledFunction(scope, 'Function', {
      ...props,
      handler: 'processor',
      description: 'Stores sensor readings from the stream in DynamoDB and publishes their metric',
      defaultTimeout: Duration.seconds(60),
      settings: {
        tableName: pipeline.table.tableName,
        deadLetterTarget: deadLetter.target,
        metricsMode,
        metricNamespace,
        metricName: props.metricName ?? defaultOf(PROCESSOR_SETTINGS.metricName),
        metricDimensionName: props.metricDimensionName ?? defaultOf(PROCESSOR_SETTINGS.metricDimensionName),
        writeConcurrency: props.writeConcurrency ?? defaultOf(PROCESSOR_SETTINGS.writeConcurrency),
        ...withDefaults(pipeline.payloadMapping),
        maxSensorIdLength: pipeline.maxSensorIdLength,
        payloadSchemaFile: pipeline.payloadSchema ? PAYLOAD_SCHEMA_FILE_NAME : '',
      },
      // Beside the code: a schema of up to 64 KiB does not fit the 4 KiB of the environment.
      codeFiles: pipeline.payloadSchema ? { [PAYLOAD_SCHEMA_FILE_NAME]: pipeline.payloadSchema.json } : undefined,
    });
    deadLetter.grant(fn);

    // Puts only: the processor never reads, updates or deletes readings.
    pipeline.table.grant(fn, 'dynamodb:BatchWriteItem', 'dynamodb:PutItem');
    if (pipeline.table.encryptionKey) {
      pipeline.table.encryptionKey.grantEncryptDecrypt(fn);
      suppressKeyGrants(fn);
    }
    if (metricsMode === MetricsMode.PUT_METRIC_DATA) {
      // PutMetricData has no resource-level permissions; the condition keeps the grant to one namespace.
      fn.addToRolePolicy(new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': metricNamespace } },
      }));
      suppressOnPrincipalPolicy(fn, [{
        id: 'AwsSolutions-IAM5',
        reason: 'cloudwatch:PutMetricData has no resource-level permissions, so its resource is *; '
          + 'the cloudwatch:namespace condition holds the statement to the processor\'s one namespace.',
        appliesTo: ['Resource::*'],
      }]);
    }
    const { failedBatchesQueue, replayFunction } = attachToStream(scope, fn, pipeline.stream, props, {
      batchSize: 500,
      maxBatchingWindow: Duration.seconds(1),
      encryptionKey: pipeline.encryptionKey,
      handlerOptions: props,
    });
    return {
      lambdaFunction: fn,
      deadLetterQueue: deadLetter.queue,
      failedBatchesQueue,
      replayFunction,
      deadLettersMetric: deadLetter.queue
        ? deadLetter.queue.metricNumberOfMessagesSent({ statistic: cloudwatch.Stats.SUM })
        : logMetric(fn, 'DeadLetters', LOG_METRICS.deadLettered),
      readingsStoredMetric: logMetric(fn, 'ReadingsStored', LOG_METRICS.readingsStored),
      sensorMetric: metricsMode === MetricsMode.NONE ? undefined : {
        namespace: metricNamespace,
        metricName: props.metricName ?? defaultOf(PROCESSOR_SETTINGS.metricName),
        dimensionName: props.metricDimensionName ?? defaultOf(PROCESSOR_SETTINGS.metricDimensionName),
      },
    };
  }
}

// CloudWatch's naming rules (API Reference, MetricDatum and Dimension; User Guide, "Namespaces").
const CLOUDWATCH_NAMESPACE = /^(?!:)[0-9A-Za-z.\-_/#: ]{1,255}$/;
const CLOUDWATCH_METRIC_NAME = /^[^\u0000-\u001f\u007f]{1,255}$/u;
const CLOUDWATCH_DIMENSION_NAME = /^(?!:)(?=.*[^ ])[\u0020-\u007e]{1,255}$/;

function validateMetricName(prop: string, value: string | undefined, rule: RegExp, expected: string): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!rule.test(value)) throw new Error(`${prop} must be a CloudWatch name ${expected}, got ${JSON.stringify(value)}`);
}

function validateProcessorProps(props: DynamoDbProcessorProps): void {
  const name = 'DynamoDbProcessorProps';
  validateConsumerOptions(name, props, true);
  validateHandlerOptions(name, props);
  // The writer keeps the end of each invocation free (WRITER_RESERVE_MS): a
  // timeout close to it leaves no time to write, and every batch would fail.
  validateDuration(`${name}.timeout`, props.timeout, Duration.millis(MIN_PROCESSOR_TIMEOUT_MS), Duration.minutes(15),
    `the processor keeps the last ${WRITER_RESERVE_MS / 1000} s of each invocation for a request in flight, the dead letters and the metric`);
  validateInteger(`${name}.writeConcurrency`, props.writeConcurrency, 1, 50);
  validateNonEmpty(`${name}.metricNamespace`, props.metricNamespace);
  validateNonEmpty(`${name}.metricName`, props.metricName);
  validateNonEmpty(`${name}.metricDimensionName`, props.metricDimensionName);
  if (props.metricNamespace && !Token.isUnresolved(props.metricNamespace) && props.metricNamespace.startsWith('AWS/')) {
    throw new Error(`${name}.metricNamespace must not start with "AWS/" (reserved by AWS), got ${props.metricNamespace}`);
  }
  // CloudWatch refuses every request, and drops every EMF line, that names
  // a namespace, metric or dimension against its rules: no metric at all.
  validateMetricName(`${name}.metricNamespace`, props.metricNamespace, CLOUDWATCH_NAMESPACE,
    'of letters, digits, spaces and . - _ / # :, not starting with ":", 1 to 255 characters');
  validateMetricName(`${name}.metricName`, props.metricName, CLOUDWATCH_METRIC_NAME, 'of 1 to 255 characters, none a control character');
  validateMetricName(`${name}.metricDimensionName`, props.metricDimensionName, CLOUDWATCH_DIMENSION_NAME,
    'of 1 to 255 ASCII characters, none a control character, not only spaces, not starting with ":"');
  if ((props.metricsMode ?? MetricsMode.EMBEDDED_METRIC_FORMAT) === MetricsMode.EMBEDDED_METRIC_FORMAT) {
    // An EMF line holds the metric's values and the dimension's value as members
    // of one JSON object, beside the "_aws" metadata: the three keys must differ.
    const metricName = props.metricName ?? defaultOf(PROCESSOR_SETTINGS.metricName);
    const dimensionName = props.metricDimensionName ?? defaultOf(PROCESSOR_SETTINGS.metricDimensionName);
    if (!Token.isUnresolved(metricName) && !Token.isUnresolved(dimensionName)) {
      if (metricName === dimensionName) {
        throw new Error(`${name}.metricDimensionName must differ from metricName with MetricsMode.EMBEDDED_METRIC_FORMAT (both are keys of each EMF line), got "${dimensionName}" for both`);
      }
      for (const [prop, value] of [['metricName', metricName], ['metricDimensionName', dimensionName]]) {
        if (value === '_aws') throw new Error(`${name}.${prop} must not be "_aws" with MetricsMode.EMBEDDED_METRIC_FORMAT (the key of each EMF line's metadata)`);
      }
    }
  }
}

/** Options for a processor that is a function of your own. */
export interface FunctionProcessorOptions extends StreamConsumerOptions {
  /**
   * Grant the function read and write access to the table, and set its
   * `TABLE_NAME` environment variable (when it is a `lambda.Function`).
   *
   * @default true
   */
  readonly grantTableAccess?: boolean;
}

/**
 * A function of your own as the processor: the pipeline attaches it to the
 * stream and grants it the table.
 */
export class FunctionProcessor implements IIngestProcessor {
  constructor(private readonly fn: lambda.IFunction, private readonly options: FunctionProcessorOptions = {}) {
    validateConsumerOptions('FunctionProcessorOptions', options, false);
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): ProcessorBinding {
    if (this.options.grantTableAccess ?? true) {
      pipeline.table.grantReadWriteData(this.fn);
      if (this.fn instanceof lambda.Function) this.fn.addEnvironment(PROCESSOR_SETTINGS.tableName.variable, pipeline.table.tableName);
    }
    const { failedBatchesQueue, replayFunction } = attachToStream(scope, this.fn, pipeline.stream, this.options, {
      batchSize: 100,
      encryptionKey: pipeline.encryptionKey,
    });
    return { lambdaFunction: this.fn, failedBatchesQueue, replayFunction };
  }
}

/** The built-in processors. */
export abstract class IngestProcessor {
  /** The DynamoDB + CloudWatch-metrics processor (the pipeline's default). */
  public static dynamoDb(props?: DynamoDbProcessorProps): IIngestProcessor {
    return new DynamoDbProcessor(props);
  }

  /** A function of your own, attached to the stream and granted the table. */
  public static fromFunction(fn: lambda.IFunction, options?: FunctionProcessorOptions): IIngestProcessor {
    return new FunctionProcessor(fn, options);
  }

  private constructor() {}
}
