import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { logicalId, newStack, synth } from './util';
import { Archiver, IngestProcessor, SensorIngestPipeline } from '../../src';

/** The event source mapping of the function whose logical id starts with `prefix`. */
function mappingOf(template: Template, prefix: string): Record<string, any> {
  const fn = logicalId(template, 'AWS::Lambda::Function', prefix);
  const found = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).filter((m) => m.Properties.FunctionName.Ref === fn);
  expect(found).toHaveLength(1);
  return found[0].Properties;
}

describe('enhanced fan-out', () => {
  test('off by default: every consumer maps the stream itself, on its shared throughput', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::Kinesis::StreamConsumer', 0);
    const streamArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::Kinesis::Stream', 'PipelineStream'), 'Arn'] };
    expect(mappingOf(template, 'PipelineProcessorFunction').EventSourceArn).toEqual(streamArn);
    expect(mappingOf(template, 'PipelineArchiverFunction').EventSourceArn).toEqual(streamArn);
  });

  test('the built-in processor and archiver, and a function of your own, each read through a stream consumer of its own', () => {
    const stack = newStack();
    const mine = new lambda.Function(stack, 'Mine', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', {
      processor: IngestProcessor.dynamoDb({ enhancedFanOut: true, batchSize: 200 }),
      archiver: Archiver.s3({ enhancedFanOut: true }),
    });
    pipeline.addProcessor('Alerts', IngestProcessor.fromFunction(mine, { enhancedFanOut: true, grantTableAccess: false }));
    const template = Template.fromStack(stack);
    const stream = logicalId(template, 'AWS::Kinesis::Stream', 'PipelineStream');
    const consumers = template.findResources('AWS::Kinesis::StreamConsumer');
    expect(Object.keys(consumers)).toHaveLength(3);
    const names = Object.values(consumers).map((c) => c.Properties.ConsumerName);
    expect(new Set(names).size).toBe(3);
    for (const consumer of Object.values(consumers)) {
      expect(consumer.Properties.StreamARN).toEqual({ 'Fn::GetAtt': [stream, 'Arn'] });
      expect(consumer.Properties.ConsumerName).toMatch(/^[a-zA-Z0-9_.-]{1,128}$/);
    }
    for (const [fn, consumer] of [['PipelineProcessorFunction', 'PipelineProcessorStreamConsumer'], ['PipelineArchiverFunction', 'PipelineArchiverStreamConsumer'], ['Mine', 'PipelineAlertsStreamConsumer']]) {
      const mapping = mappingOf(template, fn);
      expect(mapping.EventSourceArn).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::Kinesis::StreamConsumer', consumer), 'ConsumerARN'] });
      // The mapping keeps every safety setting of a shared one.
      expect(mapping).toMatchObject({
        StartingPosition: 'TRIM_HORIZON',
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MaximumRetryAttempts: 10,
        MaximumRecordAgeInSeconds: 86_400,
        DestinationConfig: { OnFailure: { Destination: expect.anything() } },
      });
    }
    expect(mappingOf(template, 'PipelineProcessorFunction').BatchSize).toBe(200);
  });

  test('alarms follow: iterator age by each consumer\'s function; the stream\'s read-throughput alarm stays for the shared readers', () => {
    const { template } = synth({ processor: IngestProcessor.dynamoDb({ enhancedFanOut: true }) });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(template, 'AWS::Lambda::Function', 'PipelineProcessorFunction') } }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/Kinesis', MetricName: 'ReadProvisionedThroughputExceeded' });
  });

  test('the function may subscribe to its own consumer\'s shards', () => {
    const { template } = synth({ processor: IngestProcessor.dynamoDb({ enhancedFanOut: true }) });
    const consumer = logicalId(template, 'AWS::Kinesis::StreamConsumer', 'PipelineProcessorStreamConsumer');
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes('PipelineProcessorFunctionRole'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: ['kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard'],
      Resource: { 'Fn::GetAtt': [consumer, 'ConsumerARN'] },
    });
  });
});
