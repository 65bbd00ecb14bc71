/**
 * The user apps that cdk-nag's AwsSolutions pack runs over: cdk-nag 2 on our
 * aws-cdk-lib floor (cdk-nag.test.ts), and cdk-nag 3 on the newest
 * aws-cdk-lib, from the packed npm tarball (test/packages/newest-consumer.sh
 * transpiles this file and points `../../src` at the installed package).
 * Each app is a stack of a user's with what the user makes in it.
 */
import { CfnResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import {
  ArchiveAccessLogs,
  Archiver,
  DeadLetterDestination,
  Ingress,
  IngestProcessor,
  MetricsMode,
  QueryEndpoint,
  SensorIngestPipeline,
  SensorIngestPipelineProps,
} from '../../src';

/**
 * The newest Node.js runtime the installed aws-cdk-lib names, which a user
 * picks for a function of their own: cdk-nag's AwsSolutions-L1 finds any
 * older one (the pipeline's own functions acknowledge it, pinned to the
 * runtime their bundles are built for).
 */
export function newestNodeRuntime(): lambda.Runtime {
  const versions = Object.entries(lambda.Runtime)
    .map(([name, runtime]) => ({ major: Number(/^NODEJS_(\d+)_X$/.exec(name)?.[1]), runtime }))
    .filter((r): r is { major: number; runtime: lambda.Runtime } =>
      Number.isInteger(r.major) && r.runtime instanceof lambda.Runtime && !r.runtime.isVariable);
  return versions.sort((a, b) => b.major - a.major)[0].runtime;
}

/** A finding on a resource of the user's own, accepted the way each cdk-nag major reads it. */
export function acceptOwn(resource: CfnResource, id: string, reason: string): void {
  resource.addMetadata('cdk_nag', { rules_to_suppress: [{ id, reason }] });
  Validations.of(resource).acknowledge({ id, reason });
}

/** A resource of the user's own that is itself clean, so that findings can only be the pipeline's. */
function cleanBucket(stack: Stack, id: string): s3.Bucket {
  const logs = new s3.Bucket(stack, `${id}Logs`, { enforceSSL: true, blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL });
  // The user's own log bucket: the user decides; here it is accepted for the test.
  acceptOwn(logs.node.defaultChild as s3.CfnBucket, 'AwsSolutions-S1', 'the test user\'s own log bucket');
  return new s3.Bucket(stack, id, { enforceSSL: true, blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, serverAccessLogsBucket: logs });
}

/** A pipeline in each configuration the tests use, by what it exercises. */
export const configurations: Array<[string, (stack: Stack) => SensorIngestPipelineProps]> = [
  ['the defaults', () => ({})],
  ['PutMetricData, on demand, a week of retention', () => ({
    streamMode: kinesis.StreamMode.ON_DEMAND,
    retentionPeriod: Duration.days(7),
    processor: IngestProcessor.dynamoDb({ metricsMode: MetricsMode.PUT_METRIC_DATA }),
  })],
  ['dead letters and the archive in a bucket of your own', (stack) => {
    const lake = cleanBucket(stack, 'Lake');
    return {
      processor: IngestProcessor.dynamoDb({ deadLetterDestination: DeadLetterDestination.bucket(lake, 'rejected/') }),
      archiver: Archiver.s3({ bucket: lake, prefix: 'raw/' }),
    };
  }],
  ['a dead-letter queue of your own', (stack) => {
    const queue = new sqs.Queue(stack, 'Rejects', { enforceSSL: true });
    acceptOwn(queue.node.defaultChild as sqs.CfnQueue, 'AwsSolutions-SQS3', 'the test user\'s own dead-letter queue');
    return { processor: IngestProcessor.dynamoDb({ deadLetterDestination: DeadLetterDestination.queue(queue) }) };
  }],
  ['a customer-managed key for everything', (stack) => ({
    encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }),
  })],
  ['destroy with auto-delete, access logs to a bucket of your own, a longer id', (stack) => ({
    removalPolicy: RemovalPolicy.DESTROY,
    maxSensorIdLength: 1024,
    archiver: Archiver.s3({ autoDeleteObjects: true, accessLogs: ArchiveAccessLogs.toBucket(cleanBucket(stack, 'Audit'), 'archive/') }),
  })],
  ['access logs turned off with a reason', () => ({
    archiver: Archiver.s3({ accessLogs: ArchiveAccessLogs.disabled('the bucket holds synthetic test data only') }),
  })],
  ['no archive, alarms with an action, a dashboard', (stack) => ({
    archiver: Archiver.none(),
    alarms: { actions: [new cloudwatchActions.SnsAction(new sns.Topic(stack, 'Pager', { enforceSSL: true }))] },
    dashboard: true,
  })],
  ['alarms off, a payload mapping, query limits', () => ({
    alarms: { enabled: false },
    payloadMapping: { sensorIdField: 'deviceId', timestampField: 'ts', measurementFields: ['t', 'h'] },
    query: { defaultLimit: 50, maxLimit: 500 },
  })],
  ['an IoT topic rule ingress', () => ({
    ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
  })],
  ['an IoT topic rule ingress with a customer-managed key, a rule name and a partition key from the topic', (stack) => ({
    encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }),
    ingress: Ingress.iotTopicRule({ sql: "SELECT *, topic(2) AS sensorid FROM 'sensors/+/readings' WHERE value > 0", ruleName: 'readings', partitionKey: '${topic(2)}' }),
  })],
  ['the Firehose archiver', () => ({ archiver: Archiver.firehose() })],
  ['the Firehose archiver to a bucket of your own, by sensor, with a customer-managed key', (stack) => ({
    encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }),
    archiver: Archiver.firehose({ bucket: cleanBucket(stack, 'Lake'), prefix: 'iot/', errorOutputPrefix: 'iot-errors/', partitionBySensor: true }),
  })],
  ['the Firehose archiver writing Parquet, destroy with auto-delete, a dashboard', () => ({
    removalPolicy: RemovalPolicy.DESTROY,
    dashboard: true,
    archiver: Archiver.firehose({ parquet: { databaseName: 'sensors', tableName: 'readings' }, autoDeleteObjects: true }),
  })],
  ['enhanced fan-out for the processor and the S3 archiver, with a key', (stack) => ({
    encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }),
    processor: IngestProcessor.dynamoDb({ enhancedFanOut: true }),
    archiver: Archiver.s3({ enhancedFanOut: true }),
  })],
  ['a Function URL with CORS and reserved concurrency', () => ({
    queryEndpoint: QueryEndpoint.functionUrl({ cors: { allowOrigins: ['https://example.com'] }, reservedConcurrency: 5 }),
  })],
  ['an unauthenticated Function URL, which the user asked for', () => ({
    queryEndpoint: QueryEndpoint.functionUrl({ allowUnauthenticated: true, reservedConcurrency: 5 }),
  })],
  ['an HTTP API with IAM auth and CORS, a dashboard', () => ({
    dashboard: true,
    queryEndpoint: QueryEndpoint.httpApi({ cors: { allowOrigins: ['http://localhost:3000'] } }),
  })],
  ['an HTTP API with a JWT authorizer and scopes', () => ({
    queryEndpoint: QueryEndpoint.httpApi({
      authorizer: new HttpJwtAuthorizer('Jwt', 'https://issuer.example.com', { jwtAudience: ['sensors'] }),
      authorizationScopes: ['sensors/read'],
    }),
  })],
  ['an unauthenticated HTTP API, which the user asked for', () => ({
    queryEndpoint: QueryEndpoint.httpApi({ allowUnauthenticated: true, throttleRateLimit: 5, throttleBurstLimit: 10 }),
  })],
  ['everything at once: IoT ingress, enhanced fan-out, Firehose Parquet by sensor, an HTTP API, a key, alarms with an action', (stack) => ({
    encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }),
    ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
    processor: IngestProcessor.dynamoDb({ enhancedFanOut: true }),
    archiver: Archiver.firehose({ parquet: {}, partitionBySensor: true }),
    queryEndpoint: QueryEndpoint.httpApi(),
    alarms: { actions: [new cloudwatchActions.SnsAction(new sns.Topic(stack, 'Pager', { enforceSSL: true }))], actionsOnEveryAlarm: true },
    dashboard: true,
  })],
];

