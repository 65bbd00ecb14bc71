import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Archiver } from './archivers';
import { HandlerFunctionOptions } from './options';
import { PayloadMapping } from './payload-mapping';
import { ArchiverBinding, IArchiver, IIngestProcessor, ISensorIngestPipeline, ProcessorBinding } from './pipeline-interfaces';
import { defaultOf, PAYLOAD_SETTINGS, QUERY_SETTINGS } from './private/handler-contract';
import { createBundledFunction, validateHandlerOptions } from './private/handler-function';
import { validatePayloadMapping, withDefaults } from './private/payload';
import { validateDuration, validateInteger } from './private/validation';
import { IngestProcessor } from './processors';

/** Props of the query function. */
export interface SensorQueryOptions extends HandlerFunctionOptions {
  /**
   * Readings returned when a request names no limit.
   *
   * @default 20
   */
  readonly defaultLimit?: number;

  /**
   * The largest limit a request may ask for (at most 10,000).
   *
   * @default 1000
   */
  readonly maxLimit?: number;
}

/** Props of `SensorIngestPipeline`. Every one is optional. */
export interface SensorIngestPipelineProps {
  /**
   * A stream of your own. When set, the stream props below must not be.
   *
   * @default - a new stream, configured by the props below
   */
  readonly stream?: kinesis.IStream;

  /**
   * Capacity mode of a new stream.
   *
   * @default kinesis.StreamMode.PROVISIONED
   */
  readonly streamMode?: kinesis.StreamMode;

  /**
   * Shards of a new provisioned stream (not with `StreamMode.ON_DEMAND`).
   *
   * @default 1
   */
  readonly shardCount?: number;

  /**
   * How long a new stream keeps records: 24 hours to 365 days.
   *
   * @default Duration.hours(24)
   */
  readonly retentionPeriod?: Duration;

  /**
   * Encryption of a new stream.
   *
   * @default kinesis.StreamEncryption.MANAGED - the AWS-managed `aws/kinesis` KMS key
   */
  readonly streamEncryption?: kinesis.StreamEncryption;

  /**
   * A table of your own, with partition key `SensorId` (S) and sort key
   * `Timestamp` (S). When set, `pointInTimeRecovery` must not be.
   *
   * @default - a new on-demand table, encrypted with the AWS-managed KMS key
   */
  readonly table?: dynamodb.ITable;

  /**
   * Point-in-time recovery of a new table.
   *
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;

  /**
   * What happens to the stateful resources the pipeline and its built-in
   * parts create (stream, table, archive bucket) when they leave the stack.
   * An archiver's own `removalPolicy` overrides it for its bucket.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * How device payloads map to readings: the processor reads readings with
   * it, the archiver partitions the archive by its timestamp field, and the
   * query function accepts the sensor ids it produces.
   *
   * @default - fields `sensorid`, `value` and `timestamp`, one reading per record
   */
  readonly payloadMapping?: PayloadMapping;

  /**
   * The longest sensor id the pipeline accepts, in UTF-8 bytes, from 1 to
   * 2,048 (DynamoDB's limit for a partition key). The processor sends records
   * with longer ids to the dead-letter destination; the query function answers
   * 400 for them.
   *
   * @default 256
   */
  readonly maxSensorIdLength?: number;

  /**
   * What stores the readings.
   *
   * @default IngestProcessor.dynamoDb()
   */
  readonly processor?: IIngestProcessor;

  /**
   * What keeps the raw data; `Archiver.none()` for no archive.
   *
   * @default Archiver.s3()
   */
  readonly archiver?: IArchiver;

  /**
   * The query function.
   *
   * @default - 20 readings by default, at most 1,000
   */
  readonly query?: SensorQueryOptions;
}

/**
 * The serverless IoT sensor-data backend, from device readings to a queryable history.
 *
 * Devices put JSON readings on a Kinesis stream; a processor stores them in
 * DynamoDB and publishes a per-sensor CloudWatch metric; an archiver keeps the
 * raw data in S3; a query function returns a sensor's newest readings.
 *
 * @example
 * import { SensorIngestPipeline } from 'cdk-iot-ingest';
 *
 * const pipeline = new SensorIngestPipeline(this, 'Pipeline');
 */
export class SensorIngestPipeline extends Construct implements ISensorIngestPipeline {
  /** The stream devices put readings on. */
  public readonly stream: kinesis.IStream;
  /** The table readings are stored in. */
  public readonly table: dynamodb.ITable;
  /** How device payloads map to readings, every field filled in. */
  public readonly payloadMapping: PayloadMapping;
  /** The longest sensor id the pipeline accepts, in UTF-8 bytes. */
  public readonly maxSensorIdLength: number;
  /** What happens to the stateful resources the pipeline creates when they leave the stack. */
  public readonly removalPolicy: RemovalPolicy;
  /** What the pipeline's processor built: its function, dead-letter queue and failed-batches queue. */
  public readonly processorBinding: ProcessorBinding;
  /** What the archiver built: its function, bucket and failed-batches queue, where it has them. */
  public readonly archiverBinding: ArchiverBinding;
  /** The function that stores readings. */
  public readonly processorFunction: lambda.IFunction;
  /** The processor's dead-letter queue, where records that fail validation go, when that is a queue. */
  public readonly deadLetterQueue?: sqs.IQueue;
  /** The function that archives raw records, unless archiving is off or done without Lambda. */
  public readonly archiverFunction?: lambda.IFunction;
  /** The bucket holding the archive, unless archiving is off. */
  public readonly archiveBucket?: s3.IBucket;
  /** The function that answers queries for a sensor's readings. */
  public readonly queryFunction: lambda.IFunction;

