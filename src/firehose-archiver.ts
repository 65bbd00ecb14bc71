import { Aws, Duration, RemovalPolicy, Size, SizeRoundingBehavior, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ArchiveBucketOptions } from './archive-bucket-options';
import { ArchiverBinding, IArchiver, ISensorIngestPipeline } from './pipeline-interfaces';
import { archiveBucket, DEFAULT_ARCHIVE_PREFIX, validateArchiveBucketOptions } from './private/archive-bucket';
import { archiveColumns, createArchiveTable, validateGlueName } from './private/archive-table';
import { dataPrefix, errorPrefix, partitionKeys, partitionQuery } from './private/firehose-partitioning';
import { escapeRegex, findingPattern, suppressNag, suppressOnPrincipalPolicy } from './private/nag';
import { withDefaults } from './private/payload';
import { validateDuration } from './private/validation';

/** A Parquet archive with a Glue table over it, for Athena. */
export interface ParquetArchiveOptions {
  /**
   * The Glue database of the archive table: lower-case letters, digits and underscores.
   *
   * @default - a name made from the archiver's construct path
   */
  readonly databaseName?: string;

  /**
   * The archive table's name: lower-case letters, digits and underscores.
   *
   * @default "readings"
   */
  readonly tableName?: string;
}

/** Props of the Firehose archiver. */
export interface FirehoseArchiverProps extends ArchiveBucketOptions {
  /**
   * Where Firehose writes what it could not partition, convert or deliver,
   * under `<errorOutputPrefix><error type>/YYYY/MM/DD/`: each record whole
   * (base64) with the error. Records past the delivery stream's quota of
   * active partitions go under `activePartitionExceeded/`. Empty is not
   * allowed, and it must not overlap `prefix`, so that readers of the
   * archive never read errors as data.
   *
   * @default "errors/"
   */
  readonly errorOutputPrefix?: string;

  /**
   * How long Firehose gathers records of one partition before writing them,
   * 1 to 15 minutes. Longer means fewer, larger objects and a later archive.
   *
   * @default Duration.minutes(5)
   */
  readonly bufferingInterval?: Duration;

  /**
   * How much Firehose gathers for one partition before writing it, 64 to 128
   * MiB (dynamic partitioning's range), whichever of this and
   * `bufferingInterval` comes first.
   *
   * @default Size.mebibytes(128)
   */
  readonly bufferingSize?: Size;

  /**
   * Partition the archive by sensor too, under the hour:
   * `.../hour=HH/sensor=<id>/`, the id percent-encoded (as JavaScript's
   * `encodeURIComponent` does). A query of one sensor then reads only its
   * objects, but each sensor active in an interval makes an object of its
   * own, and holds an active partition (one per hour of event time its
   * readings fall in) until that object is written. A delivery stream holds
   * 500 active partitions unless its quota is raised (up to 5,000, by a
   * quota increase request); the records past it go to the error output
   * prefix under `activePartitionExceeded/`, not to the archive, and the
   * pipeline's `archivePartitionCountExceeded` alarm fires. So with more
   * than a few hundred sensors reporting within one buffering interval,
   * raise the quota before turning this on, or leave it off.
   *
   * @default false
   */
  readonly partitionBySensor?: boolean;

  /**
   * Write Apache Parquet instead of gzip-compressed JSON lines, with a Glue
   * database and table (partition projection on) so that Athena queries the
   * archive at once. Columns come from the pipeline's payload mapping:
   * `sensor_id`, `event_time` (as sent), and `value` or one column per
   * measurement field; other payload fields are not kept. Records Firehose
   * cannot convert go to the error output prefix.
   *
   * @default - gzip-compressed JSON lines, each payload exactly as the device sent it
   */
  readonly parquet?: ParquetArchiveOptions;

  /**
   * How long the delivery stream's error log (delivery and conversion errors) is kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly errorLogRetention?: logs.RetentionDays;

  /**
   * The delivery stream's name.
   *
   * @default - a name CloudFormation makes
   */
  readonly deliveryStreamName?: string;
}

/** Firehose's limit on a processor parameter, which the partitioning program is. */
const MAX_QUERY_LENGTH = 5_120;

/**
 * The Firehose archiver: an Amazon Data Firehose delivery stream reads the
 * pipeline's stream (its Kinesis source, on the stream's shared read
 * throughput) and writes to S3, with no Lambda function in the path:
 * dynamic partitioning by hour of event time, read from the payload mapping's
 * timestamp field by a JQ program the way the handlers read it, under the same
 * `<prefix>year=YYYY/month=MM/day=DD/hour=HH/` layout as the S3 archiver;
 * gzip-compressed JSON lines (or Parquet); encrypted with the pipeline's key
 * when it has one; records it cannot partition go to an error prefix.
 */
