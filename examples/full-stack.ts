import { CfnOutput, Duration, RemovalPolicy, Size, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { TestClientIdentity } from './test-client-identity';
import { Archiver, Ingress, IngestProcessor, QueryEndpoint, SensorIngestPipeline } from '../src';

/** The MQTT topics devices publish readings on: `sensors/<sensor id>/readings`. */
export const READINGS_TOPIC_FILTER = 'sensors/+/readings';

export interface FullDeploymentStackProps extends StackProps {
  /**
   * The origins of the test page, allowed to call the query URL from a browser.
   *
   * @default - the local run's page: http://localhost:3000 and http://127.0.0.1:3000
   */
  readonly testPageOrigins?: string[];
}

/**
 * The IoT backend with every optional part of the library at once: devices
 * publish to AWS IoT Core, a topic rule puts their readings on the stream,
 * the processor reads it through enhanced fan-out, Amazon Data Firehose
 * archives it as Parquet that Athena can query, and the query function
 * answers over an HTTP API with IAM auth. The test page's identity is a
 * Cognito identity pool's guest role, as in the reference deployment.
 */
export class FullDeploymentStack extends Stack {
  public readonly pipeline: SensorIngestPipeline;

  constructor(scope: Construct, id: string, props: FullDeploymentStackProps = {}) {
    super(scope, id, props);

    this.pipeline = new SensorIngestPipeline(this, 'Pipeline', {
      // A demo: everything goes when the stack is deleted, the archive with it.
      removalPolicy: RemovalPolicy.DESTROY,
      dashboard: true,
      // Each message published on sensors/<id>/readings becomes one record,
      // keyed by its sensorid.
      ingress: Ingress.iotTopicRule({ sql: `SELECT * FROM '${READINGS_TOPIC_FILTER}'` }),
      // 2 MB/s per shard of its own, beside the Firehose archiver's shared reads.
      processor: IngestProcessor.dynamoDb({ enhancedFanOut: true }),
      archiver: Archiver.firehose({
        parquet: { databaseName: 'iot_backend_full', tableName: 'readings' },
        partitionBySensor: true,
        // Dynamic partitioning's shortest interval: the archive of a demo shows within minutes.
        bufferingInterval: Duration.minutes(1),
        bufferingSize: Size.mebibytes(64),
        autoDeleteObjects: true,
      }),
      // An HTTP API with the IAM authorizer: the page signs its requests with
      // the guest role's credentials; the stage throttles (50 requests a
      // second, bursts of 100) and logs each request. An HTTP API rather than
      // a Function URL because CloudFormation offers it in every region.
      queryEndpoint: QueryEndpoint.httpApi({
        cors: { allowOrigins: props.testPageOrigins ?? ['http://localhost:3000', 'http://127.0.0.1:3000'] },
      }),
    });
    const deadLetterQueue = this.pipeline.deadLetterQueue!; // IngestProcessor.dynamoDb() defaults to a queue
    const archive = this.pipeline.archiverBinding;
    const ingress = this.pipeline.ingressBinding;

    // The test page's identity, as in the reference deployment: temporary
    // credentials of a guest role that may do what the page does, and no more.
    const identityPool = new TestClientIdentity(this, 'TestClientIdentityPool', { pipeline: this.pipeline });

    new CfnOutput(this, 'QueryUrl', {
      value: this.pipeline.queryUrl!,
      description: 'The query API (IAM auth: sign requests with SigV4): GET <url>readings?sensorid=... or POST <url>readings',
    });
    new CfnOutput(this, 'ReadingsTopic', { value: READINGS_TOPIC_FILTER, description: 'Devices publish readings on sensors/<sensor id>/readings' });
    new CfnOutput(this, 'TopicRuleName', { value: ingress.topicRule!.ref });
    new CfnOutput(this, 'IngressErrorLogGroup', { value: ingress.errorLogGroup!.logGroupName, description: 'Messages the topic rule could not put on the stream' });
    new CfnOutput(this, 'DeliveryStreamName', { value: archive.deliveryStream!.deliveryStreamName });
    new CfnOutput(this, 'ArchiveBucket', { value: this.pipeline.archiveBucket!.bucketName });
    new CfnOutput(this, 'GlueDatabase', { value: archive.glueDatabase!.ref, description: 'Athena: SELECT * FROM <database>.readings WHERE year = ...' });
    new CfnOutput(this, 'IdentityPoolId', { value: identityPool.identityPoolId });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: deadLetterQueue.queueUrl });
    new CfnOutput(this, 'LambdaAPIFunction', { value: this.pipeline.queryFunction.functionName });
    new CfnOutput(this, 'KinesisStream', { value: this.pipeline.stream.streamName });
    new CfnOutput(this, 'SensorDataTable', { value: this.pipeline.table.tableName });
    new CfnOutput(this, 'Region', { value: this.region });
  }
}
