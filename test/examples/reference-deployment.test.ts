import * as fs from 'fs';
import * as path from 'path';
import { App, NestedStack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  acknowledgedFindings, census, Finding, idOf, isLibraryResourceIn, normalizeAssets, only, permissionsOf, runAwsSolutions, suppressedFindings,
} from './template-helpers';
import { ReferenceDeploymentStack } from '../../examples/reference-stack';

describe('the reference deployment example', () => {
  const app = new App();
  const stack = new ReferenceDeploymentStack(app, 'IotBackendReference');
  const template = Template.fromStack(stack);
  const nested = Template.fromStack(stack.node.findChild('ConfigHelperStack') as NestedStack);
  const [poolId, pool] = only(template, 'AWS::Cognito::IdentityPool');
  const [, attachment] = only(template, 'AWS::Cognito::IdentityPoolRoleAttachment');
  const guestRoleId: string = attachment.Properties.Roles.unauthenticated['Fn::GetAtt'][0];
  const authenticatedRoleId: string = attachment.Properties.Roles.authenticated['Fn::GetAtt'][0];
  const ids = {
    stream: only(template, 'AWS::Kinesis::Stream')[0],
    query: idOf(template, 'AWS::Lambda::Function', 'PipelineQueryFunction'),
    deadLetterQueue: idOf(template, 'AWS::SQS::Queue', 'PipelineProcessorDeadLetterQueue'),
  };

  test('has every resource of the reference, the test client as an identity pool', () => {
    expect(census(template)).toEqual({
      // EventStream, SensorDataTable + ConfigTable, ArchiveBucket and its access-log
      // bucket (+ their policies)
      'AWS::Kinesis::Stream': 1,
      'AWS::DynamoDB::Table': 2,
      'AWS::S3::Bucket': 2,
      'AWS::S3::BucketPolicy': 2,
      // ApiFunction, DdbCloudWatchEventProcessorFunction, EventArchiverFunction, the
      // replay function of each event source mapping, their roles, policies and log
      // groups, and the function (and role) that empties the archive and log buckets
      // on delete
      'AWS::Lambda::Function': 6,
      'AWS::Logs::LogGroup': 5,
      'Custom::S3AutoDeleteObjects': 2,
      // the pipeline's alarms, the composite one, the dashboard and the metric
      // filters counting readings stored and archive objects
      'AWS::CloudWatch::Alarm': 16,
      'AWS::CloudWatch::CompositeAlarm': 1,
      'AWS::CloudWatch::Dashboard': 1,
      'AWS::Logs::MetricFilter': 2,
      // DdbCloudWatchProcessorSourceMapping, EventArchiverSourceMapping, and the
      // dead-letter and failed-batches queues
      'AWS::Lambda::EventSourceMapping': 2,
      'AWS::SQS::Queue': 3,
      'AWS::SQS::QueuePolicy': 3,
      // TestClientUser, TestClientPolicy, TestClientKeys: the identity pool, its role
      // attachment, its guest and authenticated roles and the guest role's policy
      'AWS::Cognito::IdentityPool': 1,
      'AWS::Cognito::IdentityPoolRoleAttachment': 1,
      // 5 functions, auto-delete provider, guest, authenticated
      'AWS::IAM::Role': 8,
      // 5 functions, guest
      'AWS::IAM::Policy': 6,
      // ConfigHelperStack
      'AWS::CloudFormation::Stack': 1,
    });
    expect(census(nested)).toEqual({
      'Custom::AWS': 1,
      // the custom resource's provider function, with a role and log group of its own
      'AWS::Lambda::Function': 1,
      'AWS::IAM::Role': 1,
      'AWS::IAM::Policy': 2,
      'AWS::Logs::LogGroup': 1,
    });
  });

  test('no IAM user, access key or secret anywhere in the app', () => {
    const assembly = app.synth();
    const templates = [...assembly.stacksRecursively.map((s) => s.template), nested.toJSON()];
    expect(templates).toHaveLength(2);
    for (const t of templates) {
      const types = Object.values<{ Type: string }>(t.Resources).map((r) => r.Type);
      for (const type of ['AWS::IAM::User', 'AWS::IAM::AccessKey', 'AWS::IAM::UserToGroupAddition', 'AWS::IAM::Group', 'AWS::SecretsManager::Secret']) {
        expect(types).not.toContain(type);
      }
      expect(JSON.stringify(t)).not.toMatch(/SecretAccessKey|AccessKeyId/);
    }
  });

  test('the identity pool gives guest identities, through the enhanced flow only', () => {
    expect(pool.Properties).toEqual({ AllowUnauthenticatedIdentities: true, AllowClassicFlow: false, CognitoIdentityProviders: [] });
    for (const [roleId, amr] of [[guestRoleId, 'unauthenticated'], [authenticatedRoleId, 'authenticated']]) {
      expect(template.toJSON().Resources[roleId].Properties.AssumeRolePolicyDocument.Statement).toEqual([{
        Action: 'sts:AssumeRoleWithWebIdentity',
        Effect: 'Allow',
        Principal: { Federated: 'cognito-identity.amazonaws.com' },
        Condition: {
          'StringEquals': { 'cognito-identity.amazonaws.com:aud': { Ref: poolId } },
          'ForAnyValue:StringLike': { 'cognito-identity.amazonaws.com:amr': amr },
        },
      }]);
    }
  });

  test('the guest role may put records, invoke the query function, peek at dead letters and read metric data, nothing else', () => {
    const guest = permissionsOf(template, guestRoleId);
    expect(guest.managed).toBeUndefined();
    expect(guest.inline).toBeUndefined();
    expect(guest.statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords'],
        Resource: { 'Fn::GetAtt': [ids.stream, 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: { 'Fn::GetAtt': [ids.query, 'Arn'] },
      },
      {
        // no sqs:DeleteMessage: the page shows dead letters without consuming them
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:GetQueueAttributes'],
        Resource: { 'Fn::GetAtt': [ids.deadLetterQueue, 'Arn'] },
      },
      {
        // GetMetricData and ListMetrics have no resource-level permissions
        Effect: 'Allow',
        Action: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'],
        Resource: '*',
      },
    ]);
  });

  test('the authenticated role has no permissions: the page signs nobody in', () => {
    expect(permissionsOf(template, authenticatedRoleId)).toEqual({ statements: [], managed: undefined, inline: undefined });
  });

  test('outputs the reference outputs the page needs, the identity pool instead of a key', () => {
    const outputs = template.toJSON().Outputs;
    expect(Object.keys(outputs).sort()).toEqual([
      'ArchiveBucket', 'DeadLetterQueueUrl', 'IdentityPoolId', 'KinesisStream', 'LambdaAPIFunction', 'Region', 'SensorDataTable',
    ]);
    expect(outputs.IdentityPoolId.Value).toEqual({ Ref: poolId });
    expect(outputs.DeadLetterQueueUrl.Value).toEqual({ Ref: ids.deadLetterQueue });
    expect(outputs.KinesisStream.Value).toEqual({ Ref: ids.stream });
    expect(outputs.LambdaAPIFunction.Value).toEqual({ Ref: ids.query });
    expect(outputs.Region.Value).toEqual({ Ref: 'AWS::Region' });
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

  test('the ConfigTable is IoTRefArchConfig and the helper writes both entries for Environment=demo', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'IoTRefArchConfig',
      KeySchema: [{ AttributeName: 'Environment', KeyType: 'HASH' }],
    });
    nested.resourceCountIs('Custom::AWS', 1);
    const create = JSON.stringify(Object.values(nested.findResources('Custom::AWS'))[0].Properties.Create);
    for (const fragment of ['updateItem', 'demo', 'SensorDataTable', 'ArchiveBucket']) expect(create).toContain(fragment);
  });

  test("the config helper's function writes to its own log group and updates the config table, nothing else", () => {
    const [roleId, role] = only(nested, 'AWS::IAM::Role');
    const [logGroupId] = only(nested, 'AWS::Logs::LogGroup');
    const [, fn] = only(nested, 'AWS::Lambda::Function');
    expect(fn.Properties.Role).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: logGroupId } });
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    const permissions = permissionsOf(nested, roleId);
    expect(permissions.managed).toBeUndefined();
    expect(permissions.inline).toBeUndefined();
    expect(permissions.statements).toEqual([
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
      { Effect: 'Allow', Action: 'dynamodb:UpdateItem', Resource: { Ref: expect.stringMatching(/^referencetoIotBackendReferenceConfigTable[0-9A-F]{8}Arn$/) } },
    ]);
    nested.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Delete' });
  });

  test('matches the snapshot', () => {
    expect(normalizeAssets(template.toJSON())).toMatchSnapshot();
    expect(normalizeAssets(nested.toJSON())).toMatchSnapshot();
  });
});