export class FirehoseArchiver implements IArchiver {
  constructor(private readonly props: FirehoseArchiverProps = {}) {
    validateFirehoseArchiverProps(props);
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): ArchiverBinding {
    const props = this.props;
    const name = 'FirehoseArchiverProps';
    const mapping = withDefaults(pipeline.payloadMapping);
    const bySensor = props.partitionBySensor ?? false;
    const prefix = props.prefix ?? DEFAULT_ARCHIVE_PREFIX;
    const errorsAt = props.errorOutputPrefix ?? 'errors/';
    const stack = Stack.of(scope);
    refuseForeignStream(pipeline, stack);

    const query = partitionQuery(mapping.timestampField, mapping.sensorIdField, bySensor);
    if (query.length > MAX_QUERY_LENGTH) {
      throw new Error(`${name}: the partitioning program for the payload mapping's fields is ${query.length} characters, over Firehose's `
        + `${MAX_QUERY_LENGTH}; shorten payloadMapping.timestampField or sensorIdField`);
    }
    const columns = props.parquet ? archiveColumns(mapping, `${name}.parquet`) : undefined;

    const bucket = archiveBucket(scope, pipeline, props, name);
    const key = bucket.encryptionKey ?? pipeline.encryptionKey;
    const logGroup = new logs.LogGroup(scope, 'DeliveryLogs', {
      retention: props.errorLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // The role is written here, statement by statement: the L2 destination
    // grants read-write on the whole bucket (deletes included) and Glue's
    // schema registry on "*", more than Firehose uses.
    const role = new iam.Role(scope, 'DeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com').withConditions({ StringEquals: { 'sts:ExternalId': stack.account } }),
      description: 'Reads the sensor stream and writes the archive (Amazon Data Firehose)',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['kinesis:DescribeStream', 'kinesis:GetShardIterator', 'kinesis:GetRecords', 'kinesis:ListShards'],
      resources: [pipeline.stream.streamArn],
    }));
    if (pipeline.stream.encryptionKey) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [pipeline.stream.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `kinesis.${Aws.REGION}.amazonaws.com` } },
      }));
    }
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
      resources: [bucket.bucketArn],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
      resources: [bucket.arnForObjects(`${prefix}*`), bucket.arnForObjects(`${errorsAt}*`)],
    }));
    if (key) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }));
    }
    logGroup.grantWrite(role);

    let table: { database: glue.CfnDatabase; table: glue.CfnTable } | undefined;
    if (props.parquet && columns) {
      table = createArchiveTable(scope, {
        bucket, prefix, columns, bySensor, databaseName: props.parquet.databaseName, tableName: props.parquet.tableName,
      });
      const databaseName = table.database.ref;
      const tableName = table.table.ref;
      role.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['glue:GetTable', 'glue:GetTableVersion', 'glue:GetTableVersions'],
        resources: [
          stack.formatArn({ service: 'glue', resource: 'catalog' }),
          stack.formatArn({ service: 'glue', resource: 'database', resourceName: databaseName }),
          stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${databaseName}/${tableName}` }),
        ],
      }));
    }
    // Firehose checks its access when the delivery stream is created: the
    // statements above must exist first, so the L2s get the role without
    // the power to add their own.
    const fixedRole = role.withoutPolicyUpdates();

    const partitioning = new firehose.MetadataExtractionProcessor(
      { metadataExtractionQuery: query, jsonParsingEngine: firehose.JsonParsingEngine.JQ_1_6 },
      partitionKeys(bySensor),
    );
    const destination = new firehose.S3Bucket(bucket, {
      role: fixedRole,
      dataOutputPrefix: dataPrefix(prefix, bySensor),
      errorOutputPrefix: errorPrefix(errorsAt),
      bufferingInterval: props.bufferingInterval ?? Duration.minutes(5),
      bufferingSize: props.bufferingSize ?? Size.mebibytes(128),
      dynamicPartitioning: { enabled: true },
      // One JSON document per line, so that readers split records; Parquet has rows of its own.
      processors: table ? [partitioning] : [partitioning, new firehose.AppendDelimiterToRecordProcessor()],
      compression: table ? undefined : firehose.Compression.GZIP,
      fileExtension: table ? '.parquet' : '.ndjson.gz',
      dataFormatConversion: table && columns ? {
        schemaConfiguration: firehose.SchemaConfiguration.fromCfnTable(table.table),
        inputFormat: new firehose.OpenXJsonInputFormat({
          lowercaseColumnNames: true,
          columnToJsonKeyMappings: Object.fromEntries(columns.map((c) => [c.name, c.field.toLowerCase()])),
        }),
        outputFormat: new firehose.ParquetOutputFormat({ compression: firehose.ParquetCompression.SNAPPY }),
      } : undefined,
      encryptionKey: key,
      loggingConfig: new firehose.EnableLogging(logGroup),
    });
    const deliveryStream = new firehose.DeliveryStream(scope, 'DeliveryStream', {
      deliveryStreamName: props.deliveryStreamName,
      source: new firehose.KinesisStreamSource(pipeline.stream),
      destination,
      role: fixedRole,
    });
    deliveryStream.node.addDependency(role.node.findChild('DefaultPolicy'));

    suppressNag(deliveryStream, [{
      id: 'AwsSolutions-KDF1',
      reason: 'Firehose refuses server-side encryption on a delivery stream whose source is a Kinesis data stream: the records are '
        + 'encrypted at rest in the source stream, and the archive objects in S3 with the bucket\'s encryption (the pipeline\'s key when it has one).',
    }]);
    suppressOnPrincipalPolicy(role, [{
      id: 'AwsSolutions-IAM5',
      reason: 'Firehose names each archive object at delivery time (partition, time and a unique suffix), so it may read, put and abort '
        + 'multipart uploads of objects under the archive prefix and the error prefix, and nowhere else in the bucket.',
      appliesTo: [prefix, errorsAt].map((p) => findingPattern(`^Resource::.*/${escapeRegex(p)}\\*$`)),
    }]);

    return {
      bucket,
      deliveryStream,
      glueDatabase: table?.database,
      glueTable: table?.table,
      rejectedRecordsMetric: table ? deliveryStream.metric('FailedConversion.Records', { statistic: cloudwatch.Stats.SUM }) : undefined,
      archiveObjectsMetric: deliveryStream.metric('DeliveryToS3.Records', { statistic: cloudwatch.Stats.SUM }),
    };
  }
}

/** A delivery stream reads a Kinesis source of its own region only; the check runs where both regions are known. */
function refuseForeignStream(pipeline: ISensorIngestPipeline, stack: Stack): void {
  const region = pipeline.stream.env.region;
  if (Token.isUnresolved(region) || Token.isUnresolved(stack.region) || region === stack.region) return;
  throw new Error(`Archiver.firehose: a Firehose delivery stream reads a Kinesis stream of its own region only; the pipeline's stream is in ${region}, `
    + `the stack in ${stack.region}. Use Archiver.s3() for a stream of another region.`);
}

