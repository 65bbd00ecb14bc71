import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  acknowledgedFindings, census, Finding, idOf, isLibraryResourceIn, normalizeAssets, only, runAwsSolutions, statementsOf, suppressedFindings,
} from './template-helpers';
import { FullDeploymentStack, READINGS_TOPIC_FILTER } from '../../examples/full-stack';

describe('the full deployment example: IoT ingress, enhanced fan-out, Firehose archive, HTTP query API', () => {
  const app = new App();
  const stack = new FullDeploymentStack(app, 'IotBackendFull');
  const template = Template.fromStack(stack);
  const ids = {
    stream: only(template, 'AWS::Kinesis::Stream')[0],
    processor: idOf(template, 'AWS::Lambda::Function', 'PipelineProcessorFunction'),
    query: idOf(template, 'AWS::Lambda::Function', 'PipelineQueryFunction'),
    bucket: idOf(template, 'AWS::S3::Bucket', 'PipelineArchiverBucket'),
    deadLetterQueue: idOf(template, 'AWS::SQS::Queue', 'PipelineProcessorDeadLetterQueue'),
  };

  test('has every part, and no archiver function', () => {
    expect(census(template)).toEqual({
      // the stream, its enhanced fan-out consumer and the table
      'AWS::Kinesis::Stream': 1,
      'AWS::Kinesis::StreamConsumer': 1,
      'AWS::DynamoDB::Table': 1,
      // the IoT topic rule
      'AWS::IoT::TopicRule': 1,
      // the processor, its replay function, the query function and the function that empties the buckets on delete
      'AWS::Lambda::Function': 4,
      'AWS::Lambda::EventSourceMapping': 1,
      // the query API: GET and POST /readings, each allowed to invoke the query function, and its stage
      'AWS::ApiGatewayV2::Api': 1,
      'AWS::ApiGatewayV2::Route': 2,
      'AWS::ApiGatewayV2::Integration': 1,
      'AWS::ApiGatewayV2::Stage': 1,
      'AWS::Lambda::Permission': 2,
      // the Firehose archiver: delivery stream, archive and access-log buckets, Glue database and table
      'AWS::KinesisFirehose::DeliveryStream': 1,
      'AWS::S3::Bucket': 2,
      'AWS::S3::BucketPolicy': 2,
      'Custom::S3AutoDeleteObjects': 2,
      'AWS::Glue::Database': 1,
      'AWS::Glue::Table': 1,
      // log groups of the three functions, the rule's error log, the delivery stream's (with its
      // stream) and the API's access log
      'AWS::Logs::LogGroup': 6,
      'AWS::Logs::LogStream': 1,
      // readings stored (processor), messages the rule could not put
      'AWS::Logs::MetricFilter': 2,
      // dead letters and the processor's failed batches
      'AWS::SQS::Queue': 2,
      'AWS::SQS::QueuePolicy': 2,
      'AWS::CloudWatch::Alarm': 17,
      'AWS::CloudWatch::CompositeAlarm': 1,
      'AWS::CloudWatch::Dashboard': 1,
      'AWS::Cognito::IdentityPool': 1,
      'AWS::Cognito::IdentityPoolRoleAttachment': 1,
      // processor, replay, query, auto-delete provider, the rule's put and error roles, Firehose, guest, authenticated
      'AWS::IAM::Role': 9,
      // processor, replay, query, the rule's two roles, Firehose, guest
      'AWS::IAM::Policy': 7,
    });
  });

  test('devices publish on sensors/<id>/readings; the rule puts each message on the stream, keyed by its sensorid', () => {
    expect(READINGS_TOPIC_FILTER).toBe('sensors/+/readings');
    template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: "SELECT * FROM 'sensors/+/readings'",
        Actions: [{ Kinesis: { StreamName: { Ref: ids.stream }, PartitionKey: '${sensorid}', RoleArn: { 'Fn::GetAtt': [idOf(template, 'AWS::IAM::Role', 'PipelineIngressPutRole'), 'Arn'] } } }],
        ErrorAction: { CloudwatchLogs: { LogGroupName: { Ref: idOf(template, 'AWS::Logs::LogGroup', 'PipelineIngressErrorLogs') } } },
      },
    });
  });

  test('the processor reads through its own stream consumer', () => {
    const [consumerId] = only(template, 'AWS::Kinesis::StreamConsumer');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: ids.processor },
      EventSourceArn: { 'Fn::GetAtt': [consumerId, 'ConsumerARN'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  test('Firehose reads the stream and writes Parquet by hour and sensor, a minute at a time, for the Glue table', () => {
    const [, stream] = only(template, 'AWS::KinesisFirehose::DeliveryStream');
    expect(stream.Properties.KinesisStreamSourceConfiguration.KinesisStreamARN).toEqual({ 'Fn::GetAtt': [ids.stream, 'Arn'] });
    const destination = stream.Properties.ExtendedS3DestinationConfiguration;
    expect(destination).toMatchObject({
      BucketARN: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
      BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 64 },
      Prefix: expect.stringMatching(/^raw\/year=.*\/sensor=!\{partitionKeyFromQuery:sensor\}\/$/),
      DataFormatConversionConfiguration: expect.objectContaining({ Enabled: true }),
    });
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'iot_backend_full' } });
    template.hasResourceProperties('AWS::Glue::Table', { TableInput: { Name: 'readings' } });
  });

  test('the query function answers on an HTTP API: IAM-authorized routes, throttled stage, CORS for the local run\'s page', () => {
    const [apiId] = only(template, 'AWS::ApiGatewayV2::Api');
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: { AllowOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'], AllowMethods: ['GET', 'POST', 'OPTIONS'] },
    });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => `${r.Properties.RouteKey} ${r.Properties.AuthorizationType}`);
    expect(routes.sort()).toEqual(['GET /readings AWS_IAM', 'POST /readings AWS_IAM']);
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', { ApiId: { Ref: apiId }, IntegrationUri: { 'Fn::GetAtt': [ids.query, 'Arn'] } });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 } });
    const other = Template.fromStack(new FullDeploymentStack(new App(), 'Deployed', { testPageOrigins: ['https://page.example.com'] }));
    other.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: { AllowOrigins: ['https://page.example.com'] } });
  });

  test('the guest role may put records, query through the Lambda API or the HTTP API, peek at dead letters and read metric data', () => {
    const [, attachment] = only(template, 'AWS::Cognito::IdentityPoolRoleAttachment');
    const guest: string = attachment.Properties.Roles.unauthenticated['Fn::GetAtt'][0];
    const [apiId] = only(template, 'AWS::ApiGatewayV2::Api');
    const route = (method: string) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':execute-api:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':', { Ref: apiId }, `/$default/${method}/readings`]],
    });
    expect(statementsOf(template, guest)).toEqual([
      { Effect: 'Allow', Action: ['kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords'], Resource: { 'Fn::GetAtt': [ids.stream, 'Arn'] } },
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [ids.query, 'Arn'] } },
      { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: [route('GET'), route('POST')] },
      { Effect: 'Allow', Action: ['sqs:ReceiveMessage', 'sqs:GetQueueAttributes'], Resource: { 'Fn::GetAtt': [ids.deadLetterQueue, 'Arn'] } },
      { Effect: 'Allow', Action: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'], Resource: '*' },
    ]);
  });

  test('outputs what the page, a device and Athena need', () => {
    const outputs = template.toJSON().Outputs;
    expect(Object.keys(outputs).sort()).toEqual([
      'ArchiveBucket', 'DeadLetterQueueUrl', 'DeliveryStreamName', 'GlueDatabase', 'IdentityPoolId', 'IngressErrorLogGroup', 'KinesisStream',
      'LambdaAPIFunction', 'QueryUrl', 'ReadingsTopic', 'Region', 'SensorDataTable', 'TopicRuleName',
    ]);
    expect(JSON.stringify(outputs.QueryUrl.Value)).toContain(only(template, 'AWS::ApiGatewayV2::Api')[0]);
    expect(outputs.ReadingsTopic.Value).toBe('sensors/+/readings');
    expect(outputs.TopicRuleName.Value).toEqual({ Ref: only(template, 'AWS::IoT::TopicRule')[0] });
  });

  test('everything goes when the stack is deleted: the archive bucket is emptied first', () => {
    template.hasResourceProperties('Custom::S3AutoDeleteObjects', { BucketName: { Ref: ids.bucket } });
    for (const type of ['AWS::Kinesis::Stream', 'AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::Logs::LogGroup']) {
      for (const resource of Object.values(template.findResources(type))) expect({ type, policy: resource.DeletionPolicy }).toEqual({ type, policy: 'Delete' });
    }
  });

  test('matches the snapshot', () => {
    expect(normalizeAssets(template.toJSON())).toMatchSnapshot();
  });
});

