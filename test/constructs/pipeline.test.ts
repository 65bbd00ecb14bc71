import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import { allActions, environmentOf, logicalId, newStack, synth } from './util';
import { Archiver, HandlerLogLevel, IngestProcessor, MetricsMode, SensorIngestPipeline } from '../../src';

describe('SensorIngestPipeline defaults', () => {
  const { template, pipeline } = synth();

  test('a provisioned one-shard stream, KMS-encrypted with the managed key, kept 24 hours', () => {
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      ShardCount: 1,
      RetentionPeriodHours: 24,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
    });
  });

  test('the sensor table: SensorId/Timestamp keys, on demand, point-in-time recovery, KMS encryption, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [
          { AttributeName: 'SensorId', KeyType: 'HASH' },
          { AttributeName: 'Timestamp', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'SensorId', AttributeType: 'S' },
          { AttributeName: 'Timestamp', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        // SSEEnabled without a key: KMS with the AWS-managed key, not the default AWS-owned key.
        SSESpecification: { SSEEnabled: true },
      },
      DeletionPolicy: 'Retain',
    });
  });

  test('no resource has a hard-coded physical name', () => {
    const named = ['StreamName', 'TableName', 'BucketName', 'FunctionName', 'QueueName', 'RoleName'];
    for (const [id, resource] of Object.entries(template.toJSON().Resources as Record<string, any>)) {
      for (const prop of named) expect({ id, prop, literal: typeof resource.Properties?.[prop] === 'string' }).toEqual({ id, prop, literal: false });
    }
  });

  test('five functions (processor, archiver, query, and a replay of each mapping) on the pinned Node.js 24 runtime, arm64, with bundled code and a log group kept one month', () => {
    template.resourceCountIs('AWS::Lambda::Function', 5);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Code: { S3Key: Match.stringLikeRegexp('^[0-9a-f]{64}\\.zip$') },
      LoggingConfig: { LogGroup: Match.anyValue() },
    });
    template.resourceCountIs('AWS::Logs::LogGroup', 5);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('the processor: batch 500, 1 s window, trim horizon, partial batch responses, 10 retries, 1 day max age, failure queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'PipelineProcessorFunction') },
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 1,
      StartingPosition: 'TRIM_HORIZON',
      ParallelizationFactor: 1,
      BisectBatchOnFunctionError: false,
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 86400,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'PipelineProcessorFailedBatches'), 'Arn'] } } },
    });
    expect(environmentOf(template, 'PipelineProcessorFunction')).toEqual({
      TABLE_NAME: { Ref: logicalId(template, 'AWS::DynamoDB::Table', 'PipelineTable') },
      METRICS_MODE: 'EMF',
      METRICS_NAMESPACE: 'Sensors',
      METRIC_NAME: 'SensorData',
      METRIC_DIMENSION_NAME: 'SensorId',
      WRITE_CONCURRENCY: '20',
      PAYLOAD_SENSOR_ID_FIELD: 'sensorid',
      PAYLOAD_TIMESTAMP_FIELD: 'timestamp',
      PAYLOAD_VALUE_FIELD: 'value',
      PAYLOAD_MEASUREMENT_FIELDS: '',
      PAYLOAD_MEASUREMENT_SEPARATOR: '#',
      // One reading per record unless the mapping says otherwise.
      PAYLOAD_READINGS_FIELD: '',
      PAYLOAD_ACCEPT_ARRAYS: 'false',
      PAYLOAD_AGGREGATED: 'false',
      // No payload schema: no file beside the code.
      PAYLOAD_SCHEMA_FILE: '',
      MAX_SENSOR_ID_LENGTH: '256',
      POWERTOOLS_SERVICE_NAME: 'sensor-processor',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      DEAD_LETTER_DESTINATION: { Ref: logicalId(template, 'AWS::SQS::Queue', 'PipelineProcessorDeadLetterQueue') },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('Stores sensor readings'),
      MemorySize: 512,
      Timeout: 60,
    });
  });

  test('the archiver: batch 1,000, 60 s window, writing to an encrypted, TLS-only, private bucket under raw/', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'PipelineArchiverFunction') },
      BatchSize: 1000,
      MaximumBatchingWindowInSeconds: 60,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResource('AWS::S3::Bucket', {
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LifecycleConfiguration: {
          Rules: [Match.objectLike({
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }],
          })],
        },
      },
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    expect(environmentOf(template, 'PipelineArchiverFunction')).toEqual({
      ARCHIVE_PREFIX: 'raw/',
      ARCHIVE_BUCKET: { Ref: logicalId(template, 'AWS::S3::Bucket', 'PipelineArchiverBucket') },
      PAYLOAD_TIMESTAMP_FIELD: 'timestamp',
      POWERTOOLS_SERVICE_NAME: 'sensor-archiver',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    expect(pipeline.archiveBucket).toBeDefined();
    expect(pipeline.archiverFunction).toBeDefined();
  });

  test('the query function: 10 s, 20 readings by default, 1,000 at most, Query only', () => {
    expect(environmentOf(template, 'PipelineQueryFunction')).toEqual({
      TABLE_NAME: { Ref: logicalId(template, 'AWS::DynamoDB::Table', 'PipelineTable') },
      QUERY_DEFAULT_LIMIT: '20',
      QUERY_MAX_LIMIT: '1000',
      MAX_SENSOR_ID_LENGTH: '256',
      POWERTOOLS_SERVICE_NAME: 'sensor-query',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('newest readings'), Timeout: 10 });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(template, 'AWS::IAM::Role', 'PipelineQueryFunctionRole') }],
      PolicyDocument: {
        Statement: [
          { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(template, 'AWS::Logs::LogGroup', 'PipelineQueryFunctionLogs'), 'Arn'] } },
          { Action: 'dynamodb:Query', Effect: 'Allow', Resource: Match.anyValue() },
        ],
      },
    });
  });

  test('queues are encrypted and refuse plain HTTP', () => {
    template.resourceCountIs('AWS::SQS::Queue', 3);
    template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    template.resourceCountIs('AWS::SQS::QueuePolicy', 3);
  });

  test('least privilege: no wildcard action, no managed policy, no PutMetricData in EMF mode, logs only to their own group', () => {
    const actions = allActions(template);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    expect(actions).not.toContain('cloudwatch:PutMetricData');
    template.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        if (![statement.Action].flat().some((a: string) => a.startsWith('logs:'))) continue;
        expect(statement.Resource['Fn::GetAtt'][0]).toMatch(/^Pipeline.*Logs/);
      }
    }
    // The processor writes; it never reads, updates or deletes readings.
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(template, 'AWS::IAM::Role', 'PipelineProcessorFunctionRole') }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['dynamodb:BatchWriteItem', 'dynamodb:PutItem'] })]) },
    });
  });

  test('exposes the stream, table, functions, bucket, dead-letter queue and failed-batches queues', () => {
    expect(pipeline.stream).toBeInstanceOf(kinesis.Stream);
    expect(pipeline.table).toBeInstanceOf(dynamodb.Table);
    expect(pipeline.processorFunction.node.path).toBe('Test/Pipeline/Processor/Function');
    expect(pipeline.queryFunction.node.path).toBe('Test/Pipeline/QueryFunction');
    expect(pipeline.deadLetterQueue?.node.path).toBe('Test/Pipeline/Processor/DeadLetterQueue');
    expect(pipeline.processorBinding.lambdaFunction).toBe(pipeline.processorFunction);
    expect(pipeline.processorBinding.deadLetterQueue).toBe(pipeline.deadLetterQueue);
    expect(pipeline.processorBinding.failedBatchesQueue?.node.path).toBe('Test/Pipeline/Processor/FailedBatches');
    expect(pipeline.archiverBinding.failedBatchesQueue?.node.path).toBe('Test/Pipeline/Archiver/FailedBatches');
    expect(pipeline.archiverBinding.bucket).toBe(pipeline.archiveBucket);
    expect(pipeline.additionalProcessors).toEqual([]);
  });

  test('exposes the payload mapping and sensor-id limit every part reads, defaults filled in', () => {
    expect(pipeline.payloadMapping).toEqual({
      sensorIdField: 'sensorid',
      timestampField: 'timestamp',
      valueField: 'value',
      measurementFields: [],
      measurementSeparator: '#',
      readingsField: '',
      acceptArrays: false,
      aggregated: false,
    });
    expect(pipeline.maxSensorIdLength).toBe(256);
    expect(pipeline.removalPolicy).toBe(RemovalPolicy.RETAIN);
  });
});

