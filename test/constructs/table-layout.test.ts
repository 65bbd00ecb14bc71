import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { environmentOf, logicalId, newStack, synth } from './util';
import { IngestProcessor, SensorIngestPipeline, TableLayout } from '../../src';
import * as processor from '../../src/handlers/processor.lambda';
import * as query from '../../src/handlers/query.lambda';

/** The actions granted to the function whose logical id starts with `prefix`, on the table. */
function tableActions(template: Template, prefix: string): string[] {
  const role = template.findResources('AWS::Lambda::Function')[logicalId(template, 'AWS::Lambda::Function', prefix)].Properties.Role['Fn::GetAtt'][0];
  const actions = new Set<string>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    if (!policy.Properties.Roles.some((r: { Ref: string }) => r.Ref === role)) continue;
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      for (const a of [statement.Action].flat()) if (String(a).startsWith('dynamodb:')) actions.add(a);
    }
  }
  return [...actions].sort();
}

const mappingOf = (template: Template) => Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))
  .map((m) => m.Properties)
  .find((p) => JSON.stringify(p.FunctionName).includes('ProcessorFunction'));

describe('TableLayout', () => {
  test('the default is today\'s: one item per reading, no rollups, puts only, no TTL, the mapping\'s 500 records and 1 second', () => {
    const { template, pipeline } = synth();
    expect(pipeline.tableLayout?.kind).toBe('PER_READING');
    expect(pipeline.tableLayout?.rollups).toBe(false);
    expect(tableActions(template, 'PipelineProcessorFunction')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:PutItem']);
    template.hasResourceProperties('AWS::DynamoDB::Table', { TimeToLiveSpecification: Match.absent() });
    expect(mappingOf(template)).toMatchObject({ BatchSize: 500, MaximumBatchingWindowInSeconds: 1 });
    const env = environmentOf(template, 'PipelineProcessorFunction');
    expect(env).toMatchObject({ TABLE_LAYOUT: 'PER_READING', TABLE_ROLLUPS: 'false', TABLE_RETENTION_SECONDS: '0' });
    expect(processor.depsFromEnv({ ...env, DEAD_LETTER_DESTINATION: 'https://sqs.eu-west-1.amazonaws.com/1/q' } as NodeJS.ProcessEnv).layout)
      .toEqual({ kind: 'PER_READING', rollups: false, retentionSeconds: 0 });
  });

  test('packed: UpdateItem only, rollups on, the mapping gathers 10,000 records or 60 seconds, and both functions are told', () => {
    const { template } = synth({ tableLayout: TableLayout.packed() });
    expect(tableActions(template, 'PipelineProcessorFunction')).toEqual(['dynamodb:UpdateItem']);
    expect(mappingOf(template)).toMatchObject({ BatchSize: 10_000, MaximumBatchingWindowInSeconds: 60 });
    const env = environmentOf(template, 'PipelineProcessorFunction');
    expect(env).toMatchObject({ TABLE_LAYOUT: 'PACKED', TABLE_ROLLUPS: 'true' });
    const queryEnv = environmentOf(template, 'PipelineQueryFunction');
    expect(queryEnv).toMatchObject({ TABLE_LAYOUT: 'PACKED', TABLE_ROLLUPS: 'true' });
    expect(query.depsFromEnv(queryEnv as NodeJS.ProcessEnv).layout).toEqual({ kind: 'PACKED', rollups: true });
    expect(tableActions(template, 'PipelineQueryFunction')).toEqual(['dynamodb:Query']);
  });

  test('the mapping\'s own settings win over the packed layout\'s defaults', () => {
    const { template } = synth({
      tableLayout: TableLayout.packed({ rollups: false }),
      processor: IngestProcessor.dynamoDb({ batchSize: 1_000, maxBatchingWindow: Duration.seconds(5) }),
    });
    expect(mappingOf(template)).toMatchObject({ BatchSize: 1_000, MaximumBatchingWindowInSeconds: 5 });
    expect(environmentOf(template, 'PipelineProcessorFunction')).toMatchObject({ TABLE_ROLLUPS: 'false' });
  });

  test('per reading with rollups: puts, updates and a Query to read back each minute', () => {
    const { template } = synth({ tableLayout: TableLayout.perReading({ rollups: true }) });
    expect(tableActions(template, 'PipelineProcessorFunction')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    expect(mappingOf(template)).toMatchObject({ BatchSize: 500, MaximumBatchingWindowInSeconds: 1 });
  });
});

describe('retention', () => {
  test('time to live on ExpiresAt for a new table, and the retention in seconds for the processor', () => {
    const { template } = synth({ retention: Duration.days(90) });
    template.hasResourceProperties('AWS::DynamoDB::Table', { TimeToLiveSpecification: { AttributeName: 'ExpiresAt', Enabled: true } });
    expect(environmentOf(template, 'PipelineProcessorFunction')).toMatchObject({ TABLE_RETENTION_SECONDS: String(90 * 86_400) });
  });

  test('a table of your own: the processor still writes the attribute; enabling TTL is the table owner\'s', () => {
    const stack = newStack();
    const table = new dynamodb.Table(stack, 'Mine', {
      partitionKey: { name: 'SensorId', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'Timestamp', type: dynamodb.AttributeType.STRING },
    });
    new SensorIngestPipeline(stack, 'Pipeline', { table, retention: Duration.days(1) });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    expect(environmentOf(template, 'PipelineProcessorFunction')).toMatchObject({ TABLE_RETENTION_SECONDS: '86400' });
  });

  test.each([
    [Duration.minutes(59), /SensorIngestPipelineProps.retention must be from 1 hour to/],
    [Duration.days(36_501), /SensorIngestPipelineProps.retention must be from 1 hour to/],
    [Duration.millis(3_600_500), /SensorIngestPipelineProps.retention must be whole seconds/],
  ])('a retention of %s is refused, naming the prop', (retention, message) => {
    expect(() => synth({ retention })).toThrow(message);
  });

  test('the longest and shortest retentions are taken', () => {
    expect(() => synth({ retention: Duration.hours(1) })).not.toThrow();
    expect(() => synth({ retention: Duration.days(36_500) })).not.toThrow();
  });
});
