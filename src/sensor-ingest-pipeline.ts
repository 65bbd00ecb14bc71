import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Archiver } from './archivers';
import { IIngress, Ingress, IngressBinding } from './ingress';
import { HandlerFunctionOptions } from './options';
import { PayloadMapping } from './payload-mapping';
import { PayloadSchema } from './payload-schema';
import { ArchiverBinding, IArchiver, IIngestProcessor, ISensorIngestPipeline, ProcessorBinding } from './pipeline-interfaces';
import { PipelineAlarmsProps } from './pipeline-monitoring';
import { PipelineDashboard } from './private/dashboard';
import { defaultOf, PAYLOAD_SETTINGS, QUERY_SETTINGS } from './private/handler-contract';
import { createBundledFunction, validateHandlerOptions } from './private/handler-function';
import { PipelineAlarms, validateAlarmsProps } from './private/monitoring';
import { suppressKeyGrants, suppressNag } from './private/nag';
import { validatePayloadMapping, withDefaults } from './private/payload';
import { validateDuration, validateInteger } from './private/validation';
import { IngestProcessor } from './processors';
import { IQueryEndpoint, QueryEndpoint, QueryEndpointBinding } from './query-endpoint';

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
   * Encryption of a new stream. `StreamEncryption.KMS` needs `encryptionKey`.
   *
   * @default - `StreamEncryption.KMS` with `encryptionKey` when one is given, else `StreamEncryption.MANAGED` (the AWS-managed `aws/kinesis` key)
   */
  readonly streamEncryption?: kinesis.StreamEncryption;

  /**
   * A customer-managed KMS key for everything the pipeline and its built-in
   * parts create: the stream, the table, the dead-letter and failed-batches
   * queues and the archive bucket (its access-log bucket excepted: S3 log
   * delivery takes no KMS key). The functions are granted its use; devices
   * are granted it by `grantPutRecords`.
   *
   * @default - AWS-managed keys: `aws/kinesis`, `aws/dynamodb`, SQS-managed and S3-managed encryption
   */
  readonly encryptionKey?: kms.IKey;

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
   * A JSON Schema (draft 2020-12) every reading must meet, beside the payload
   * mapping's own checks: `PayloadSchema.fromObject({...})` or
   * `PayloadSchema.fromJson('...')`, up to 64 KiB. The processor dead-letters
   * a reading it refuses, the reason naming the JSON pointer and the keyword
   * that failed. Checked at synth.
   *
   * @default - no schema: the payload mapping's checks alone
   */
  readonly payloadSchema?: PayloadSchema;

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
   * What brings device messages onto the stream, beside producers granted
   * `grantPutRecords`: for example `Ingress.iotTopicRule({ sql })`, an AWS IoT
   * Core topic rule. None by default: which topic devices publish on is a
   * contract between you and your devices that the pipeline cannot guess,
   * and devices need IoT things, certificates and policies that are yours to
   * manage; many pipelines are fed by other producers anyway.
   *
   * @default Ingress.none()
   */
  readonly ingress?: IIngress;

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

  /**
   * Publishes the query function over HTTP: `QueryEndpoint.functionUrl()`
   * (IAM auth) or `QueryEndpoint.httpApi()` (IAM or JWT authorizer). None by
   * default, so that nothing is reachable over HTTP unless asked for; the
   * function can always be invoked with the Lambda API.
   *
   * @default QueryEndpoint.none()
   */
  readonly queryEndpoint?: IQueryEndpoint;

  /**
   * CloudWatch alarms on each sign of trouble (see `PipelineAlarmsProps`),
   * and a composite "pipeline unhealthy" alarm over them to page on.
   *
   * @default - every alarm, with no action
   */
  readonly alarms?: PipelineAlarmsProps;

  /**
   * Create a CloudWatch dashboard of the pipeline: records in, iterator age,
   * readings stored, dead letters and failed batches, invocations, errors and
   * duration per function, archive objects, the sensor metric of the busiest
   * sensors, and the alarms.
   *
   * @default false
   */
  readonly dashboard?: boolean;

  /**
   * The dashboard's name (only with `dashboard`).
   *
   * @default - a name CloudFormation makes
   */
  readonly dashboardName?: string;
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
  /** The JSON Schema every reading must meet, when there is one. */
  public readonly payloadSchema?: PayloadSchema;
  /** What happens to the stateful resources the pipeline creates when they leave the stack. */
  public readonly removalPolicy: RemovalPolicy;
  /** What the pipeline's processor built: its function, dead-letter queue, failed-batches queue and replay function. */
  public readonly processorBinding: ProcessorBinding;
  /** What the archiver built: its function, bucket, failed-batches queue and replay function, where it has them. */
  public readonly archiverBinding: ArchiverBinding;
  /** The function that stores readings. */
  public readonly processorFunction: lambda.IFunction;
  /** The processor's dead-letter queue, where records that fail validation go, when that is a queue. */
  public readonly deadLetterQueue?: sqs.IQueue;
  /**
   * The function that replays the processor's failed batches from the stream
   * into the processor, invoked by hand (`aws lambda invoke --function-name
   * <its name> out.json`), when the pipeline created the failed-batches queue.
   */
  public readonly processorReplayFunction?: lambda.IFunction;
  /** The function that archives raw records, unless archiving is off or done without Lambda. */
  public readonly archiverFunction?: lambda.IFunction;
  /**
   * The function that replays the archiver's failed batches from the stream
   * into the archiver, invoked by hand, when the pipeline created the
   * failed-batches queue.
   */
  public readonly archiverReplayFunction?: lambda.IFunction;
  /** The bucket holding the archive, unless archiving is off. */
  public readonly archiveBucket?: s3.IBucket;
  /** The function that answers queries for a sensor's readings. */
  public readonly queryFunction: lambda.IFunction;
  /** What the ingress built: its topic rule, role and error log, where it has them. */
  public readonly ingressBinding: IngressBinding;
  /** What the query endpoint built: its URL, Function URL or HTTP API, where it has them. */
  public readonly queryEndpointBinding: QueryEndpointBinding;
  /** The URL of the query endpoint, when there is one. */
  public readonly queryUrl?: string;
  /** The customer-managed key of what the pipeline creates, when one was given. */
  public readonly encryptionKey?: kms.IKey;
  /** The composite alarm that fires when any alarm of the pipeline does, unless alarms are off. */
  public readonly unhealthyAlarm?: cloudwatch.CompositeAlarm;
  /** The dashboard, when one was asked for. */
  public readonly dashboard?: cloudwatch.Dashboard;

  private readonly added: ProcessorBinding[] = [];
  private readonly monitor?: PipelineAlarms;
  private readonly board?: PipelineDashboard;

  constructor(scope: Construct, id: string, props: SensorIngestPipelineProps = {}) {
    super(scope, id);
    validatePipelineProps(props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.removalPolicy = removalPolicy;
    this.payloadMapping = withDefaults(props.payloadMapping);
    this.maxSensorIdLength = props.maxSensorIdLength ?? defaultOf(PAYLOAD_SETTINGS.maxSensorIdLength);
    this.payloadSchema = props.payloadSchema;
    this.encryptionKey = props.encryptionKey;

    this.stream = props.stream ?? this.createStream(props, removalPolicy);
    this.table = props.table ?? new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'SensorId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'Timestamp', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: props.encryptionKey ? dynamodb.TableEncryption.CUSTOMER_MANAGED : dynamodb.TableEncryption.AWS_MANAGED,
      encryptionKey: props.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery ?? true },
      removalPolicy,
    });

    if (props.alarms?.enabled !== false) {
      // A stream of your own: its retention is unknown here, so the 24-hour minimum is assumed.
      const retention = props.stream ? Duration.hours(24) : props.retentionPeriod ?? Duration.hours(24);
      this.monitor = new PipelineAlarms(this, 'Alarms', props.alarms ?? {}, retention);
      this.monitor.addStream(this.stream);
      this.monitor.addTable(this.table);
    }
    if (props.dashboard) {
      this.board = new PipelineDashboard(this, 'Dashboard', { dashboardName: props.dashboardName, stream: this.stream });
      this.dashboard = this.board.dashboard;
    }

    const ingress = (props.ingress ?? Ingress.none()).bind(new Construct(this, 'Ingress'), this);
    this.ingressBinding = ingress;
    if (ingress.failedMessagesMetric) this.monitor?.addIngress(ingress.failedMessagesMetric);
    this.board?.addIngress(ingress.receivedMessagesMetric, ingress.failedMessagesMetric);

    const processor = (props.processor ?? IngestProcessor.dynamoDb()).bind(new Construct(this, 'Processor'), this);
    this.processorBinding = processor;
    this.processorFunction = processor.lambdaFunction;
    this.processorReplayFunction = processor.replayFunction;
    this.deadLetterQueue = processor.deadLetterQueue;
    this.monitorProcessor('Processor', 'the processor', processor);

    const archive = (props.archiver ?? Archiver.s3()).bind(new Construct(this, 'Archiver'), this);
    this.archiverBinding = archive;
    this.archiverFunction = archive.lambdaFunction;
    this.archiverReplayFunction = archive.replayFunction;
    this.archiveBucket = archive.bucket;
    if (archive.lambdaFunction) {
      this.monitor?.addConsumer({ id: 'Archiver', label: 'the archiver', fn: archive.lambdaFunction, failedBatchesQueue: archive.failedBatchesQueue },
        this.stream.streamName);
      this.board?.addPart({ label: 'archiver', fn: archive.lambdaFunction, consumer: true });
    }
    if (archive.failedBatchesQueue) this.board?.addRejected('archiver failed batches', archive.failedBatchesQueue.metricNumberOfMessagesSent());
    if (archive.archiveObjectsMetric) this.board?.addArchiveObjects(archive.deliveryStream ? 'records delivered' : 'objects', archive.archiveObjectsMetric);
    if (archive.deliveryStream) {
      this.monitor?.addDeliveryStream(archive.deliveryStream);
      this.board?.addDeliveryStream(archive.deliveryStream);
    }
    if (archive.rejectedRecordsMetric) {
      this.monitor?.addArchiveRejectedRecords(archive.rejectedRecordsMetric);
      this.board?.addRejected('archive rejected records', archive.rejectedRecordsMetric);
    }

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
    this.monitor?.addFunction('Query', 'the query function', this.queryFunction);
    this.board?.addPart({ label: 'query', fn: this.queryFunction, consumer: false });

    const endpoint = (props.queryEndpoint ?? QueryEndpoint.none()).bind(new Construct(this, 'QueryEndpoint'), this.queryFunction);
    this.queryEndpointBinding = endpoint;
    this.queryUrl = endpoint.url;
    if (endpoint.serverErrorsMetric) {
      this.monitor?.addQueryEndpoint(endpoint.serverErrorsMetric);
      this.board?.addQueryEndpoint(endpoint.serverErrorsMetric);
    }

    // With every alarm turned off one by one there is nothing to watch.
    if (this.monitor && this.monitor.created.length > 0) {
      this.unhealthyAlarm = this.monitor.addComposite();
      this.board?.addAlarms(this.monitor.created);
    }
  }

  /** The pipeline's alarms (the composite `unhealthyAlarm` excepted), those of processors added later included. */
  public get alarms(): cloudwatch.Alarm[] {
    return [...(this.monitor?.created ?? [])];
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
    this.monitorProcessor(id, `the processor ${id}`, binding);
    return binding;
  }

  /**
   * The per-sensor metric of one sensor, as the pipeline's processor
   * publishes it (for an alarm on a sensor's readings, say).
   *
   * @param sensorId the sensor
   */
  public metricSensor(sensorId: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    const metric = this.processorBinding.sensorMetric;
    if (!metric) throw new Error('SensorIngestPipeline.metricSensor: the processor publishes no per-sensor metric (MetricsMode.NONE or a processor of your own)');
    return new cloudwatch.Metric({
      namespace: metric.namespace,
      metricName: metric.metricName,
      dimensionsMap: { [metric.dimensionName]: sensorId },
      statistic: cloudwatch.Stats.AVERAGE,
      ...props,
    });
  }

  /** Allows `grantee` to put records on the stream (kinesis:PutRecord, PutRecords, ListShards; the key's use when it is a customer-managed one). */
  public grantPutRecords(grantee: iam.IGrantable): iam.Grant {
    const grant = this.stream.grantWrite(grantee);
    if (this.stream.encryptionKey) suppressKeyGrants(grantee);
    return grant;
  }

  /**
   * Allows `grantee` to run queries, whichever way the query function is
   * published: to invoke it with the Lambda API (`lambda:InvokeFunction` on
   * this function only: it has no version or alias, so no `:*` wildcard);
   * through a Function URL with IAM auth (`lambda:InvokeFunctionUrl`); through
   * an IAM-authorized HTTP API (`execute-api:Invoke` on its query routes). A
   * role or user gets statements in its own policy; any other principal gets
   * a resource policy on the function. Callers of an endpoint authorized by
   * tokens (JWT) need no grant.
   */
  public grantQuery(grantee: iam.IGrantable): iam.Grant {
    let grant = iam.Grant.addToPrincipal({ grantee, actions: ['lambda:InvokeFunction'], resourceArns: [this.queryFunction.functionArn] });
    if (!grant.success) grant = this.queryFunction.grantInvoke(grantee);
    const endpoint = this.queryEndpointBinding;
    if (endpoint.functionUrl) grant = grant.combine(endpoint.functionUrl.grantInvokeUrl(grantee));
    if (endpoint.invokeArns && endpoint.invokeArns.length > 0) {
      grant = grant.combine(iam.Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: endpoint.invokeArns }));
    }
    return grant;
  }

  /** Allows `grantee` to read the stored readings directly from the table (Query, GetItem, ...). */
  public grantReadData(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadData(grantee);
  }

  private monitorProcessor(id: string, label: string, binding: ProcessorBinding): void {
    const fn = binding.lambdaFunction;
    this.monitor?.addConsumer({ id, label, fn, failedBatchesQueue: binding.failedBatchesQueue, deadLettersMetric: binding.deadLettersMetric },
      this.stream.streamName);
    const name = id === 'Processor' ? 'processor' : id;
    this.board?.addPart({ label: name, fn, consumer: true });
    if (binding.readingsStoredMetric) this.board?.addReadingsStored(name, binding.readingsStoredMetric);
    if (binding.deadLettersMetric) this.board?.addRejected(`${name} dead letters`, binding.deadLettersMetric);
    if (binding.failedBatchesQueue) this.board?.addRejected(`${name} failed batches`, binding.failedBatchesQueue.metricNumberOfMessagesSent());
    if (binding.sensorMetric) this.board?.addSensorMetric(binding.sensorMetric);
  }

  private createStream(props: SensorIngestPipelineProps, removalPolicy: RemovalPolicy): kinesis.Stream {
    const onDemand = props.streamMode === kinesis.StreamMode.ON_DEMAND;
    const stream = new kinesis.Stream(this, 'Stream', {
      streamMode: props.streamMode ?? kinesis.StreamMode.PROVISIONED,
      shardCount: onDemand ? undefined : props.shardCount ?? 1,
      retentionPeriod: props.retentionPeriod ?? Duration.hours(24),
      encryption: props.streamEncryption ?? (props.encryptionKey ? kinesis.StreamEncryption.KMS : kinesis.StreamEncryption.MANAGED),
      encryptionKey: props.encryptionKey,
      removalPolicy,
    });
    if (props.encryptionKey) {
      suppressNag(stream, [{
        id: 'AwsSolutions-KDS3',
        reason: 'The stream is encrypted with the customer-managed key given as SensorIngestPipelineProps.encryptionKey, '
          + 'which the user asked for instead of aws/kinesis, accepting its per-request KMS cost.',
      }]);
    }
    return stream;
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
  if (props.streamEncryption === kinesis.StreamEncryption.KMS && !props.encryptionKey) {
    throw new Error(`${name}.streamEncryption KMS needs ${name}.encryptionKey, the customer-managed key to encrypt with`);
  }
  if (props.encryptionKey && props.streamEncryption !== undefined && props.streamEncryption !== kinesis.StreamEncryption.KMS) {
    throw new Error(`${name}.streamEncryption must be KMS (or unset) with ${name}.encryptionKey, got ${props.streamEncryption}`);
  }
  if (props.dashboardName !== undefined && !props.dashboard) {
    throw new Error(`${name}.dashboardName needs ${name}.dashboard: true`);
  }
  validateAlarmsProps(`${name}.alarms`, props.alarms);
  validateInteger(`${name}.shardCount`, props.shardCount, 1, 10_000);
  validateInteger(`${name}.maxSensorIdLength`, props.maxSensorIdLength, 1, 2_048);
  validatePayloadMapping(`${name}.payloadMapping`, props.payloadMapping);
  props.payloadSchema?._validate(`${name}.payloadSchema`);
  validateDuration(`${name}.retentionPeriod`, props.retentionPeriod, Duration.hours(24), Duration.days(365));
  const query = props.query ?? {};
  validateHandlerOptions(`${name}.query`, query);
  validateInteger(`${name}.query.maxLimit`, query.maxLimit, 1, 10_000);
  validateInteger(`${name}.query.defaultLimit`, query.defaultLimit, 1, query.maxLimit ?? defaultOf(QUERY_SETTINGS.maxLimit));
}
