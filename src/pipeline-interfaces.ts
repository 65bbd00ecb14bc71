import { RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct, IConstruct } from 'constructs';
import { PayloadMapping } from './payload-mapping';
import { PayloadSchema } from './payload-schema';

/** What processors and archivers see of the pipeline they are plugged into. */
export interface ISensorIngestPipeline extends IConstruct {
  /** The stream devices put readings on. */
  readonly stream: kinesis.IStream;
  /** The table readings are stored in: partition key `SensorId` (S), sort key `Timestamp` (S). */
  readonly table: dynamodb.ITable;
  /** How device payloads map to readings, every field filled in (defaults included). */
  readonly payloadMapping: PayloadMapping;
  /** The longest sensor id the pipeline accepts, in UTF-8 bytes. */
  readonly maxSensorIdLength: number;
  /** The JSON Schema every reading must meet, when there is one. */
  readonly payloadSchema?: PayloadSchema;
  /** What happens to the resources the pipeline and its parts create when they leave the stack. */
  readonly removalPolicy: RemovalPolicy;
  /** The customer-managed key that encrypts what the pipeline and its parts create, when there is one. */
  readonly encryptionKey?: kms.IKey;
}

/** The per-sensor CloudWatch metric a processor publishes. */
export interface SensorMetric {
  /** Its namespace. */
  readonly namespace: string;
  /** Its name. */
  readonly metricName: string;
  /** The name of its one dimension, whose value is the sensor id. */
  readonly dimensionName: string;
}

/** What a processor hands back to the pipeline once bound. */
export interface ProcessorBinding {
  /** The function that consumes the stream. */
  readonly lambdaFunction: lambda.IFunction;
  /** The dead-letter queue: where records that fail validation go, when the processor sends them to a queue. */
  readonly deadLetterQueue?: sqs.IQueue;
  /**
   * The failed-batches queue: where the event source mapping reports the
   * batches it gives up on, when the pipeline created that queue.
   */
  readonly failedBatchesQueue?: sqs.IQueue;
  /**
   * The function that replays the batches of the failed-batches queue from
   * the stream into `lambdaFunction`, invoked by hand, when the pipeline
   * created that queue.
   */
  readonly replayFunction?: lambda.IFunction;
  /** Counts the records sent to the dead-letter destination; the pipeline alarms on it. */
  readonly deadLettersMetric?: cloudwatch.IMetric;
  /** Counts the readings stored; the pipeline's dashboard shows it. */
  readonly readingsStoredMetric?: cloudwatch.IMetric;
  /** The per-sensor metric the processor publishes, when it publishes one. */
  readonly sensorMetric?: SensorMetric;
}

/**
 * A consumer of the pipeline's stream that stores readings. Implement it to
 * plug in a processor of your own; `IngestProcessor` has the built-in ones.
 */
export interface IIngestProcessor {
  /**
   * Creates the processor's resources in `scope` and wires them to the
   * pipeline's stream and table. Called once by the pipeline.
   */
  bind(scope: Construct, pipeline: ISensorIngestPipeline): ProcessorBinding;
}

/** What an archiver hands back to the pipeline once bound. */
export interface ArchiverBinding {
  /** The function that archives, when the archiver runs one. */
  readonly lambdaFunction?: lambda.IFunction;
  /** The bucket the archive is written to, when there is one. */
  readonly bucket?: s3.IBucket;
  /**
   * The failed-batches queue: where the event source mapping reports the
   * batches it gives up on, when the pipeline created that queue.
   */
  readonly failedBatchesQueue?: sqs.IQueue;
  /**
   * The function that replays the batches of the failed-batches queue from
   * the stream into `lambdaFunction`, invoked by hand, when the pipeline
   * created that queue.
   */
  readonly replayFunction?: lambda.IFunction;
  /** Counts the archive objects written (or records delivered, for an archiver that counts those); the pipeline's dashboard shows it. */
  readonly archiveObjectsMetric?: cloudwatch.IMetric;
  /**
   * The Firehose delivery stream that archives, when the archiver runs one:
   * the pipeline alarms on its data freshness and failed deliveries.
   */
  readonly deliveryStream?: firehose.IDeliveryStream;
  /**
   * Counts the records the archiver kept out of the archive's data (written
   * to an error prefix instead); the pipeline alarms on it.
   */
  readonly rejectedRecordsMetric?: cloudwatch.IMetric;
  /** The Glue database of the archive table, when the archiver made one. */
  readonly glueDatabase?: glue.CfnDatabase;
  /** The Glue table over the archive, for Athena, when the archiver made one. */
  readonly glueTable?: glue.CfnTable;
}

/**
 * Keeps the raw data of the stream. Implement it to plug in an archiver of
 * your own; `Archiver` has the built-in ones.
 */
export interface IArchiver {
  /** Creates the archiver's resources in `scope` and wires them to the pipeline's stream. Called once by the pipeline. */
  bind(scope: Construct, pipeline: ISensorIngestPipeline): ArchiverBinding;
}
