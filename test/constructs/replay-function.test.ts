/**
 * The replay function of each event source mapping with a failed-batches
 * queue the pipeline creates: its settings, its least-privilege role, that
 * nothing but the user invokes it, and the props that turn it off.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { environmentOf, logicalId, newStack, synth } from './util';
import { Archiver, HandlerLogLevel, IngestProcessor, SensorIngestPipeline } from '../../src';

const getAtt = (template: Template, type: string, prefix: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [logicalId(template, type, prefix), attribute] });

/** Statements of the role of the function whose logical id starts with `prefix`. */
function roleStatements(template: Template, prefix: string): any[] {
  const fn = template.findResources('AWS::Lambda::Function')[logicalId(template, 'AWS::Lambda::Function', prefix)];
  const role = fn.Properties.Role['Fn::GetAtt'][0];
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe('the replay functions of the pipeline', () => {
  const { pipeline, template } = synth();

  test('one per event source mapping with a failed-batches queue: the processor\'s and the archiver\'s, exposed', () => {
    expect(pipeline.processorReplayFunction).toBe(pipeline.processorBinding.replayFunction);
    expect(pipeline.archiverReplayFunction).toBe(pipeline.archiverBinding.replayFunction);
    expect(pipeline.processorReplayFunction?.node.path).toBe('Test/Pipeline/Processor/ReplayFunction');
    expect(pipeline.archiverReplayFunction?.node.path).toBe('Test/Pipeline/Archiver/ReplayFunction');
  });

  test('each is told its queue, its stream, its function and how the mapping invokes it', () => {
    expect(environmentOf(template, 'PipelineProcessorReplayFunction')).toEqual({
      POWERTOOLS_SERVICE_NAME: 'sensor-replay',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      FAILED_BATCHES_QUEUE_URL: { Ref: logicalId(template, 'AWS::SQS::Queue', 'PipelineProcessorFailedBatches') },
      STREAM_ARN: getAtt(template, 'AWS::Kinesis::Stream', 'PipelineStream'),
      TARGET_FUNCTION: getAtt(template, 'AWS::Lambda::Function', 'PipelineProcessorFunction'),
      INVOKE_IDENTITY_ARN: getAtt(template, 'AWS::IAM::Role', 'PipelineProcessorFunctionRole'),
      BATCH_SIZE: '500',
      REPORT_BATCH_ITEM_FAILURES: 'true',
      TARGET_TIMEOUT_SECONDS: '60',
    });
    expect(environmentOf(template, 'PipelineArchiverReplayFunction')).toMatchObject({
      FAILED_BATCHES_QUEUE_URL: { Ref: logicalId(template, 'AWS::SQS::Queue', 'PipelineArchiverFailedBatches') },
      TARGET_FUNCTION: getAtt(template, 'AWS::Lambda::Function', 'PipelineArchiverFunction'),
      BATCH_SIZE: '1000',
    });
    const fn = template.findResources('AWS::Lambda::Function')[logicalId(template, 'AWS::Lambda::Function', 'PipelineProcessorReplayFunction')];
    expect(fn.Properties).toMatchObject({ Timeout: 900, MemorySize: 256, Handler: 'index.handler', Runtime: 'nodejs24.x', Architectures: ['arm64'] });
  });

  test('its role reads this stream, receives and deletes this queue\'s messages and invokes this function: nothing else', () => {
    expect(roleStatements(template, 'PipelineProcessorReplayFunction')).toEqual([
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: getAtt(template, 'AWS::Logs::LogGroup', 'PipelineProcessorReplayFunctionLogs') },
      { Effect: 'Allow', Action: ['kinesis:GetShardIterator', 'kinesis:GetRecords'], Resource: getAtt(template, 'AWS::Kinesis::Stream', 'PipelineStream') },
      { Effect: 'Allow', Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage'], Resource: getAtt(template, 'AWS::SQS::Queue', 'PipelineProcessorFailedBatches') },
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: getAtt(template, 'AWS::Lambda::Function', 'PipelineProcessorFunction') },
    ]);
  });

  test('nothing invokes it on its own: no event source mapping, no permission for a service', () => {
    const replayIds = ['PipelineProcessorReplayFunction', 'PipelineArchiverReplayFunction'].map((p) => logicalId(template, 'AWS::Lambda::Function', p));
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
    expect(mappings).toHaveLength(2);
    for (const m of mappings) expect(replayIds).not.toContain(m.Properties.FunctionName.Ref);
    const queues = [logicalId(template, 'AWS::SQS::Queue', 'PipelineProcessorFailedBatches'), logicalId(template, 'AWS::SQS::Queue', 'PipelineArchiverFailedBatches')];
    expect(JSON.stringify(mappings.map((m) => m.Properties.EventSourceArn))).not.toMatch(new RegExp(queues.join('|')));
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).map((p) => JSON.stringify(p.Properties.FunctionName));
    for (const id of replayIds) expect(permissions.filter((p) => p.includes(id))).toEqual([]);
  });
});

test('with customer-managed keys: the replay may decrypt the stream\'s records and the queue\'s messages, each with its key', () => {
  const stack = newStack();
  const streamKey = new kms.Key(stack, 'StreamKey');
  const stream = new kinesis.Stream(stack, 'Readings', { encryption: kinesis.StreamEncryption.KMS, encryptionKey: streamKey });
  new SensorIngestPipeline(stack, 'Pipeline', { stream, encryptionKey: new kms.Key(stack, 'PipelineKey'), archiver: Archiver.none() });
  const template = Template.fromStack(stack);
  const decrypt = roleStatements(template, 'PipelineProcessorReplayFunction').filter((s) => JSON.stringify(s.Action).includes('kms:'));
  expect(decrypt).toEqual([
    { Effect: 'Allow', Action: 'kms:Decrypt', Resource: getAtt(template, 'AWS::KMS::Key', 'StreamKey') },
    { Effect: 'Allow', Action: 'kms:Decrypt', Resource: getAtt(template, 'AWS::KMS::Key', 'PipelineKey') },
  ]);
});