function validateFirehoseArchiverProps(props: FirehoseArchiverProps): void {
  const name = 'FirehoseArchiverProps';
  validateArchiveBucketOptions(name, props);
  validateDuration(`${name}.bufferingInterval`, props.bufferingInterval, Duration.minutes(1), Duration.minutes(15));
  const size = props.bufferingSize;
  if (size && !Token.isUnresolved(size.toBytes())) {
    const mib = size.toMebibytes({ rounding: SizeRoundingBehavior.NONE });
    if (mib < 64 || mib > 128) {
      throw new Error(`${name}.bufferingSize must be from 64 to 128 MiB (dynamic partitioning's range), got ${mib} MiB`);
    }
  }
  const errorsAt = props.errorOutputPrefix;
  if (errorsAt !== undefined && !Token.isUnresolved(errorsAt) && (errorsAt.length === 0 || !errorsAt.endsWith('/') || errorsAt.includes('!{'))) {
    throw new Error(`${name}.errorOutputPrefix must be a plain prefix ending in "/" (the error type and date are added after it), got "${errorsAt}"`);
  }
  if (props.prefix !== undefined && !Token.isUnresolved(props.prefix) && props.prefix.includes('!{')) {
    throw new Error(`${name}.prefix must be a plain prefix (the partitions are added after it), got "${props.prefix}"`);
  }
  const prefix = props.prefix ?? DEFAULT_ARCHIVE_PREFIX;
  const errors = errorsAt ?? 'errors/';
  if (!Token.isUnresolved(prefix) && !Token.isUnresolved(errors) && (prefix.startsWith(errors) || errors.startsWith(prefix))) {
    throw new Error(`${name}.prefix ("${prefix}") and ${name}.errorOutputPrefix ("${errors}") must not contain one another: `
      + 'readers of the archive would read error records as data');
  }
  const streamName = props.deliveryStreamName;
  if (streamName !== undefined && !Token.isUnresolved(streamName) && !/^[a-zA-Z0-9_.-]{1,64}$/.test(streamName)) {
    throw new Error(`${name}.deliveryStreamName must be 1 to 64 letters, digits, ".", "_" or "-", got "${streamName}"`);
  }
  validateGlueName(`${name}.parquet.databaseName`, props.parquet?.databaseName);
  validateGlueName(`${name}.parquet.tableName`, props.parquet?.tableName);
}
