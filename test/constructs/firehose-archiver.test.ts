import { App, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { logicalId, newStack, synth } from './util';
import { Archiver, FirehoseArchiverProps, SensorIngestPipeline } from '../../src';
import { partitionQuery } from '../../src/private/firehose-partitioning';

/** The extended S3 destination of the only delivery stream. */
function destinationOf(template: Template): Record<string, any> {
  const streams = Object.values(template.findResources('AWS::KinesisFirehose::DeliveryStream'));
  expect(streams).toHaveLength(1);
  return streams[0].Properties.ExtendedS3DestinationConfiguration;
}

describe('Archiver.firehose() by default', () => {
  const { template, pipeline } = synth({ archiver: Archiver.firehose() });
  const destination = destinationOf(template);
  const bucket = logicalId(template, 'AWS::S3::Bucket', 'PipelineArchiverBucket');
  const role = logicalId(template, 'AWS::IAM::Role', 'PipelineArchiverDeliveryRole');

  test('a delivery stream reading the pipeline\'s stream, and no archiver function or event source mapping', () => {
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'KinesisStreamAsSource',
      KinesisStreamSourceConfiguration: {
        KinesisStreamARN: { 'Fn::GetAtt': [logicalId(template, 'AWS::Kinesis::Stream', 'PipelineStream'), 'Arn'] },
        RoleARN: { 'Fn::GetAtt': [role, 'Arn'] },
      },
    });
    // Firehose refuses its own encryption with a Kinesis source.
    expect(Object.values(template.findResources('AWS::KinesisFirehose::DeliveryStream'))[0].Properties.DeliveryStreamEncryptionConfigurationInput).toBeUndefined();
    expect(pipeline.archiverFunction).toBeUndefined();
    expect(pipeline.archiverBinding.deliveryStream).toBeDefined();
    expect(pipeline.archiveBucket).toBeDefined();
    expect(Object.values(template.findResources('AWS::Lambda::Function')).map((f) => f.Properties.Description)).not.toContainEqual(expect.stringMatching(/Archives/));
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
  });

  test('to the archive bucket under raw/, by hour of event time (the S3 archiver\'s layout), gzip JSON lines, errors apart', () => {
    expect(destination).toMatchObject({
      BucketARN: { 'Fn::GetAtt': [bucket, 'Arn'] },
      RoleARN: { 'Fn::GetAtt': [role, 'Arn'] },
      Prefix: 'raw/year=!{partitionKeyFromQuery:year}/month=!{partitionKeyFromQuery:month}/day=!{partitionKeyFromQuery:day}/hour=!{partitionKeyFromQuery:hour}/',
      ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/',
      CompressionFormat: 'GZIP',
      FileExtension: '.ndjson.gz',
      BufferingHints: { IntervalInSeconds: 300, SizeInMBs: 128 },
      DynamicPartitioningConfiguration: { Enabled: true },
    });
    expect(destination.DataFormatConversionConfiguration).toBeUndefined();
    // No customer-managed key: the bucket's own S3-managed encryption.
    expect(destination.EncryptionConfiguration).toBeUndefined();
  });

  test('partition keys from the payload mapping\'s timestamp field by JQ 1.6, then a newline after each record', () => {
    expect(destination.ProcessingConfiguration).toEqual({
      Enabled: true,
      Processors: [
        {
          Type: 'MetadataExtraction',
          Parameters: [
            { ParameterName: 'MetadataExtractionQuery', ParameterValue: partitionQuery('timestamp', 'sensorid', false) },
            { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
          ],
        },
        { Type: 'AppendDelimiterToRecord', Parameters: [] },
      ],
    });
  });

  test('delivery errors logged to a log group of its own, kept a month', () => {
    const logGroup = logicalId(template, 'AWS::Logs::LogGroup', 'PipelineArchiverDeliveryLogs');
    expect(destination.CloudWatchLoggingOptions).toMatchObject({ Enabled: true, LogGroupName: { Ref: logGroup } });
    template.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Delete' });
  });

  test('the same bucket as the S3 archiver makes: TLS only, private, lifecycle, access logs, kept by default', () => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        LoggingConfiguration: Match.objectLike({ DestinationBucketName: { Ref: logicalId(template, 'AWS::S3::Bucket', 'PipelineArchiverAccessLogsBucket') } }),
        LifecycleConfiguration: { Rules: [Match.objectLike({ Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }] })] },
      }),
      DeletionPolicy: 'Retain',
    });
  });

  test('the delivery stream is created after its role\'s policy, which Firehose checks at creation', () => {
    const [stream] = Object.values(template.findResources('AWS::KinesisFirehose::DeliveryStream'));
    expect(stream.DependsOn).toEqual(expect.arrayContaining([logicalId(template, 'AWS::IAM::Policy', 'PipelineArchiverDeliveryRoleDefaultPolicy')]));
  });

  test('alarms on data freshness (1 hour) and failed S3 writes, and the dashboard\'s archive graph', () => {
    const streamRef = { Ref: logicalId(template, 'AWS::KinesisFirehose::DeliveryStream', 'PipelineArchiverDeliveryStream') };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Firehose',
      MetricName: 'DeliveryToS3.DataFreshness',
      Dimensions: [{ Name: 'DeliveryStreamName', Value: streamRef }],
      Statistic: 'Maximum',
      Threshold: 3600,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: '100 * (1 - success)' }),
        Match.objectLike({ Id: 'success', MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'DeliveryToS3.Success' }), Stat: 'Average' }) }),
      ]),
      Threshold: 1,
    });
    // No Parquet, so nothing is kept out of the data by conversion.
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'))).not.toContain('FailedConversion.Records');
    const alarms = Object.keys(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.filter((id) => id.startsWith('PipelineAlarmsArchiver'))).toEqual([]);
  });
});

