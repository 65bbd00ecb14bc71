import { CfnOutput, Duration, NestedStack, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { Archiver, IngestProcessor, MetricsMode, SensorIngestPipeline } from '../src';

/**
 * The Serverless IoT Backend reference deployment, every resource of it,
 * built on SensorIngestPipeline. See README.md beside this file for which
 * construct creates each reference resource.
 */
export class ReferenceDeploymentStack extends Stack {
  public readonly pipeline: SensorIngestPipeline;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // EventStream, SensorDataTable, ArchiveBucket and the three functions with
    // their roles and event source mappings.
    this.pipeline = new SensorIngestPipeline(this, 'Pipeline', {
      shardCount: 1,
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

    // TestClientUser, TestClientPolicy, TestClientKeys: the test page's
    // identity, allowed to put records and invoke the query function, nothing
    // else. The grants write the user's policy (TestClientUser/DefaultPolicy).
    const user = new iam.User(this, 'TestClientUser');
    this.pipeline.grantPutRecords(user);
    this.pipeline.grantQuery(user);
    const keys = new iam.AccessKey(this, 'TestClientKeys', { user });
    // The secret key goes to Secrets Manager, never to a stack output.
    const keySecret = new secretsmanager.Secret(this, 'TestClientSecret', {
      description: 'Secret access key of the IoT backend test client user',
      secretStringValue: keys.secretAccessKey,
    });

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

    new CfnOutput(this, 'AccessKeyId', { value: keys.accessKeyId, description: 'Access key id of the test client user' });
    new CfnOutput(this, 'SecretAccessKeySecretArn', {
      value: keySecret.secretArn,
      description: 'Secrets Manager secret holding the test client secret access key (aws secretsmanager get-secret-value --secret-id <arn>)',
    });
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
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [props.configTable.tableArn] }),
      ]),
    });
  }
}