describe('SensorIngestPipeline props', () => {
  test('on-demand stream without a shard count, with a longer retention', () => {
    const { template } = synth({ streamMode: kinesis.StreamMode.ON_DEMAND, retentionPeriod: Duration.days(7) });
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      RetentionPeriodHours: 168,
      ShardCount: Match.absent(),
    });
  });

  test('shard count and unencrypted stream when asked', () => {
    const { template } = synth({ shardCount: 4, streamEncryption: kinesis.StreamEncryption.UNENCRYPTED });
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 4 });
    const stream = Object.values(template.findResources('AWS::Kinesis::Stream'))[0];
    expect(stream.Properties.StreamEncryption).toBeUndefined();
  });

  test('point-in-time recovery can be turned off; removal policy applies to stream, table and bucket', () => {
    const { template } = synth({ pointInTimeRecovery: false, removalPolicy: RemovalPolicy.DESTROY });
    template.hasResourceProperties('AWS::DynamoDB::Table', { PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false } });
    for (const type of ['AWS::DynamoDB::Table', 'AWS::Kinesis::Stream', 'AWS::S3::Bucket']) {
      template.hasResource(type, { DeletionPolicy: 'Delete' });
    }
  });

  test('brings its own stream and table: none created, both wired and granted', () => {
    const stack = newStack();
    const key = new kms.Key(stack, 'Key');
    const stream = new kinesis.Stream(stack, 'MyStream', { encryption: kinesis.StreamEncryption.KMS, encryptionKey: key });
    const table = dynamodb.Table.fromTableName(stack, 'MyTable', 'existing-readings');
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { stream, table });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    expect(pipeline.stream).toBe(stream);
    expect(environmentOf(template, 'PipelineProcessorFunction').TABLE_NAME).toBe('existing-readings');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: { 'Fn::GetAtt': [logicalId(template, 'AWS::Kinesis::Stream', 'MyStream'), 'Arn'] } });
    // The consumers can decrypt the customer-managed key of the stream.
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(template, 'AWS::IAM::Role', 'PipelineProcessorFunctionRole') }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'kms:Decrypt' })]) },
    });
  });

  test('the payload mapping reaches the processor whole, and its timestamp field the archiver', () => {
    const { template } = synth({
      payloadMapping: { sensorIdField: 'deviceId', timestampField: 'ts', valueField: 'v', measurementFields: ['temperature', 'humidity'], measurementSeparator: '/' },
    });
    expect(environmentOf(template, 'PipelineProcessorFunction')).toMatchObject({
      PAYLOAD_SENSOR_ID_FIELD: 'deviceId',
      PAYLOAD_TIMESTAMP_FIELD: 'ts',
      PAYLOAD_VALUE_FIELD: 'v',
      PAYLOAD_MEASUREMENT_FIELDS: 'temperature,humidity',
      PAYLOAD_MEASUREMENT_SEPARATOR: '/',
    });
    // The archive is partitioned by the same event time the processor stores.
    expect(environmentOf(template, 'PipelineArchiverFunction').PAYLOAD_TIMESTAMP_FIELD).toBe('ts');
  });

  test('the shapes of a record of many readings reach the processor', () => {
    const { template } = synth({ payloadMapping: { readingsField: 'readings', acceptArrays: true, aggregated: true } });
    expect(environmentOf(template, 'PipelineProcessorFunction')).toMatchObject({
      PAYLOAD_READINGS_FIELD: 'readings',
      PAYLOAD_ACCEPT_ARRAYS: 'true',
      PAYLOAD_AGGREGATED: 'true',
    });
  });

  test('the sensor-id limit reaches both the processor and the query function', () => {
    const { template } = synth({ maxSensorIdLength: 512 });
    expect(environmentOf(template, 'PipelineProcessorFunction').MAX_SENSOR_ID_LENGTH).toBe('512');
    // Without it the query function answered 400 for every id the processor stored above 256 bytes.
    expect(environmentOf(template, 'PipelineQueryFunction').MAX_SENSOR_ID_LENGTH).toBe('512');
  });

  test('addProcessor bindings are exposed in order', () => {
    const stack = newStack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline');
    const hot = pipeline.addProcessor('Hot', IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE }));
    const cold = pipeline.addProcessor('Cold', IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE }));
    expect(pipeline.additionalProcessors).toEqual([hot, cold]);
    expect(hot.failedBatchesQueue?.node.path).toBe('Test/Pipeline/Hot/FailedBatches');
    expect(cold.deadLetterQueue?.node.path).toBe('Test/Pipeline/Cold/DeadLetterQueue');
    // The list is a copy: it cannot be changed from outside.
    pipeline.additionalProcessors.pop();
    expect(pipeline.additionalProcessors).toHaveLength(2);
  });

  test('Archiver.none(): no archive bucket and no archiver function', () => {
    const { template, pipeline } = synth({ archiver: Archiver.none() });
    template.resourceCountIs('AWS::S3::Bucket', 0);
    // The processor, its replay, the query function.
    template.resourceCountIs('AWS::Lambda::Function', 3);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    expect(pipeline.archiveBucket).toBeUndefined();
    expect(pipeline.archiverFunction).toBeUndefined();
  });

  test('query options: limits, memory, timeout, log level and retention', () => {
    const { template } = synth({
      query: { defaultLimit: 50, maxLimit: 500, memorySize: 512, timeout: Duration.seconds(5), logLevel: HandlerLogLevel.WARN, logRetention: 7 },
    });
    expect(environmentOf(template, 'PipelineQueryFunction')).toMatchObject({ QUERY_DEFAULT_LIMIT: '50', QUERY_MAX_LIMIT: '500', POWERTOOLS_LOG_LEVEL: 'WARN' });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('newest readings'), MemorySize: 512, Timeout: 5 });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  test('two pipelines fit in one stack', () => {
    const stack = newStack();
    new SensorIngestPipeline(stack, 'A');
    new SensorIngestPipeline(stack, 'B');
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Kinesis::Stream', 2);
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
    template.resourceCountIs('AWS::Lambda::Function', 10);
  });
});