describe('Archiver.firehose() options', () => {
  test('a customer-managed key encrypts the archive objects, and the bucket', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Key');
    new SensorIngestPipeline(stack, 'Pipeline', { encryptionKey: key, archiver: Archiver.firehose() });
    const template = Template.fromStack(stack);
    expect(destinationOf(template).EncryptionConfiguration).toEqual({ KMSEncryptionConfig: { AWSKMSKeyARN: { 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'Key'), 'Arn'] } } });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ BucketKeyEnabled: true, ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) })] },
    });
  });

  test('a bucket of your own with a key: its key encrypts, no bucket created', () => {
    const stack = newStack();
    const bucketKey = new kms.Key(stack, 'BucketKey');
    const lake = new s3.Bucket(stack, 'Lake', { encryptionKey: bucketKey });
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { archiver: Archiver.firehose({ bucket: lake, prefix: 'iot/', errorOutputPrefix: 'iot-errors/' }) });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 1);
    expect(pipeline.archiveBucket).toBe(lake);
    expect(destinationOf(template)).toMatchObject({
      BucketARN: { 'Fn::GetAtt': [logicalId(template, 'AWS::S3::Bucket', 'Lake'), 'Arn'] },
      Prefix: expect.stringMatching(/^iot\/year=/),
      ErrorOutputPrefix: expect.stringMatching(/^iot-errors\/!\{firehose:error-output-type\}/),
      EncryptionConfiguration: { KMSEncryptionConfig: { AWSKMSKeyARN: { 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'BucketKey'), 'Arn'] } } },
    });
  });

  test('buffering, partitioning by sensor, a payload mapping, a name, log retention', () => {
    const { template } = synth({
      payloadMapping: { sensorIdField: 'deviceId', timestampField: 'ts' },
      archiver: Archiver.firehose({
        bufferingInterval: Duration.minutes(1),
        bufferingSize: Size.mebibytes(64),
        partitionBySensor: true,
        deliveryStreamName: 'plant-7-archive',
        errorLogRetention: logs.RetentionDays.ONE_WEEK,
      }),
    });
    const destination = destinationOf(template);
    expect(destination.BufferingHints).toEqual({ IntervalInSeconds: 60, SizeInMBs: 64 });
    expect(destination.Prefix).toMatch(/hour=!\{partitionKeyFromQuery:hour\}\/sensor=!\{partitionKeyFromQuery:sensor\}\/$/);
    expect(destination.ProcessingConfiguration.Processors[0].Parameters[0].ParameterValue).toBe(partitionQuery('ts', 'deviceId', true));
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', { DeliveryStreamName: 'plant-7-archive' });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  test('Parquet: a Glue database and table with partition projection, conversion by the OpenX reader, Snappy, no gzip', () => {
    const { template, pipeline } = synth({
      removalPolicy: RemovalPolicy.DESTROY,
      archiver: Archiver.firehose({ parquet: { databaseName: 'plant', tableName: 'readings_v1' }, partitionBySensor: true, autoDeleteObjects: true }),
    });
    const database = logicalId(template, 'AWS::Glue::Database', 'PipelineArchiverDatabase');
    const table = logicalId(template, 'AWS::Glue::Table', 'PipelineArchiverTable');
    const bucket = logicalId(template, 'AWS::S3::Bucket', 'PipelineArchiverBucket');
    expect(pipeline.archiverBinding.glueTable).toBeDefined();
    template.hasResourceProperties('AWS::Glue::Database', { CatalogId: '111111111111', DatabaseInput: Match.objectLike({ Name: 'plant' }) });
    template.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: { Ref: database },
      TableInput: Match.objectLike({
        Name: 'readings_v1',
        TableType: 'EXTERNAL_TABLE',
        PartitionKeys: ['year', 'month', 'day', 'hour', 'sensor'].map((Name) => ({ Name, Type: 'string' })),
        Parameters: Match.objectLike({
          'classification': 'parquet',
          'projection.enabled': 'true',
          'projection.hour.range': '0,23',
          'projection.hour.digits': '2',
          'projection.sensor.type': 'injected',
          'storage.location.template': { 'Fn::Join': ['', ['s3://', { Ref: bucket }, '/raw/year=${year}/month=${month}/day=${day}/hour=${hour}/sensor=${sensor}/']] },
        }),
        StorageDescriptor: Match.objectLike({
          Location: { 'Fn::Join': ['', ['s3://', { Ref: bucket }, '/raw/']] },
          SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
          Columns: [{ Name: 'sensor_id', Type: 'string' }, { Name: 'event_time', Type: 'string' }, { Name: 'value', Type: 'double' }],
        }),
      }),
    });
    const destination = destinationOf(template);
    expect(destination.CompressionFormat).toBeUndefined();
    expect(destination.FileExtension).toBe('.parquet');
    // Parquet has rows of its own: no newline processor.
    expect(destination.ProcessingConfiguration.Processors.map((p: any) => p.Type)).toEqual(['MetadataExtraction']);
    expect(destination.DataFormatConversionConfiguration).toMatchObject({
      Enabled: true,
      InputFormatConfiguration: { Deserializer: { OpenXJsonSerDe: { CaseInsensitive: true, ColumnToJsonKeyMappings: { sensor_id: 'sensorid', event_time: 'timestamp', value: 'value' } } } },
      OutputFormatConfiguration: { Serializer: { ParquetSerDe: { Compression: 'SNAPPY' } } },
      SchemaConfiguration: expect.objectContaining({ DatabaseName: { Ref: database }, TableName: { Ref: table }, VersionId: 'LATEST' }),
    });
    // Records the reader cannot convert go to the error prefix: an alarm counts them.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'FailedConversion.Records', Statistic: 'Sum', Threshold: 1 });
  });

  test('Parquet columns follow the payload mapping: measurement fields as doubles, lower-cased, keys read lower-cased', () => {
    const { template } = synth({
      payloadMapping: { sensorIdField: 'deviceId', timestampField: 'ts', measurementFields: ['Temperature', 'humidity'] },
      archiver: Archiver.firehose({ parquet: {} }),
    });
    const input = Object.values(template.findResources('AWS::Glue::Table'))[0].Properties.TableInput;
    expect(input.Name).toBe('readings');
    expect(input.StorageDescriptor.Columns).toEqual([
      { Name: 'sensor_id', Type: 'string' }, { Name: 'event_time', Type: 'string' }, { Name: 'temperature', Type: 'double' }, { Name: 'humidity', Type: 'double' },
    ]);
    expect(destinationOf(template).DataFormatConversionConfiguration.InputFormatConfiguration.Deserializer.OpenXJsonSerDe.ColumnToJsonKeyMappings)
      .toEqual({ sensor_id: 'deviceid', event_time: 'ts', temperature: 'temperature', humidity: 'humidity' });
    // A database name made from the construct path, as Athena takes it.
    expect(Object.values(template.findResources('AWS::Glue::Database'))[0].Properties.DatabaseInput.Name).toMatch(/^[a-z0-9_]+$/);
  });
});

