import { CfnParameter, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { allActions, environmentOf, logicalId, newStack, synth } from './util';
import { DeadLetterDestination, DynamoDbProcessorProps, HandlerLogLevel, IngestProcessor, MetricsMode, SensorIngestPipeline } from '../../src';

const processor = (props: DynamoDbProcessorProps) => synth({ processor: IngestProcessor.dynamoDb(props) }).template;

function processorMapping(template: Template): Record<string, any> {
  const fn = logicalId(template, 'AWS::Lambda::Function', 'PipelineProcessorFunction');
  const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping', { Properties: { FunctionName: { Ref: fn } } }));
  expect(mappings).toHaveLength(1);
  return mappings[0].Properties;
}

describe('DynamoDbProcessor', () => {
  test('event source mapping options reach the mapping', () => {
    const stack = newStack();
    const failures = new sqs.Queue(stack, 'MyFailures');
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', {
      processor: IngestProcessor.dynamoDb({
        batchSize: 2000,
        maxBatchingWindow: Duration.seconds(30),
        parallelizationFactor: 4,
        startingPosition: lambda.StartingPosition.LATEST,
        bisectBatchOnError: true,
        retryAttempts: 3,
        maxRecordAge: Duration.hours(6),
        onFailure: new SqsDlq(failures),
      }),
    });
    const template = Template.fromStack(stack);
    expect(processorMapping(template)).toEqual(expect.objectContaining({
      BatchSize: 2000,
      MaximumBatchingWindowInSeconds: 30,
      ParallelizationFactor: 4,
      StartingPosition: 'LATEST',
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 21600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'MyFailures'), 'Arn'] } } },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    }));
    // No failed-batches queue is created when a destination is given.
    expect(pipeline.processorBinding.failedBatchesQueue).toBeUndefined();
    expect(Object.keys(template.findResources('AWS::SQS::Queue')).filter((id) => id.startsWith('PipelineProcessorFailedBatches'))).toEqual([]);
    expect(pipeline.processorFunction).toBeDefined();
  });

  test('function options: memory, timeout, log retention and level', () => {
    const template = processor({ memorySize: 1024, timeout: Duration.minutes(2), logRetention: 365, logLevel: HandlerLogLevel.DEBUG });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('Stores sensor readings'), MemorySize: 1024, Timeout: 120 });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    expect(environmentOf(template, 'PipelineProcessorFunction').POWERTOOLS_LOG_LEVEL).toBe('DEBUG');
  });

  test('PUT_METRIC_DATA mode: namespace, name, dimension, and a grant held to that namespace', () => {
    const template = processor({ metricsMode: MetricsMode.PUT_METRIC_DATA, metricNamespace: 'Plant7', metricName: 'Reading', metricDimensionName: 'Device' });
    expect(environmentOf(template, 'PipelineProcessorFunction')).toMatchObject({
      METRICS_MODE: 'PUT_METRIC_DATA',
      METRICS_NAMESPACE: 'Plant7',
      METRIC_NAME: 'Reading',
      METRIC_DIMENSION_NAME: 'Device',
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([{
          Action: 'cloudwatch:PutMetricData',
          Effect: 'Allow',
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': 'Plant7' } },
        }]),
      },
    });
  });

  test('write concurrency reaches the handler; the default comes from the bench', () => {
    expect(environmentOf(processor({ writeConcurrency: 20 }), 'PipelineProcessorFunction').WRITE_CONCURRENCY).toBe('20');
    expect(environmentOf(processor({}), 'PipelineProcessorFunction').WRITE_CONCURRENCY).toBe('20');
  });

  test('NONE mode publishes nothing and gets no CloudWatch grant', () => {
    const template = processor({ metricsMode: MetricsMode.NONE });
    expect(environmentOf(template, 'PipelineProcessorFunction').METRICS_MODE).toBe('NONE');
    expect(allActions(template)).not.toContain('cloudwatch:PutMetricData');
  });

  test('dead letters to an S3 prefix: put granted on that prefix only, no queue created', () => {
    const stack = newStack();
    const bucket = new s3.Bucket(stack, 'Rejects');
    new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.dynamoDb({ deadLetterDestination: DeadLetterDestination.bucket(bucket, 'bad/') }) });
    const template = Template.fromStack(stack);
    expect(environmentOf(template, 'PipelineProcessorFunction').DEAD_LETTER_DESTINATION).toEqual({
      'Fn::Join': ['', ['s3://', { Ref: logicalId(template, 'AWS::S3::Bucket', 'Rejects') }, '/bad/']],
    });
    expect(Object.keys(template.findResources('AWS::SQS::Queue')).filter((id) => id.includes('DeadLetterQueue'))).toEqual([]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(template, 'AWS::S3::Bucket', 'Rejects'), 'Arn'] }, '/bad/*']] } })]) },
    });
  });

  test('dead letters to a queue of your own', () => {
    const stack = newStack();
    const queue = new sqs.Queue(stack, 'Rejects');
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.dynamoDb({ deadLetterDestination: DeadLetterDestination.queue(queue) }) });
    const template = Template.fromStack(stack);
    expect(environmentOf(template, 'PipelineProcessorFunction').DEAD_LETTER_DESTINATION).toEqual({ Ref: logicalId(template, 'AWS::SQS::Queue', 'Rejects') });
    expect(pipeline.deadLetterQueue).toBe(queue);
  });

  const invalid: Array<[string, DynamoDbProcessorProps, RegExp]> = [
    ['batchSize 0', { batchSize: 0 }, /DynamoDbProcessorProps\.batchSize must be an integer from 1 to 10,000, got 0/],
    ['batchSize 10,001', { batchSize: 10_001 }, /DynamoDbProcessorProps\.batchSize must be an integer from 1 to 10,000, got 10001/],
    ['parallelizationFactor 11', { parallelizationFactor: 11 }, /DynamoDbProcessorProps\.parallelizationFactor must be an integer from 1 to 10/],
    ['retryAttempts -1', { retryAttempts: -1 }, /DynamoDbProcessorProps\.retryAttempts must be an integer from 0 to 10,000/],
    ['maxBatchingWindow 6 minutes', { maxBatchingWindow: Duration.minutes(6) }, /DynamoDbProcessorProps\.maxBatchingWindow must be from 0 seconds to 5 minutes/],
    ['maxRecordAge 30 seconds', { maxRecordAge: Duration.seconds(30) }, /DynamoDbProcessorProps\.maxRecordAge must be from 1 minute to 7 days/],
    ['memorySize 100', { memorySize: 100 }, /DynamoDbProcessorProps\.memorySize/],
    ['writeConcurrency 0', { writeConcurrency: 0 }, /DynamoDbProcessorProps\.writeConcurrency must be an integer from 1 to 50, got 0/],
    ['writeConcurrency 51', { writeConcurrency: 51 }, /DynamoDbProcessorProps\.writeConcurrency must be an integer from 1 to 50, got 51/],
    ['empty metricNamespace', { metricNamespace: ' ' }, /DynamoDbProcessorProps\.metricNamespace must not be empty/],
    ['AWS/ namespace', { metricNamespace: 'AWS/Kinesis' }, /DynamoDbProcessorProps\.metricNamespace must not start with "AWS\/"/],
    ['empty metricName', { metricName: '' }, /DynamoDbProcessorProps\.metricName must not be empty/],
    ['EMF with the dimension named as the metric', { metricDimensionName: 'SensorData' },
      /DynamoDbProcessorProps\.metricDimensionName must differ from metricName with MetricsMode\.EMBEDDED_METRIC_FORMAT \(both are keys of each EMF line\), got "SensorData" for both/],
    ['EMF with a metric named _aws', { metricsMode: MetricsMode.EMBEDDED_METRIC_FORMAT, metricName: '_aws' },
      /DynamoDbProcessorProps\.metricName must not be "_aws" with MetricsMode\.EMBEDDED_METRIC_FORMAT/],
    ['EMF with a dimension named _aws', { metricDimensionName: '_aws' }, /DynamoDbProcessorProps\.metricDimensionName must not be "_aws"/],
    ['timeout 3 seconds, under which the writer has no time to write', { timeout: Duration.seconds(3) },
      /DynamoDbProcessorProps\.timeout must be from 8 seconds to 15 minutes \(the processor keeps the last 4 s of each invocation for a request in flight, the dead letters and the metric\), got 3 seconds/],
    ['timeout 7.5 seconds', { timeout: Duration.millis(7_500) }, /DynamoDbProcessorProps\.timeout must be from 8 seconds/],
    ['a namespace CloudWatch refuses', { metricNamespace: 'Capteurs/\u00e9t\u00e9' }, /DynamoDbProcessorProps\.metricNamespace must be a CloudWatch name of letters, digits/],
    ['a namespace starting with a colon', { metricNamespace: ':Sensors' }, /DynamoDbProcessorProps\.metricNamespace must be a CloudWatch name/],
    ['a namespace over 255 characters', { metricNamespace: 'S'.repeat(256) }, /DynamoDbProcessorProps\.metricNamespace must be a CloudWatch name/],
    ['a metric name with a control character', { metricName: 'Temp\n' }, /DynamoDbProcessorProps\.metricName must be a CloudWatch name of 1 to 255 characters/],
    ['a non-ASCII dimension name', { metricDimensionName: 'Capteur\u00e9' }, /DynamoDbProcessorProps\.metricDimensionName must be a CloudWatch name of 1 to 255 ASCII characters/],
    ['a dimension name starting with a colon', { metricDimensionName: ':Id' }, /DynamoDbProcessorProps\.metricDimensionName must be a CloudWatch name/],
    ['reportBatchItemFailures false', { reportBatchItemFailures: false },
      /DynamoDbProcessorProps\.reportBatchItemFailures must not be false: this consumer reports the records it could not finish in its response, which the event source mapping ignores without ReportBatchItemFailures, so they would be lost/],
  ];
  test.each(invalid)('%s fails when the processor is made, naming the prop', (_name, props, message) => {
    expect(() => IngestProcessor.dynamoDb(props)).toThrow(message);
  });

  test('the shortest timeout and names at CloudWatch\'s limits are taken', () => {
    expect(() => IngestProcessor.dynamoDb({ timeout: Duration.seconds(8) })).not.toThrow();
    expect(() => IngestProcessor.dynamoDb({
      metricNamespace: `Plant/Floor_1.A-B#c: ${'x'.repeat(230)}`, metricName: 'Temp\u00e9rature', metricDimensionName: 'Device Id',
    })).not.toThrow();
  });

  test('with PutMetricData the metric and its dimension may share a name, as the API allows', () => {
    expect(() => IngestProcessor.dynamoDb({ metricsMode: MetricsMode.PUT_METRIC_DATA, metricName: 'Temp', metricDimensionName: 'Temp' })).not.toThrow();
  });

  test('a dead-letter prefix must end with a slash; a token is left to deploy time, as every other check does', () => {
    const stack = newStack();
    expect(() => DeadLetterDestination.bucket(new s3.Bucket(stack, 'B'), 'bad')).toThrow(/prefix must end with "\/"/);
    const prefix = new CfnParameter(stack, 'Prefix').valueAsString;
    new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.dynamoDb({ deadLetterDestination: DeadLetterDestination.bucket(new s3.Bucket(stack, 'C'), prefix) }) });
    expect(environmentOf(Template.fromStack(stack), 'PipelineProcessorFunction').DEAD_LETTER_DESTINATION).toEqual({
      'Fn::Join': ['', ['s3://', { Ref: logicalId(Template.fromStack(stack), 'AWS::S3::Bucket', 'C') }, '/', { Ref: 'Prefix' }]],
    });
  });
});