/** Apps that do more with the pipeline than construct it: functions and grants of the user's own. */
export const userApps: Array<[string, (stack: Stack) => void]> = [
  ['a function of your own as the processor and one more consumer; grants to devices and readers, with a key', (s) => {
    const key = new kms.Key(s, 'Key', { enableKeyRotation: true });
    const fnRole = new iam.Role(s, 'MineRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    const fn = new lambda.Function(s, 'Mine', {
      runtime: newestNodeRuntime(), handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})'), role: fnRole,
    });
    const pipeline = new SensorIngestPipeline(s, 'Pipeline', { encryptionKey: key, processor: IngestProcessor.fromFunction(fn, { grantTableAccess: false }) });
    pipeline.addProcessor('Hot', IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE }));
    pipeline.addProcessor('Fanned', IngestProcessor.fromFunction(fn, { enhancedFanOut: true, grantTableAccess: false }));
    const device = new iam.Role(s, 'Device', { assumedBy: new iam.ServicePrincipal('iot.amazonaws.com') });
    pipeline.grantPutRecords(device);
    pipeline.grantQuery(device);
  }],
  // grantQuery writes no wildcard a user would have to accept.
  ['grantQuery through a Function URL', (s) => {
    const pipeline = new SensorIngestPipeline(s, 'Pipeline', { queryEndpoint: QueryEndpoint.functionUrl() });
    pipeline.grantQuery(new iam.Role(s, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
  }],
  ['grantQuery through an IAM-authorized HTTP API', (s) => {
    const pipeline = new SensorIngestPipeline(s, 'Pipeline', { queryEndpoint: QueryEndpoint.httpApi() });
    pipeline.grantQuery(new iam.Role(s, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
  }],
  // The findings then name arn:<AWS::Partition>:s3:::... , with several "::".
  ['dead letters and the archive in a bucket imported by name, S3 and Firehose archivers', (s) => {
    const lake = s3.Bucket.fromBucketName(s, 'Lake', 'sensor-lake');
    new SensorIngestPipeline(s, 'Pipeline', {
      processor: IngestProcessor.dynamoDb({ deadLetterDestination: DeadLetterDestination.bucket(lake, 'rejected/') }),
      archiver: Archiver.s3({ bucket: lake, prefix: 'raw/' }),
    });
    new SensorIngestPipeline(s, 'Firehose', { archiver: Archiver.firehose({ bucket: lake, prefix: 'iot/' }) });
  }],
];

/**
 * A wildcard of the user's own on a role the pipeline suppresses a wildcard
 * on: no suppression of the pipeline's may reach it, under either major.
 */
export function ownWildcardOnArchiverRole(s: Stack): void {
  const pipeline = new SensorIngestPipeline(s, 'Pipeline');
  pipeline.archiveBucket!.grantRead(pipeline.archiverFunction!);
}

/** Every app above as what it makes in a user's stack. */
export const allUserApps: Array<[string, (stack: Stack) => void]> = [
  ...configurations.map(([name, props]): [string, (stack: Stack) => void] => [name, (s) => {
    new SensorIngestPipeline(s, 'Pipeline', props(s));
  }]),
  ...userApps,
];