describe('Archiver.firehose() refuses what cannot work, at synth, naming the prop', () => {
  test.each<[string, FirehoseArchiverProps, RegExp]>([
    ['a buffering interval under a minute (dynamic partitioning\'s floor)', { bufferingInterval: Duration.seconds(30) },
      /FirehoseArchiverProps\.bufferingInterval must be from 1 minute to 15 minutes, got 30 seconds/],
    ['a buffering size under 64 MiB', { bufferingSize: Size.mebibytes(5) }, /FirehoseArchiverProps\.bufferingSize must be from 64 to 128 MiB \(dynamic partitioning's range\), got 5 MiB/],
    ['a buffering size over 128 MiB', { bufferingSize: Size.mebibytes(256) }, /FirehoseArchiverProps\.bufferingSize must be from 64 to 128 MiB/],
    ['an error prefix inside the data prefix', { prefix: 'raw/', errorOutputPrefix: 'raw/errors/' },
      /FirehoseArchiverProps\.prefix \("raw\/"\) and FirehoseArchiverProps\.errorOutputPrefix \("raw\/errors\/"\) must not contain one another/],
    ['an empty data prefix, which holds the errors too', { prefix: '' }, /must not contain one another: readers of the archive would read error records as data/],
    ['an empty error prefix', { errorOutputPrefix: '' }, /FirehoseArchiverProps\.errorOutputPrefix must be a plain prefix ending in "\/"/],
    ['an error prefix with expressions of its own', { errorOutputPrefix: 'e/!{timestamp:yyyy}/' }, /FirehoseArchiverProps\.errorOutputPrefix must be a plain prefix/],
    ['a data prefix with expressions', { prefix: 'raw/!{timestamp:yyyy}/' }, /FirehoseArchiverProps\.prefix must be a plain prefix/],
    ['a prefix not ending in "/"', { prefix: 'raw' }, /FirehoseArchiverProps\.prefix must be empty or end with "\/", got "raw"/],
    ['a delivery stream name Firehose refuses', { deliveryStreamName: 'my archive' }, /FirehoseArchiverProps\.deliveryStreamName must be 1 to 64 letters/],
    ['a Glue database name Athena refuses', { parquet: { databaseName: 'Plant-7' } }, /FirehoseArchiverProps\.parquet\.databaseName must be 1 to 255 lower-case letters/],
    ['a Glue table name Athena refuses', { parquet: { tableName: 'Readings' } }, /FirehoseArchiverProps\.parquet\.tableName must be 1 to 255 lower-case letters/],
    ['a bucket of your own with a lifecycle for a created one', { bucket: s3.Bucket.fromBucketName(newStack(), 'B', 'lake-bucket'), transitionToGlacierAfter: Duration.days(9) },
      /FirehoseArchiverProps\.transitionToGlacierAfter applies only to a bucket the archiver creates/],
  ])('%s', (_name, props, message) => {
    expect(() => Archiver.firehose(props)).toThrow(message);
  });

  test('auto-delete without the destroy removal policy', () => {
    expect(() => synth({ archiver: Archiver.firehose({ autoDeleteObjects: true }) }))
      .toThrow(/FirehoseArchiverProps\.autoDeleteObjects needs RemovalPolicy.DESTROY \(on the archiver or the pipeline\), got retain/);
  });

  test.each<[string, object, RegExp]>([
    ['a field that is no column name', { sensorIdField: 'device-id' }, /FirehoseArchiverProps\.parquet: payloadMapping field "device-id" cannot be read into a Parquet column/],
    ['fields that differ only in case', { sensorIdField: 'id', timestampField: 'ID' }, /payloadMapping field "ID" and "id" differ only in case; Firehose's JSON reader lower-cases keys/],
    ['a measurement field named like a partition', { measurementFields: ['temp', 'Hour'] }, /payloadMapping measurement field "Hour" would be the column hour, which the archive table already has/],
    ['a measurement field named like a column of the table', { measurementFields: ['event_time'] }, /payloadMapping measurement field "event_time" would be the column event_time/],
  ])('Parquet with a payload mapping it cannot make columns of: %s', (_name, payloadMapping, message) => {
    expect(() => synth({ payloadMapping, archiver: Archiver.firehose({ parquet: {} }) })).toThrow(message);
    // The same mapping archives as JSON lines.
    expect(() => synth({ payloadMapping, archiver: Archiver.firehose() })).not.toThrow();
  });

  test('a stream of another region, which a Firehose Kinesis source cannot read', () => {
    const stack = newStack();
    const stream = kinesis.Stream.fromStreamArn(stack, 'Far', 'arn:aws:kinesis:us-east-1:111111111111:stream/far');
    expect(() => new SensorIngestPipeline(stack, 'Pipeline', { stream, archiver: Archiver.firehose() }))
      .toThrow(/Archiver\.firehose: a Firehose delivery stream reads a Kinesis stream of its own region only; the pipeline's stream is in us-east-1, the stack in eu-west-1/);
    // The same region is fine, and so is a stack without a region.
    const near = kinesis.Stream.fromStreamArn(stack, 'Near', 'arn:aws:kinesis:eu-west-1:111111111111:stream/near');
    expect(() => new SensorIngestPipeline(stack, 'NearPipeline', { stream: near, archiver: Archiver.firehose() })).not.toThrow();
    const agnostic = new Stack(new App(), 'Agnostic');
    expect(() => new SensorIngestPipeline(agnostic, 'P', {
      stream: kinesis.Stream.fromStreamArn(agnostic, 'Far', 'arn:aws:kinesis:us-east-1:111111111111:stream/far'),
      archiver: Archiver.firehose(),
    })).not.toThrow();
  });

  test('timestamp and sensor id fields so long that the partitioning program passes Firehose\'s 5,120 characters', () => {
    expect(() => synth({ payloadMapping: { timestampField: 't'.repeat(1500), sensorIdField: 's'.repeat(1500) }, archiver: Archiver.firehose({ partitionBySensor: true }) }))
      .toThrow(/FirehoseArchiverProps: the partitioning program for the payload mapping's fields is \d+ characters, over Firehose's 5120/);
  });
});