describe('a customer-managed key', () => {
  const stack = newStack();
  const key = new kms.Key(stack, 'Key');
  const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { encryptionKey: key });
  const device = new iam.Role(stack, 'Device', { assumedBy: new iam.ServicePrincipal('iot.amazonaws.com') });
  pipeline.grantPutRecords(device);
  const template = Template.fromStack(stack);
  const keyArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'Key'), 'Arn'] };

  test('encrypts the stream, the table, the queues and the archive bucket; the access-log bucket stays S3-managed', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', { StreamEncryption: { EncryptionType: 'KMS', KeyId: keyArn } });
    template.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn } });
    template.resourceCountIs('AWS::SQS::Queue', 3);
    template.allResourcesProperties('AWS::SQS::Queue', { KmsMasterKeyId: keyArn });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }, BucketKeyEnabled: true }] },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
    expect(pipeline.encryptionKey).toBe(key);
  });

  test('every function and the device may use the key for what it does', () => {
    const expected: Record<string, string[]> = {
      // Reads the stream; writes the table, the dead-letter and failed-batches queues.
      PipelineProcessorFunctionRole: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*'],
      // Reads the stream; writes the archive and its failed-batches queue.
      PipelineArchiverFunctionRole: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*'],
      // Reads the table only.
      PipelineQueryFunctionRole: ['kms:Decrypt'],
      // Puts on the stream only.
      Device: ['kms:Encrypt', 'kms:GenerateDataKey*'],
    };
    for (const [role, actions] of Object.entries(expected)) {
      const policy = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalId(template, 'AWS::IAM::Role', role) }] } }))[0];
      const onKey: string[] = policy.Properties.PolicyDocument.Statement
        .filter((s: any) => JSON.stringify(s.Resource) === JSON.stringify(keyArn))
        .flatMap((s: any) => [s.Action].flat());
      expect({ role, actions: [...new Set(onKey)] }).toEqual({ role, actions: expect.arrayContaining(actions) });
    }
    const query = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalId(template, 'AWS::IAM::Role', 'PipelineQueryFunctionRole') }] } }))[0];
    expect(JSON.stringify(query.Properties.PolicyDocument)).not.toContain('kms:Encrypt');
  });

  test('a KMS stream without the key, or another stream encryption with it, is refused', () => {
    const s = newStack();
    expect(() => new SensorIngestPipeline(s, 'P', { encryptionKey: new kms.Key(s, 'K'), streamEncryption: kinesis.StreamEncryption.MANAGED }))
      .toThrow(/SensorIngestPipelineProps\.streamEncryption must be KMS \(or unset\) with SensorIngestPipelineProps\.encryptionKey, got MANAGED/);
  });
});