test('the consumer\'s log level and retention reach its replay function', () => {
  const { template } = synth({ processor: IngestProcessor.dynamoDb({ logLevel: HandlerLogLevel.DEBUG, logRetention: 365, batchSize: 40 }) });
  expect(environmentOf(template, 'PipelineProcessorReplayFunction')).toMatchObject({ POWERTOOLS_LOG_LEVEL: 'DEBUG', BATCH_SIZE: '40' });
  const logs = template.findResources('AWS::Logs::LogGroup')[logicalId(template, 'AWS::Logs::LogGroup', 'PipelineProcessorReplayFunctionLogs')];
  expect(logs.Properties.RetentionInDays).toBe(365);
});

describe('a function of your own as the processor', () => {
  test('its timeout and its role reach the replay; without ReportBatchItemFailures, its answers are ignored as the mapping ignores them', () => {
    const stack = newStack();
    const fn = new lambda.Function(stack, 'Mine', {
      runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})'), timeout: Duration.minutes(2),
    });
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.fromFunction(fn, { reportBatchItemFailures: false, batchSize: 7 }) });
    const template = Template.fromStack(stack);
    expect(pipeline.processorReplayFunction).toBeDefined();
    expect(environmentOf(template, 'PipelineProcessorReplayFunction')).toMatchObject({
      TARGET_FUNCTION: getAtt(template, 'AWS::Lambda::Function', 'Mine'),
      INVOKE_IDENTITY_ARN: getAtt(template, 'AWS::IAM::Role', 'MineServiceRole'),
      BATCH_SIZE: '7',
      REPORT_BATCH_ITEM_FAILURES: 'false',
      TARGET_TIMEOUT_SECONDS: '120',
    });
  });

  test('an imported function: its timeout unknown, Lambda\'s longest is assumed', () => {
    const stack = newStack();
    const fn = lambda.Function.fromFunctionAttributes(stack, 'Theirs', {
      functionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:theirs',
      role: iam.Role.fromRoleArn(stack, 'TheirRole', 'arn:aws:iam::111111111111:role/theirs'),
    });
    new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.fromFunction(fn, { grantTableAccess: false }) });
    const template = Template.fromStack(stack);
    expect(environmentOf(template, 'PipelineProcessorReplayFunction')).toMatchObject({
      TARGET_FUNCTION: 'arn:aws:lambda:eu-west-1:111111111111:function:theirs',
      INVOKE_IDENTITY_ARN: 'arn:aws:iam::111111111111:role/theirs',
      TARGET_TIMEOUT_SECONDS: '900',
    });
    expect(roleStatements(template, 'PipelineProcessorReplayFunction')).toContainEqual(
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: 'arn:aws:lambda:eu-west-1:111111111111:function:theirs' });
  });
});

test('added processors get theirs; a Firehose archiver has no mapping and no replay', () => {
  const stack = newStack();
  const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { archiver: Archiver.firehose() });
  const hot = pipeline.addProcessor('Hot', IngestProcessor.dynamoDb({ enhancedFanOut: true }));
  const template = Template.fromStack(stack);
  expect(hot.replayFunction?.node.path).toBe('Test/Pipeline/Hot/ReplayFunction');
  expect(pipeline.archiverReplayFunction).toBeUndefined();
  // With enhanced fan-out the mapping reads through a consumer; the replay reads the stream itself.
  expect(environmentOf(template, 'PipelineHotReplayFunction').STREAM_ARN).toEqual(getAtt(template, 'AWS::Kinesis::Stream', 'PipelineStream'));
});

describe('turning it off', () => {
  test('replayFunction: false keeps the queue and makes no function', () => {
    const { pipeline, template } = synth({
      processor: IngestProcessor.dynamoDb({ replayFunction: false }),
      archiver: Archiver.s3({ replayFunction: false }),
    });
    expect(pipeline.processorReplayFunction).toBeUndefined();
    expect(pipeline.archiverReplayFunction).toBeUndefined();
    expect(pipeline.processorBinding.failedBatchesQueue).toBeDefined();
    expect(Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) => id.includes('Replay'))).toEqual([]);
  });

  test('a failed-batches destination of your own has no replay; asking for one with it is an error naming the prop', () => {
    const stack = newStack();
    const mine = new sqs.Queue(stack, 'Mine');
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.dynamoDb({ onFailure: new SqsDlq(mine) }) });
    expect(pipeline.processorReplayFunction).toBeUndefined();
    expect(pipeline.archiverReplayFunction).toBeDefined();
    const message = (props: string) => `${props}.replayFunction replays the failed-batches queue the pipeline creates; `
      + `it must not be true together with ${props}.onFailure, a destination of your own`;
    expect(() => IngestProcessor.dynamoDb({ onFailure: new SqsDlq(mine), replayFunction: true })).toThrow(message('DynamoDbProcessorProps'));
    expect(() => Archiver.s3({ onFailure: new SqsDlq(mine), replayFunction: true })).toThrow(message('S3ArchiverProps'));
    const fn = lambda.Function.fromFunctionName(new Stack(), 'F', 'f');
    expect(() => IngestProcessor.fromFunction(fn, { onFailure: new SqsDlq(mine), replayFunction: true })).toThrow(message('FunctionProcessorOptions'));
  });
});