describe('cdk-nag AwsSolutions over the whole example, as a user runs it', () => {
  const collector = runAwsSolutions((app) => new ReferenceDeploymentStack(app, 'IotBackendReference'));
  const isLibraryResource = isLibraryResourceIn('IotBackendReference');
  const line = (f: Finding) => `${f.level} ${f.rule}: ${f.resource}`;
  const exampleFindings = collector.open.filter((f) => !isLibraryResource(f.resource)).map(line).sort();
  const librarySuppressed = collector.suppressed.filter((f) => isLibraryResource(f.resource));
  const exampleSuppressed = collector.suppressed.filter((f) => !isLibraryResource(f.resource));
  const libraryFindings = collector.open.filter((f) => isLibraryResource(f.resource)).map(line).sort();

  afterAll(() => {
    fs.mkdirSync('test-reports', { recursive: true });
    fs.writeFileSync(path.join('test-reports', 'cdk-nag-reference-example.txt'), [
      'cdk-nag AwsSolutions over examples/reference-stack.ts',
      '', `example findings, unsuppressed (${exampleFindings.length}):`, ...exampleFindings,
      '', `example findings, suppressed (${exampleSuppressed.length}):`, ...exampleSuppressed.map((f) => `${line(f)}\n    ${f.reason}`),
      '', `library findings, unsuppressed (${libraryFindings.length}):`, ...libraryFindings,
      '', `library findings, suppressed (${librarySuppressed.length}):`, ...librarySuppressed.map(line),
      '',
    ].join('\n'));
  });

  test('the run evaluated the whole app: the nested stack, the identity pool and the library', () => {
    for (const resource of [
      'IotBackendReference/ConfigHelperStack/AWS679f53fac002430cb0da5b7982bd2287/Resource',
      'IotBackendReference/ConfigHelperStack/ConfigEntriesRole/Resource',
      'IotBackendReference/ConfigTable/Resource',
      'IotBackendReference/TestClientIdentityPool/Resource',
      'IotBackendReference/TestClientIdentityPool/UnauthenticatedRole/DefaultPolicy/Resource',
      'IotBackendReference/Pipeline/QueryFunction/Resource',
    ]) expect(collector.evaluated).toContain(resource);
  });

  test("no unsuppressed error or warning on the example's own resources", () => {
    expect(exampleFindings).toEqual([]);
  });

  test('none on the library\'s resources either: the pipeline carries its suppressions, each with its reason', () => {
    expect(libraryFindings).toEqual([]);
    expect(librarySuppressed.map(line).sort()).toEqual([
      'Error AwsSolutions-IAM5[Resource::*]: IotBackendReference/Pipeline/Processor/FunctionRole/DefaultPolicy/Resource',
      'Error AwsSolutions-SQS3: IotBackendReference/Pipeline/Archiver/FailedBatches/Resource',
      'Error AwsSolutions-SQS3: IotBackendReference/Pipeline/Processor/DeadLetterQueue/Resource',
      'Error AwsSolutions-SQS3: IotBackendReference/Pipeline/Processor/FailedBatches/Resource',
      'Error AwsSolutions-IAM5[Resource::<PipelineArchiverBucket29C417E9.Arn>/raw/*]: IotBackendReference/Pipeline/Archiver/FunctionRole/DefaultPolicy/Resource',
    ].sort());
    for (const f of librarySuppressed) expect(f.reason!.length).toBeGreaterThan(40);
  });

  test('the example suppresses exactly the findings it accepts, each with its reason in the template', () => {
    expect(exampleSuppressed.map(line).sort()).toEqual([
      // guest identities: the test page has no sign-in
      'Error AwsSolutions-COG7: IotBackendReference/TestClientIdentityPool/Resource',
      // cloudwatch:GetMetricData and ListMetrics have no resource-level permissions
      'Error AwsSolutions-IAM5[Resource::*]: IotBackendReference/TestClientIdentityPool/UnauthenticatedRole/DefaultPolicy/Resource',
      // aws-cdk-lib's AwsCustomResource provider chooses its own runtime
      'Error AwsSolutions-L1: IotBackendReference/ConfigHelperStack/AWS679f53fac002430cb0da5b7982bd2287/Resource',
    ].sort());
    for (const f of exampleSuppressed) expect(f.reason!.length).toBeGreaterThan(80);
  });

  test('for cdk-nag 3, the example and the library acknowledge exactly the findings suppressed here, with the same reasons', () => {
    expect(acknowledgedFindings(collector.app!)).toEqual(suppressedFindings(collector));
  });
});