describe('SensorIngestPipeline grants', () => {
  test('grantPutRecords: PutRecord(s) and ListShards on the stream, nothing broader', () => {
    const stack = newStack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline');
    const role = new iam.Role(stack, 'Device', { assumedBy: new iam.ServicePrincipal('iot.amazonaws.com') });
    pipeline.grantPutRecords(role);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(template, 'AWS::IAM::Role', 'Device') }],
      PolicyDocument: { Statement: [{ Action: ['kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords'], Effect: 'Allow', Resource: Match.anyValue() }] },
    });
  });

  test('grantQuery: invoke the query function only, with no version wildcard', () => {
    const stack = newStack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline');
    const user = new iam.User(stack, 'Reader');
    pipeline.grantQuery(user);
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Users: [{ Ref: logicalId(template, 'AWS::IAM::User', 'Reader') }],
      PolicyDocument: {
        Statement: [{ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(template, 'AWS::Lambda::Function', 'PipelineQueryFunction'), 'Arn'] } }],
      },
    });
  });

  test('grantQuery to a service principal: a resource policy on the function', () => {
    const stack = newStack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline');
    pipeline.grantQuery(new iam.ServicePrincipal('iot.amazonaws.com'));
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunction', Principal: 'iot.amazonaws.com' });
  });

  test('grantReadData: read-only table access', () => {
    const stack = newStack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline');
    const user = new iam.User(stack, 'Analyst');
    pipeline.grantReadData(user);
    const template = Template.fromStack(stack);
    const policy = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Users: [{ Ref: logicalId(template, 'AWS::IAM::User', 'Analyst') }] } }))[0];
    const actions: string[] = policy.Properties.PolicyDocument.Statement.flatMap((s: any) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:GetItem']));
    expect(actions.filter((a) => /Put|Write|Delete|Update/.test(a))).toEqual([]);
  });
});