describe('cdk-nag AwsSolutions over the full example', () => {
  const collector = runAwsSolutions((app) => new FullDeploymentStack(app, 'IotBackendFull'));
  const isLibrary = isLibraryResourceIn('IotBackendFull');
  const line = (f: Finding) => `${f.rule}: ${f.resource.replace('IotBackendFull/', '')}`;

  test('the run evaluated the new parts', () => {
    for (const resource of ['Pipeline/Ingress/TopicRule', 'Pipeline/Archiver/DeliveryStream/Resource', 'Pipeline/QueryEndpoint/HttpApi/DefaultStage/Resource',
      'Pipeline/QueryEndpoint/HttpApi/GET--readings/Resource',
      'Pipeline/Processor/StreamConsumer/Resource', 'TestClientIdentityPool/Resource']) {
      expect(collector.evaluated).toContain(`IotBackendFull/${resource}`);
    }
  });

  test('no unsuppressed error or warning, the library\'s or the example\'s', () => {
    expect(collector.open.map(line)).toEqual([]);
  });

  test('the suppressions, each with its reason in the template', () => {
    expect(collector.suppressed.filter((f) => !isLibrary(f.resource)).map(line).sort()).toEqual([
      'AwsSolutions-COG7: TestClientIdentityPool/Resource',
      'AwsSolutions-IAM5[Resource::*]: TestClientIdentityPool/UnauthenticatedRole/DefaultPolicy/Resource',
    ]);
    expect(collector.suppressed.filter((f) => isLibrary(f.resource)).map(line).sort()).toEqual([
      'AwsSolutions-IAM5[Resource::<PipelineArchiverBucket29C417E9.Arn>/errors/*]: Pipeline/Archiver/DeliveryRole/DefaultPolicy/Resource',
      'AwsSolutions-IAM5[Resource::<PipelineArchiverBucket29C417E9.Arn>/raw/*]: Pipeline/Archiver/DeliveryRole/DefaultPolicy/Resource',
      'AwsSolutions-KDF1: Pipeline/Archiver/DeliveryStream/Resource',
      'AwsSolutions-SQS3: Pipeline/Processor/DeadLetterQueue/Resource',
      'AwsSolutions-SQS3: Pipeline/Processor/FailedBatches/Resource',
    ]);
    for (const f of collector.suppressed) expect(f.reason!.length).toBeGreaterThan(60);
  });

  test('for cdk-nag 3, the example and the library acknowledge exactly the findings suppressed here, with the same reasons', () => {
    expect(acknowledgedFindings(collector.app!)).toEqual(suppressedFindings(collector));
  });
});
