import { CfnOutput, CfnResource, Duration, NestedStack, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { addNagSuppressions } from './nag-metadata';
import { TestClientIdentity } from './test-client-identity';
import { Archiver, IngestProcessor, MetricsMode, SensorIngestPipeline, TableLayout } from '../src';

/**
 * The Serverless IoT Backend reference deployment, every resource of it,
 * built on SensorIngestPipeline. See README.md beside this file for which
 * construct creates each reference resource.
 */
/** Props of the reference deployment. */
export interface ReferenceDeploymentStackProps extends StackProps {
  /**
   * How the table holds readings: the reference's one item per reading, or
   * packed (the same deployment at a tenth of the writes).
   *
   * @default TableLayout.perReading()
   */
  readonly tableLayout?: TableLayout;

  /**
   * How long the table keeps readings and rollups (its time to live).
   *
   * @default - for ever, as the reference
   */
  readonly retention?: Duration;
}

export class ReferenceDeploymentStack extends Stack {
  public readonly pipeline: SensorIngestPipeline;

  constructor(scope: Construct, id: string, props?: ReferenceDeploymentStackProps) {
    super(scope, id, props);

    // EventStream, SensorDataTable, ArchiveBucket and the three functions with
    // their roles and event source mappings.
    this.pipeline = new SensorIngestPipeline(this, 'Pipeline', {
      shardCount: 1,
      tableLayout: props?.tableLayout,
      retention: props?.retention,
      // The pipeline's CloudWatch dashboard, beside its alarms.
      dashboard: true,
      // A demo: everything goes when the stack is deleted, the archive bucket
      // with its objects (below).
      removalPolicy: RemovalPolicy.DESTROY,
      processor: IngestProcessor.dynamoDb({
        // The reference's batch size and starting position, and its metric
        // published with PutMetricData (aggregated per sensor and minute).
        batchSize: 25,
        maxBatchingWindow: Duration.seconds(0),
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        metricsMode: MetricsMode.PUT_METRIC_DATA,
      }),
      archiver: Archiver.s3({
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(0),
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        // CloudFormation deletes only an empty bucket.
        autoDeleteObjects: true,
      }),
    });
    const archiveBucket = this.pipeline.archiveBucket!;
    const deadLetterQueue = this.pipeline.deadLetterQueue!; // IngestProcessor.dynamoDb() defaults to a queue

    // TestClientUser, TestClientPolicy, TestClientKeys: the test page's
    // identity, a Cognito identity pool's guest role instead of an IAM user
    // with an access key (a long-lived secret).
    const identityPool = new TestClientIdentity(this, 'TestClientIdentityPool', { pipeline: this.pipeline });

    // ConfigTable and ConfigHelperStack: the reference's fixed-name
    // configuration table, with its entries written at deploy time by a custom
    // resource in a nested stack. The library's handlers read environment
    // variables instead; the table is kept for tools that read it.
    const configTable = new dynamodb.Table(this, 'ConfigTable', {
      tableName: 'IoTRefArchConfig',
      partitionKey: { name: 'Environment', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    new ConfigHelperStack(this, 'ConfigHelperStack', {
      configTable,
      entries: {
        SensorDataTable: this.pipeline.table.tableName,
        ArchiveBucket: archiveBucket.bucketName,
      },
    });

    new CfnOutput(this, 'IdentityPoolId', {
      value: identityPool.identityPoolId,
      description: "Cognito identity pool giving the test page temporary credentials (its config.json's identityPoolId)",
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: deadLetterQueue.queueUrl, description: 'Queue of records that failed validation' });
    new CfnOutput(this, 'LambdaAPIFunction', { value: this.pipeline.queryFunction.functionName });
    new CfnOutput(this, 'KinesisStream', { value: this.pipeline.stream.streamName });
    new CfnOutput(this, 'Region', { value: this.region });
    new CfnOutput(this, 'ArchiveBucket', { value: archiveBucket.bucketName });
    new CfnOutput(this, 'SensorDataTable', { value: this.pipeline.table.tableName });
  }
}

interface ConfigHelperStackProps {
  readonly configTable: dynamodb.ITable;
  readonly entries: Record<string, string>;
}

/** The reference's ConfigHelperStack: writes the configuration entries, and removes them on delete. */
class ConfigHelperStack extends NestedStack {
  constructor(scope: Construct, id: string, props: ConfigHelperStackProps) {
    super(scope, id);
    const names = Object.keys(props.entries);
    const key = { Environment: { S: 'demo' } };
    const attrNames = Object.fromEntries(names.map((n, i) => [`#a${i}`, n]));
    const table = props.configTable.tableName;
    // The provider function's own role and log group: it may write its logs
    // to that group only, where the default role would bring the managed
    // AWSLambdaBasicExecutionRole (logs on every log group).
    const role = new iam.Role(this, 'ConfigEntriesRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Writes and removes the IoTRefArchConfig entries at deploy time',
    });
    const logGroup = new logs.LogGroup(this, 'ConfigEntriesLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    logGroup.grantWrite(role);
    new cr.AwsCustomResource(this, 'ConfigEntries', {
      onCreate: {
        service: 'DynamoDB',
        action: 'updateItem',
        parameters: {
          TableName: table,
          Key: key,
          UpdateExpression: 'SET ' + names.map((_, i) => `#a${i} = :v${i}`).join(', '),
          ExpressionAttributeNames: attrNames,
          ExpressionAttributeValues: Object.fromEntries(names.map((n, i) => [`:v${i}`, { S: props.entries[n] }])),
        },
        physicalResourceId: cr.PhysicalResourceId.of('IoTRefArchConfig-demo'),
      },
      onDelete: {
        service: 'DynamoDB',
        action: 'updateItem',
        parameters: {
          TableName: table,
          Key: key,
          UpdateExpression: 'REMOVE ' + names.map((_, i) => `#a${i}`).join(', '),
          ExpressionAttributeNames: attrNames,
        },
      },
      installLatestAwsSdk: false,
      role,
      logGroup,
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [props.configTable.tableArn] }),
      ]),
    });
    // The provider is one function per stack (a SingletonFunction); this
    // nested stack holds no other.
    for (const fn of this.node.findAll().filter((c) => CfnResource.isCfnResource(c) && c.cfnResourceType === 'AWS::Lambda::Function')) {
      addNagSuppressions(fn as CfnResource, [{
        id: 'AwsSolutions-L1',
        reason: "aws-cdk-lib's AwsCustomResource provider: aws-cdk-lib chooses its runtime (the newest Node.js it ships the "
          + 'provider for) and moves it with aws-cdk-lib upgrades; overriding it would run the provider on a runtime it was '
          + 'not released for. It runs only when CloudFormation creates or deletes this resource.',
      }]);
    }
  }
}
