import { Duration, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { DeadLetterDestination } from './dead-letter-destination';
import { createBundledFunction, validateHandlerOptions } from './handler-function';
import { HandlerFunctionOptions, StreamConsumerOptions } from './options';
import { IIngestProcessor, ISensorIngestPipeline, ProcessorBinding } from './pipeline-interfaces';
import { attachToStream, validateConsumerOptions } from './stream-consumer';
import { validateInteger, validateNonEmpty } from './validation';

/** How the processor publishes the per-sensor CloudWatch metric. */
export enum MetricsMode {
  /**
   * CloudWatch Embedded Metric Format: structured log lines that CloudWatch
   * turns into metrics. No API call and no `cloudwatch:PutMetricData` grant.
   */
  EMBEDDED_METRIC_FORMAT = 'EMF',
  /**
   * PutMetricData calls, as the reference, but aggregated: one datum per
   * sensor and minute, up to 1,000 data per call.
   */
  PUT_METRIC_DATA = 'PUT_METRIC_DATA',
  /** No metric. */
  NONE = 'NONE',
}

/**
 * How a device payload maps to readings. The defaults read the reference's
 * `{"sensorid": "s1", "value": 21.5, "timestamp": "2024-01-01T00:00:00Z"}`.
 */
export interface PayloadMapping {
  /**
   * The field holding the sensor (or device) id.
   *
   * @default "sensorid"
   */
  readonly sensorIdField?: string;

  /**
   * The field holding the time of the reading: ISO-8601, or epoch seconds or
   * milliseconds.
   *
   * @default "timestamp"
   */
  readonly timestampField?: string;

  /**
   * The field holding the value: a number or a numeric string. Unused when
   * `measurementFields` is set.
   *
   * @default "value"
   */
  readonly valueField?: string;

  /**
   * For records carrying several measurements: each listed field present in
   * a record becomes one reading, stored under the sensor id
   * `<id><measurementSeparator><field>`. For example `["temperature", "humidity"]`
   * turns `{"deviceId": "d1", "ts": 1700000000, "temperature": 21.5, "humidity": 40}`
   * into readings of `d1#temperature` and `d1#humidity`.
   *
   * @default - one reading per record, from `valueField`
   */
  readonly measurementFields?: string[];

  /**
   * What joins the id and the measurement name.
   *
   * @default "#"
   */
  readonly measurementSeparator?: string;
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
   * How device payloads map to readings.
   *
   * @default - the reference's fields: sensorid, value, timestamp
   */
  readonly payloadMapping?: PayloadMapping;

  /**
   * The longest sensor id accepted, in UTF-8 bytes (DynamoDB allows 2,048 for
   * a partition key). Longer ids are dead-lettered.
   *
   * @default 256
   */
  readonly maxSensorIdLength?: number;

  /**
   * Where records that fail validation go, with the reason.
   *
   * @default DeadLetterDestination.queue() - a new encrypted SQS queue
   */
  readonly deadLetterDestination?: DeadLetterDestination;
}

/**
 * The built-in processor: validates each record, stores readings in the
 * table with BatchWriteItem (25 per call, throttled writes retried with
 * backoff and jitter), publishes the per-sensor metric, sends invalid records
 * to a dead-letter destination, and reports partial batch failures so that a
 * shard never stalls.
 */
export class DynamoDbProcessor implements IIngestProcessor {
  constructor(private readonly props: DynamoDbProcessorProps = {}) {
    validateProcessorProps(props);
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): ProcessorBinding {
    const props = this.props;
    const mode = props.metricsMode ?? MetricsMode.EMBEDDED_METRIC_FORMAT;
    const mapping = props.payloadMapping ?? {};
    const fn = createBundledFunction(scope, 'Function', {
      ...props,
      handler: 'processor',
      description: 'Stores sensor readings from the stream in DynamoDB and publishes their metric',
      defaultTimeout: Duration.seconds(60),
      environment: {
        TABLE_NAME: pipeline.table.tableName,
        METRICS_MODE: mode,
        METRICS_NAMESPACE: props.metricNamespace ?? 'Sensors',
        METRIC_NAME: props.metricName ?? 'SensorData',
        METRIC_DIMENSION_NAME: props.metricDimensionName ?? 'SensorId',
        MAX_SENSOR_ID_LENGTH: String(props.maxSensorIdLength ?? 256),
        ...(mapping.sensorIdField ? { PAYLOAD_SENSOR_ID_FIELD: mapping.sensorIdField } : {}),
        ...(mapping.timestampField ? { PAYLOAD_TIMESTAMP_FIELD: mapping.timestampField } : {}),
        ...(mapping.valueField ? { PAYLOAD_VALUE_FIELD: mapping.valueField } : {}),
        ...(mapping.measurementFields?.length ? { PAYLOAD_MEASUREMENT_FIELDS: mapping.measurementFields.join(',') } : {}),
        ...(mapping.measurementSeparator ? { PAYLOAD_MEASUREMENT_SEPARATOR: mapping.measurementSeparator } : {}),
      },
    });
    const deadLetter = (props.deadLetterDestination ?? DeadLetterDestination.queue())._bind(scope, fn);
    for (const [key, value] of Object.entries(deadLetter.environment)) fn.addEnvironment(key, value);

    // Puts only: the processor never reads, updates or deletes readings.
    pipeline.table.grant(fn, 'dynamodb:BatchWriteItem', 'dynamodb:PutItem');
    if (pipeline.table.encryptionKey) pipeline.table.encryptionKey.grantEncryptDecrypt(fn);
    if (mode === MetricsMode.PUT_METRIC_DATA) {
      // PutMetricData has no resource-level permissions; the condition keeps the grant to one namespace.
      fn.addToRolePolicy(new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': props.metricNamespace ?? 'Sensors' } },
      }));
    }
    const failedBatchesQueue = attachToStream(scope, fn, pipeline.stream, props, {
      batchSize: 500,
      maxBatchingWindow: Duration.seconds(1),
    });
    return { lambdaFunction: fn, deadLetterQueue: deadLetter.queue, failedBatchesQueue };
  }
}

