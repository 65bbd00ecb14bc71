/**
 * cdk-nag's AwsSolutions pack over the pipeline, the way a user's app runs it:
 * every finding the library accepts carries its suppression, with the reason,
 * in the template, so that a user's own run reports nothing.
 */
import { App, Aspects, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
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

/** AwsSolutions errors and warnings of a stack, as `rule: construct path` lines. */
function findings(stack: Stack): string[] {
  const annotations = Annotations.fromStack(stack);
  return [
    ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ].map((f) => `${String(f.entry.data).split(': ')[0]} ${f.id}`).sort();
}

/** A fresh user app: a stack, what the user makes in it, and AwsSolutionsChecks over the whole app. */
function userApp(make: (stack: Stack) => void): Stack {
  const app = new App();
  const stack = new Stack(app, 'UserStack', { env: { account: '111111111111', region: 'eu-west-1' } });
  make(stack);
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  app.synth();
  return stack;
}

/** A resource of the user's own that is itself clean, so that findings can only be the pipeline's. */
function cleanBucket(stack: Stack, id: string): s3.Bucket {
  const logs = new s3.Bucket(stack, `${id}Logs`, { enforceSSL: true, blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL });
  // The user's own log bucket: the user decides; here it is accepted for the test.
  (logs.node.defaultChild as s3.CfnBucket).addMetadata('cdk_nag', { rules_to_suppress: [{ id: 'AwsSolutions-S1', reason: 'the test user\'s own log bucket' }] });
  return new s3.Bucket(stack, id, { enforceSSL: true, blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL, serverAccessLogsBucket: logs });
}

const configurations: Array<[string, (stack: Stack) => SensorIngestPipelineProps]> = [
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
    (queue.node.defaultChild as sqs.CfnQueue).addMetadata('cdk_nag', { rules_to_suppress: [{ id: 'AwsSolutions-SQS3', reason: 'the test user\'s own dead-letter queue' }] });
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

describe('cdk-nag AwsSolutions over a user app with the pipeline', () => {
  test.each(configurations)('%s: no error and no warning', (_name, props) => {
    const stack = userApp((s) => {
      new SensorIngestPipeline(s, 'Pipeline', props(s));
    });
    expect(findings(stack)).toEqual([]);
  });

  test('a function of your own as the processor and one more consumer; grants to devices and readers, with a key', () => {
    const stack = userApp((s) => {
      const key = new kms.Key(s, 'Key', { enableKeyRotation: true });
      const fnRole = new iam.Role(s, 'MineRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
      const fn = new lambda.Function(s, 'Mine', {
        runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})'), role: fnRole,
      });
      const pipeline = new SensorIngestPipeline(s, 'Pipeline', { encryptionKey: key, processor: IngestProcessor.fromFunction(fn, { grantTableAccess: false }) });
      pipeline.addProcessor('Hot', IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE }));
      pipeline.addProcessor('Fanned', IngestProcessor.fromFunction(fn, { enhancedFanOut: true, grantTableAccess: false }));
      const device = new iam.Role(s, 'Device', { assumedBy: new iam.ServicePrincipal('iot.amazonaws.com') });
      pipeline.grantPutRecords(device);
      pipeline.grantQuery(device);
    });
    expect(findings(stack)).toEqual([]);
  });

  test.each([
    ['a Function URL', () => QueryEndpoint.functionUrl()],
    ['an IAM-authorized HTTP API', () => QueryEndpoint.httpApi()],
  ])('grantQuery through %s writes no wildcard a user would have to suppress', (_name, endpoint) => {
    const stack = userApp((s) => {
      const pipeline = new SensorIngestPipeline(s, 'Pipeline', { queryEndpoint: endpoint() });
      pipeline.grantQuery(new iam.Role(s, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
    });
    expect(findings(stack)).toEqual([]);
  });

  test('the new parts carry exactly the suppressions they need: the delivery stream\'s encryption, its prefixes, an unauthenticated route when asked', () => {
    const suppressed = (props: (stack: Stack) => SensorIngestPipelineProps) => {
      const stack = userApp((s) => {
        new SensorIngestPipeline(s, 'Pipeline', props(s));
      });
      return stack.node.findAll().flatMap((c) => {
        const resource = c as unknown as { cfnResourceType?: string; getMetadata?: (key: string) => any };
        const rules = resource.cfnResourceType ? resource.getMetadata?.('cdk_nag')?.rules_to_suppress ?? [] : [];
        return rules.map((r: { id: string; applies_to?: unknown[] }) => `${c.node.path.replace('UserStack/Pipeline/', '')} ${r.id} ${JSON.stringify(r.applies_to ?? [])}`);
      }).sort();
    };
    expect(suppressed(() => ({
      archiver: Archiver.firehose({ prefix: 'iot/', errorOutputPrefix: 'iot-errors/' }),
      ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
      queryEndpoint: QueryEndpoint.httpApi(),
    })).filter((line) => !/^(Processor|Archiver\/AccessLogsBucket)\//.test(line))).toEqual([
      `Archiver/DeliveryRole/DefaultPolicy/Resource AwsSolutions-IAM5 ${JSON.stringify([{ regex: String.raw`/^Resource::.*/iot\/\*$/` }, { regex: String.raw`/^Resource::.*/iot-errors\/\*$/` }])}`,
      'Archiver/DeliveryStream/Resource AwsSolutions-KDF1 []',
      'QueryFunction/Resource AwsSolutions-L1 []',
    ]);
    expect(suppressed(() => ({ archiver: Archiver.none(), queryEndpoint: QueryEndpoint.httpApi({ allowUnauthenticated: true }) }))
      .filter((line) => line.startsWith('QueryEndpoint/'))).toEqual([
      'QueryEndpoint/HttpApi/GET--readings/Resource AwsSolutions-APIG4 []',
      'QueryEndpoint/HttpApi/POST--readings/Resource AwsSolutions-APIG4 []',
    ]);
  });

  test('every suppression the pipeline writes has a reason a reviewer can read', () => {
    const stack = userApp((s) => {
      new SensorIngestPipeline(s, 'Pipeline', {
        encryptionKey: new kms.Key(s, 'Key', { enableKeyRotation: true }),
        processor: IngestProcessor.dynamoDb({ metricsMode: MetricsMode.PUT_METRIC_DATA }),
        archiver: Archiver.firehose({ parquet: {} }),
        queryEndpoint: QueryEndpoint.httpApi({ allowUnauthenticated: true }),
      });
    });
    const resources = Object.values(stack.node.root.node.findAll()).flatMap((c) => {
      const metadata = (c as { getMetadata?: (key: string) => any }).getMetadata?.('cdk_nag');
      return metadata ? metadata.rules_to_suppress : [];
    }) as Array<{ id: string; reason: string }>;
    expect(resources.length).toBeGreaterThan(5);
    for (const rule of resources) {
      expect(rule.id).toMatch(/^AwsSolutions-[A-Z]+\d+$/);
      expect(rule.reason.length).toBeGreaterThan(40);
    }
  });
});