describe('SensorIngestPipeline validation', () => {
  const cases: Array<[string, () => void, RegExp]> = [
    ['shardCount with on-demand', () => synth({ streamMode: kinesis.StreamMode.ON_DEMAND, shardCount: 2 }), /SensorIngestPipelineProps\.shardCount must not be set with streamMode ON_DEMAND/],
    ['shardCount 0', () => synth({ shardCount: 0 }), /SensorIngestPipelineProps\.shardCount must be an integer from 1 to 10,000, got 0/],
    ['shardCount 1.5', () => synth({ shardCount: 1.5 }), /SensorIngestPipelineProps\.shardCount must be an integer/],
    ['retention 1 hour', () => synth({ retentionPeriod: Duration.hours(1) }), /SensorIngestPipelineProps\.retentionPeriod must be from 1 day to 365 days, got 1 hour/],
    ['retention 400 days', () => synth({ retentionPeriod: Duration.days(400) }), /SensorIngestPipelineProps\.retentionPeriod/],
    ['KMS without a key', () => synth({ streamEncryption: kinesis.StreamEncryption.KMS }), /SensorIngestPipelineProps\.streamEncryption KMS needs SensorIngestPipelineProps\.encryptionKey/],
    ['query.defaultLimit above maxLimit', () => synth({ query: { defaultLimit: 200, maxLimit: 100 } }), /SensorIngestPipelineProps\.query\.defaultLimit must be an integer from 1 to 100, got 200/],
    ['query.maxLimit 0', () => synth({ query: { maxLimit: 0 } }), /SensorIngestPipelineProps\.query\.maxLimit/],
    ['query.memorySize 64', () => synth({ query: { memorySize: 64 } }), /SensorIngestPipelineProps\.query\.memorySize must be an integer from 128 to 10,240, got 64/],
    ['query.timeout 20 minutes', () => synth({ query: { timeout: Duration.minutes(20) } }), /SensorIngestPipelineProps\.query\.timeout must be from 1 second to 15 minutes/],
    ['maxSensorIdLength 4096', () => synth({ maxSensorIdLength: 4096 }), /SensorIngestPipelineProps\.maxSensorIdLength must be an integer from 1 to 2,048, got 4096/],
    ['empty payloadMapping.sensorIdField', () => synth({ payloadMapping: { sensorIdField: '' } }), /SensorIngestPipelineProps\.payloadMapping\.sensorIdField must not be empty/],
    ['empty payloadMapping.readingsField', () => synth({ payloadMapping: { readingsField: ' ' } }), /SensorIngestPipelineProps\.payloadMapping\.readingsField must not be empty/],
    ['a readings field that is also a field of each reading', () => synth({ payloadMapping: { readingsField: 'ts', timestampField: 'ts' } }),
      /SensorIngestPipelineProps\.payloadMapping\.readingsField must differ from the fields a reading is read from \(sensor id, timestamp, value, measurements\), got "ts"/],
    ['a readings field named like a measurement', () => synth({ payloadMapping: { readingsField: 'humidity', measurementFields: ['humidity'] } }),
      /payloadMapping\.readingsField must differ/],
    ['measurement field with a comma', () => synth({ payloadMapping: { measurementFields: ['a,b'] } }),
      /SensorIngestPipelineProps\.payloadMapping\.measurementFields must hold non-empty names without commas, got "a,b"/],
  ];
  test.each(cases)('%s fails at synth naming the prop', (_name, make, message) => {
    expect(make).toThrow(message);
  });

  test('stream props together with a stream of your own are refused', () => {
    const stack = newStack();
    const stream = new kinesis.Stream(stack, 'S');
    expect(() => new SensorIngestPipeline(stack, 'P', { stream, shardCount: 2 })).toThrow(/SensorIngestPipelineProps\.shardCount applies only to a stream the pipeline creates/);
  });

  test('pointInTimeRecovery together with a table of your own is refused', () => {
    const stack = newStack();
    const table = dynamodb.Table.fromTableName(stack, 'T', 'readings');
    expect(() => new SensorIngestPipeline(stack, 'P', { table, pointInTimeRecovery: true })).toThrow(/SensorIngestPipelineProps\.pointInTimeRecovery applies only to a table the pipeline creates/);
  });

  test('tokens are left alone', () => {
    const stack = new Stack();
    const { Token } = jest.requireActual('aws-cdk-lib');
    const shards = Token.asNumber({ Ref: 'ShardParam' });
    expect(() => new SensorIngestPipeline(stack, 'P', { shardCount: shards })).not.toThrow();
    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: { Ref: 'ShardParam' } });
  });
});