describe('FunctionProcessor', () => {
  test('your own function: attached with its options, granted the table, told its name', () => {
    const stack = newStack();
    const fn = new lambda.Function(stack, 'Mine', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.fromFunction(fn, { batchSize: 50 }) });
    const template = Template.fromStack(stack);
    expect(pipeline.processorFunction).toBe(fn);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'Mine') },
      BatchSize: 50,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(environmentOf(template, 'Mine')).toEqual({ TABLE_NAME: { Ref: logicalId(template, 'AWS::DynamoDB::Table', 'PipelineTable') } });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(template, 'AWS::IAM::Role', 'MineServiceRole') }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['dynamodb:Query', 'dynamodb:BatchWriteItem']) })]) },
    });
    // The built-in processor is not created: only the replay of this function's failed batches.
    expect(Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('PipelineProcessor')))
      .toEqual([logicalId(template, 'AWS::Lambda::Function', 'PipelineProcessorReplayFunction')]);
  });

  test('grantTableAccess false leaves the table alone', () => {
    const stack = newStack();
    const fn = new lambda.Function(stack, 'Mine', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
    new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.fromFunction(fn, { grantTableAccess: false }) });
    const template = Template.fromStack(stack);
    const policy = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: logicalId(template, 'AWS::IAM::Role', 'MineServiceRole') }] } }))[0];
    const actions: string[] = policy.Properties.PolicyDocument.Statement.flatMap((s: any) => [s.Action].flat());
    expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
    expect(actions).toContain('kinesis:GetRecords');
  });

  test('addProcessor plugs in one more consumer of the stream', () => {
    const stack = newStack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline');
    const binding = pipeline.addProcessor('Hot', IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE, startingPosition: lambda.StartingPosition.LATEST }));
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    expect(binding.lambdaFunction.node.path).toBe('Test/Pipeline/Hot/Function');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'PipelineHotFunction') }, StartingPosition: 'LATEST' });
  });

  test('invalid options fail naming the prop', () => {
    const stack = newStack();
    const fn = lambda.Function.fromFunctionName(stack, 'F', 'existing');
    expect(() => IngestProcessor.fromFunction(fn, { batchSize: 20_000 })).toThrow(/FunctionProcessorOptions\.batchSize must be an integer from 1 to 10,000/);
  });

  test('your own function may turn ReportBatchItemFailures off: it decides how it reports failures', () => {
    const stack = newStack();
    const fn = new lambda.Function(stack, 'Mine', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
    new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.fromFunction(fn, { reportBatchItemFailures: false }) });
    const template = Template.fromStack(stack);
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping', {
      Properties: { FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'Mine') } },
    }))[0];
    expect(mapping.Properties.FunctionResponseTypes).toBeUndefined();
  });
});
