import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ReferenceDeploymentStack } from '../../examples/reference-stack';

/** Asset hashes change with every handler edit; the snapshot keeps everything else. */
function normalizeAssets(json: unknown): unknown {
  return JSON.parse(JSON.stringify(json).replace(/[0-9a-f]{64}(\.zip|\.json)?/g, 'ASSET_HASH$1'));
}

describe('the reference deployment example', () => {
  const app = new App();
  const stack = new ReferenceDeploymentStack(app, 'IotBackendReference');
  const template = Template.fromStack(stack);
  const nested = Template.fromStack(stack.node.findChild('ConfigHelperStack') as any);

  test('has every resource of the reference', () => {
    // EventStream, SensorDataTable + ConfigTable, ArchiveBucket
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
    template.resourceCountIs('AWS::S3::Bucket', 1);
    // ApiFunction, DdbCloudWatchEventProcessorFunction, EventArchiverFunction and their
    // roles, and the function (and role) that empties the archive bucket on delete
    template.resourceCountIs('AWS::Lambda::Function', 4);
    template.resourceCountIs('AWS::IAM::Role', 4);
    // DdbCloudWatchProcessorSourceMapping, EventArchiverSourceMapping
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    // TestClientUser, TestClientPolicy (the user's policy), TestClientKeys
    template.resourceCountIs('AWS::IAM::User', 1);
    template.resourceCountIs('AWS::IAM::AccessKey', 1);
    // ConfigHelperStack
    template.resourceCountIs('AWS::CloudFormation::Stack', 1);
  });

  test('everything goes when the stack is deleted: the archive bucket is emptied first', () => {
    const bucket = Object.keys(template.findResources('AWS::S3::Bucket'))[0];
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    template.hasResourceProperties('Custom::S3AutoDeleteObjects', { BucketName: { Ref: bucket } });
    for (const type of ['AWS::Kinesis::Stream', 'AWS::DynamoDB::Table']) {
      expect(Object.values(template.findResources(type)).map((r) => r.DeletionPolicy)).toEqual(Object.keys(template.findResources(type)).map(() => 'Delete'));
    }
  });

  test('event source mappings at the reference batch sizes, from the trim horizon', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 25, StartingPosition: 'TRIM_HORIZON', FunctionResponseTypes: ['ReportBatchItemFailures'] });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 100, StartingPosition: 'TRIM_HORIZON', FunctionResponseTypes: ['ReportBatchItemFailures'] });
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 1 });
  });

  test('the test client may put records and invoke the query function, nothing else', () => {
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Users: Match.anyValue() } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements.flatMap((s: any) => [s.Action].flat()).sort()).toEqual([
      'kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords', 'lambda:InvokeFunction',
    ]);
  });

  test('outputs the reference outputs, but never the secret key in plain text', () => {
    const outputs = template.toJSON().Outputs;
    expect(Object.keys(outputs).sort()).toEqual([
      'AccessKeyId', 'ArchiveBucket', 'KinesisStream', 'LambdaAPIFunction', 'Region', 'SecretAccessKeySecretArn', 'SensorDataTable',
    ]);
    expect(JSON.stringify(outputs)).not.toContain('SecretAccessKey"]');
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      SecretString: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TestClientKeys'), 'SecretAccessKey'] },
    });
  });

  test('the ConfigTable is IoTRefArchConfig and the helper writes both entries for Environment=demo', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'IoTRefArchConfig',
      KeySchema: [{ AttributeName: 'Environment', KeyType: 'HASH' }],
    });
    nested.resourceCountIs('Custom::AWS', 1);
    const create = JSON.stringify(Object.values(nested.findResources('Custom::AWS'))[0].Properties.Create);
    for (const fragment of ['updateItem', 'demo', 'SensorDataTable', 'ArchiveBucket']) expect(create).toContain(fragment);
  });

  test('matches the snapshot', () => {
    expect(normalizeAssets(template.toJSON())).toMatchSnapshot();
    expect(normalizeAssets(nested.toJSON())).toMatchSnapshot();
  });
});
