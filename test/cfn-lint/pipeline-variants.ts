import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ArchiveAccessLogs, Archiver, DeadLetterDestination, IngestProcessor, MetricsMode, SensorIngestPipeline } from '../../src';

/**
 * One stack per prop combination that changes the shape of the pipeline's
 * template, for cfn-lint (test/cfn-lint/run.sh). Written to $CDK_OUTDIR.
 * Environment-agnostic, as most users' stacks are.
 */
const app = new App();

function variant(id: string, build: (stack: Stack) => void): void {
  build(new Stack(app, `Pipeline${id}`));
}

function ownFunction(stack: Stack, id: string): lambda.Function {
  return new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({ batchItemFailures: [] });'),
  });
}

variant('Default', (stack) => new SensorIngestPipeline(stack, 'Pipeline'));

// A stream of your own, here encrypted with a key of your own: the grants
// then reach the key too.
variant('OwnStream', (stack) => new SensorIngestPipeline(stack, 'Pipeline', {
  stream: new kinesis.Stream(stack, 'Stream', {
    encryption: kinesis.StreamEncryption.KMS,
    encryptionKey: new kms.Key(stack, 'StreamKey', { enableKeyRotation: true }),
  }),
}));

variant('OnDemand', (stack) => new SensorIngestPipeline(stack, 'Pipeline', {
  streamMode: kinesis.StreamMode.ON_DEMAND,
}));

variant('PutMetricData', (stack) => new SensorIngestPipeline(stack, 'Pipeline', {
  processor: IngestProcessor.dynamoDb({ metricsMode: MetricsMode.PUT_METRIC_DATA }),
}));

variant('BucketDeadLetters', (stack) => new SensorIngestPipeline(stack, 'Pipeline', {
  processor: IngestProcessor.dynamoDb({
    deadLetterDestination: DeadLetterDestination.bucket(new s3.Bucket(stack, 'Rejected', { enforceSSL: true }), 'rejected/'),
  }),
}));

variant('NoArchive', (stack) => new SensorIngestPipeline(stack, 'Pipeline', {
  archiver: Archiver.none(),
}));

// A function of your own as the processor, and one more consumer beside it.
variant('OwnProcessors', (stack) => {
  const pipeline = new SensorIngestPipeline(stack, 'Pipeline', {
    processor: IngestProcessor.fromFunction(ownFunction(stack, 'Store')),
  });
  pipeline.addProcessor('Alerts', IngestProcessor.fromFunction(ownFunction(stack, 'Alert'), {
    batchSize: 50,
    grantTableAccess: false,
  }));
});

// One customer-managed key for the stream, the table, the queues and the archive.
variant('CustomerKey', (stack) => new SensorIngestPipeline(stack, 'Pipeline', {
  encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }),
}));

// Everything goes with the stack; access logs to a bucket of your own; alarms
// paging a topic; the dashboard.
variant('Operations', (stack) => new SensorIngestPipeline(stack, 'Pipeline', {
  removalPolicy: RemovalPolicy.DESTROY,
  archiver: Archiver.s3({ autoDeleteObjects: true, accessLogs: ArchiveAccessLogs.toBucket(new s3.Bucket(stack, 'Audit', { enforceSSL: true })) }),
  alarms: { actions: [new cloudwatchActions.SnsAction(new sns.Topic(stack, 'Pager'))], actionsOnEveryAlarm: true },
  dashboard: true,
}));

variant('NoAccessLogs', (stack) => new SensorIngestPipeline(stack, 'Pipeline', {
  alarms: { enabled: false },
  archiver: Archiver.s3({ accessLogs: ArchiveAccessLogs.disabled('synthetic data of a load test') }),
}));

app.synth();