function validateProcessorProps(props: DynamoDbProcessorProps): void {
  const name = 'DynamoDbProcessorProps';
  validateConsumerOptions(name, props);
  validateHandlerOptions(name, props);
  validateInteger(`${name}.maxSensorIdLength`, props.maxSensorIdLength, 1, 2_048);
  validateNonEmpty(`${name}.metricNamespace`, props.metricNamespace);
  validateNonEmpty(`${name}.metricName`, props.metricName);
  validateNonEmpty(`${name}.metricDimensionName`, props.metricDimensionName);
  if (props.metricNamespace && !Token.isUnresolved(props.metricNamespace) && props.metricNamespace.startsWith('AWS/')) {
    throw new Error(`${name}.metricNamespace must not start with "AWS/" (reserved by AWS), got ${props.metricNamespace}`);
  }
  const mapping = props.payloadMapping ?? {};
  for (const field of ['sensorIdField', 'timestampField', 'valueField', 'measurementSeparator'] as const) {
    validateNonEmpty(`${name}.payloadMapping.${field}`, mapping[field]);
  }
  for (const field of mapping.measurementFields ?? []) {
    if (Token.isUnresolved(field)) continue;
    if (field.trim().length === 0 || field.includes(',')) {
      throw new Error(`${name}.payloadMapping.measurementFields must hold non-empty names without commas, got "${field}"`);
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
    validateConsumerOptions('FunctionProcessorOptions', options);
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): ProcessorBinding {
    if (this.options.grantTableAccess ?? true) {
      pipeline.table.grantReadWriteData(this.fn);
      if (this.fn instanceof lambda.Function) this.fn.addEnvironment('TABLE_NAME', pipeline.table.tableName);
    }
    const failedBatchesQueue = attachToStream(scope, this.fn, pipeline.stream, this.options, { batchSize: 100 });
    return { lambdaFunction: this.fn, failedBatchesQueue };
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