  private readonly added: ProcessorBinding[] = [];

  constructor(scope: Construct, id: string, props: SensorIngestPipelineProps = {}) {
    super(scope, id);
    validatePipelineProps(props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.removalPolicy = removalPolicy;
    this.payloadMapping = withDefaults(props.payloadMapping);
    this.maxSensorIdLength = props.maxSensorIdLength ?? defaultOf(PAYLOAD_SETTINGS.maxSensorIdLength);

    this.stream = props.stream ?? this.createStream(props, removalPolicy);
    this.table = props.table ?? new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'SensorId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'Timestamp', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      removalPolicy,
    });

    const processor = (props.processor ?? IngestProcessor.dynamoDb()).bind(new Construct(this, 'Processor'), this);
    this.processorBinding = processor;
    this.processorFunction = processor.lambdaFunction;
    this.deadLetterQueue = processor.deadLetterQueue;

    const archive = (props.archiver ?? Archiver.s3()).bind(new Construct(this, 'Archiver'), this);
    this.archiverBinding = archive;
    this.archiverFunction = archive.lambdaFunction;
    this.archiveBucket = archive.bucket;

    const query = props.query ?? {};
    this.queryFunction = createBundledFunction(this, 'QueryFunction', {
      ...query,
      handler: 'query',
      description: "Returns a sensor's newest readings",
      defaultTimeout: Duration.seconds(10),
      settings: {
        tableName: this.table.tableName,
        defaultLimit: query.defaultLimit ?? defaultOf(QUERY_SETTINGS.defaultLimit),
        maxLimit: query.maxLimit ?? defaultOf(QUERY_SETTINGS.maxLimit),
        maxSensorIdLength: this.maxSensorIdLength,
      },
    });
    this.table.grant(this.queryFunction, 'dynamodb:Query');
    this.table.encryptionKey?.grantDecrypt(this.queryFunction);
  }

  /** The processors added with `addProcessor`, in the order they were added. */
  public get additionalProcessors(): ProcessorBinding[] {
    return [...this.added];
  }

  /**
   * Plugs in one more processor of the stream, beside the pipeline's own.
   *
   * @param id a construct id for the processor's resources, unique in this pipeline
   */
  public addProcessor(id: string, processor: IIngestProcessor): ProcessorBinding {
    const binding = processor.bind(new Construct(this, id), this);
    this.added.push(binding);
    return binding;
  }

  /** Allows `grantee` to put records on the stream (kinesis:PutRecord, PutRecords, ListShards). */
  public grantPutRecords(grantee: iam.IGrantable): iam.Grant {
    return this.stream.grantWrite(grantee);
  }

  /** Allows `grantee` to invoke the query function. */
  public grantQuery(grantee: iam.IGrantable): iam.Grant {
    return this.queryFunction.grantInvoke(grantee);
  }

  /** Allows `grantee` to read the stored readings directly from the table (Query, GetItem, ...). */
  public grantReadData(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadData(grantee);
  }

  private createStream(props: SensorIngestPipelineProps, removalPolicy: RemovalPolicy): kinesis.Stream {
    const onDemand = props.streamMode === kinesis.StreamMode.ON_DEMAND;
    return new kinesis.Stream(this, 'Stream', {
      streamMode: props.streamMode ?? kinesis.StreamMode.PROVISIONED,
      shardCount: onDemand ? undefined : props.shardCount ?? 1,
      retentionPeriod: props.retentionPeriod ?? Duration.hours(24),
      encryption: props.streamEncryption ?? kinesis.StreamEncryption.MANAGED,
      removalPolicy,
    });
  }
}

function validatePipelineProps(props: SensorIngestPipelineProps): void {
  const name = 'SensorIngestPipelineProps';
  if (props.stream) {
    for (const p of ['streamMode', 'shardCount', 'retentionPeriod', 'streamEncryption'] as const) {
      if (props[p] !== undefined) throw new Error(`${name}.${p} applies only to a stream the pipeline creates; it must not be set together with ${name}.stream`);
    }
  }
  if (props.table && props.pointInTimeRecovery !== undefined) {
    throw new Error(`${name}.pointInTimeRecovery applies only to a table the pipeline creates; it must not be set together with ${name}.table`);
  }
  if (props.streamMode === kinesis.StreamMode.ON_DEMAND && props.shardCount !== undefined) {
    throw new Error(`${name}.shardCount must not be set with streamMode ON_DEMAND (on-demand streams scale their shards themselves)`);
  }
  if (props.streamEncryption === kinesis.StreamEncryption.KMS) {
    throw new Error(`${name}.streamEncryption KMS needs a key of your own: create the stream yourself and pass it as ${name}.stream`);
  }
  validateInteger(`${name}.shardCount`, props.shardCount, 1, 10_000);
  validateInteger(`${name}.maxSensorIdLength`, props.maxSensorIdLength, 1, 2_048);
  validatePayloadMapping(`${name}.payloadMapping`, props.payloadMapping);
  validateDuration(`${name}.retentionPeriod`, props.retentionPeriod, Duration.hours(24), Duration.days(365));
  const query = props.query ?? {};
  validateHandlerOptions(`${name}.query`, query);
  validateInteger(`${name}.query.maxLimit`, query.maxLimit, 1, 10_000);
  validateInteger(`${name}.query.defaultLimit`, query.defaultLimit, 1, query.maxLimit ?? defaultOf(QUERY_SETTINGS.maxLimit));
}
