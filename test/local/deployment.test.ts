/** What the local run makes of templates: intrinsics resolved, names in CloudFormation's shape, clear errors for what it cannot run. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'fs';
import * as net from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { REFERENCE_STACK, synthesizeExample } from './helpers';
import { CREDENTIALS } from '../../local/src';
import { readCloudAssembly, selectStacks, Template } from '../../local/src/runner/assembly';
import { planDeployment } from '../../local/src/runner/deployment';
import { LocalRunError } from '../../local/src/runner/errors';
import { LocalRun } from '../../local/src/runner/local-run';
import { pageTargets } from '../../local/src/runner/page-config';

const options = { region: 'eu-west-1', account: '123456789012', queueUrl: (n: string) => `http://127.0.0.1:3000/123456789012/${n}` };

/** A cloud assembly of one stack (and nested templates), written as `cdk synth` would. */
function assembly(template: Template, nested: Record<string, Template> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'assembly-'));
  const code = path.join(dir, 'asset.code');
  mkdirSync(code);
  writeFileSync(path.join(code, 'index.js'), 'exports.handler = async () => 1;');
  const files: Record<string, unknown> = {
    code: { source: { path: 'asset.code', packaging: 'zip' }, destinations: { d: { bucketName: 'b', objectKey: 'code.zip' } } },
  };
  for (const [file, t] of Object.entries(nested)) {
    writeFileSync(path.join(dir, file), JSON.stringify(t));
    files[file] = { source: { path: file, packaging: 'file' }, destinations: { d: { bucketName: 'b', objectKey: `${file}.json` } } };
  }
  writeFileSync(path.join(dir, 'Test.assets.json'), JSON.stringify({ version: '53.0.0', files }));
  writeFileSync(path.join(dir, 'Test.template.json'), JSON.stringify(template));
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({
    version: '53.0.0',
    artifacts: {
      'Test.assets': { type: 'cdk:asset-manifest', properties: { file: 'Test.assets.json' } },
      'Test': { type: 'aws:cloudformation:stack', properties: { templateFile: 'Test.template.json' }, dependencies: ['Test.assets'] },
    },
  }));
  return dir;
}

const fn = (env: Record<string, unknown> = {}) => ({
  Type: 'AWS::Lambda::Function',
  Properties: { Code: { S3Bucket: 'b', S3Key: 'code.zip' }, Handler: 'index.handler', Runtime: 'nodejs22.x', Environment: { Variables: env } },
});
const stream = { Type: 'AWS::Kinesis::Stream', Properties: { ShardCount: 2 } };
const mapping = (extra: Record<string, unknown> = {}) => ({
  Type: 'AWS::Lambda::EventSourceMapping',
  Properties: { EventSourceArn: { 'Fn::GetAtt': ['Stream', 'Arn'] }, FunctionName: { Ref: 'Fn' }, StartingPosition: 'TRIM_HORIZON', ...extra },
});

const plan = (template: Template, nested?: Record<string, Template>) => planDeployment(readCloudAssembly(assembly(template, nested)), options);

test('the example: every part the pipeline needs runs, the rest is listed as not run locally', () => {
  const p = planDeployment(selectStacks(readCloudAssembly(synthesizeExample()), [REFERENCE_STACK]).stacks, options);
  expect(p.streams).toEqual([expect.objectContaining({ shardCount: 1, onDemand: false, name: expect.stringMatching(/^IotBackendReference-PipelineStream[0-9A-F]{8}-[A-Z0-9]{12}$/) })]);
  expect(p.tables.map((t) => t.name)).toEqual([expect.stringMatching(/^IotBackendReference-PipelineTable/), 'IoTRefArchConfig']);
  expect(p.buckets).toEqual([
    expect.objectContaining({ name: expect.stringMatching(/^iotbackendreference-pipelinearchiverbucket[0-9a-z-]+$/) }),
    expect.objectContaining({ name: expect.stringMatching(/^iotbackendreference-pipelinearchiveraccesslogsbuck[0-9a-z-]+$/) }),
  ]);
  for (const b of p.buckets) expect(b.name.length).toBeLessThanOrEqual(63);
  expect(p.queues).toHaveLength(3);
  expect(p.functions.map((f) => f.path.split('/')[1])).toEqual([
    'PipelineProcessorFunction649CEB10', 'PipelineProcessorReplayFunctionB3CF9279',
    'PipelineArchiverFunctionD743A703', 'PipelineArchiverReplayFunction471A8A3F', 'PipelineQueryFunction3FDE5116',
  ]);
  for (const f of p.functions) expect(f.name.length).toBeLessThanOrEqual(64);
  const [processor, processorReplay, archiver] = p.functions;
  // Ref to the table and the queue resolve to the local names.
  expect(processor.environment.TABLE_NAME).toBe(p.tables[0].name);
  expect(Object.values(processor.environment)).toContain(options.queueUrl(p.queues[0].name));
  expect(p.mappings).toEqual([
    expect.objectContaining({ batchSize: 25, startingPosition: 'TRIM_HORIZON', reportBatchItemFailures: true, maximumRetryAttempts: 10, maximumRecordAgeSeconds: 86_400, functionName: processor.name }),
    expect.objectContaining({ batchSize: 100, functionName: archiver.name }),
  ]);
  // The replay function names what the run creates: the mapping's on-failure queue, the stream and the function.
  const failedBatches = p.queues.find((q) => `arn:aws:sqs:eu-west-1:123456789012:${q.name}` === p.mappings[0].onFailureArn)!;
  expect(processorReplay.environment).toMatchObject({
    FAILED_BATCHES_QUEUE_URL: options.queueUrl(failedBatches.name),
    STREAM_ARN: p.streams[0].arn,
    TARGET_FUNCTION: processor.arn,
    BATCH_SIZE: '25',
  });
  expect(p.mappings.map((m) => m.functionName)).not.toContain(processorReplay.name);
  const notRun = p.resources.filter((r) => r.action !== 'run').map((r) => r.type);
  expect(new Set(notRun)).toEqual(new Set([
    'AWS::Logs::LogGroup', 'AWS::Logs::MetricFilter', 'AWS::IAM::Role', 'AWS::IAM::Policy', 'AWS::SQS::QueuePolicy', 'AWS::S3::BucketPolicy',
    'AWS::Cognito::IdentityPool', 'AWS::Cognito::IdentityPoolRoleAttachment', 'AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm',
    'AWS::CloudWatch::Dashboard', 'Custom::AWS', 'Custom::S3AutoDeleteObjects', 'AWS::Lambda::Function',
  ]));
  // The custom resources' provider functions (the config helper's, in the nested stack, and the buckets' auto-delete) do not run.
  expect(p.resources.filter((r) => r.action === 'provider function, not run locally').map((r) => r.path).sort()).toEqual([
    expect.stringMatching(/^IotBackendReference\/ConfigHelperStack.*\/AWS679f53fac/),
    expect.stringMatching(/^IotBackendReference\/CustomS3AutoDeleteObjectsCustomResourceProviderHandler/),
  ]);
  expect(p.outputs.find((o) => o.key === 'KinesisStream')?.value).toBe(p.streams[0].name);
  expect(p.outputs.find((o) => o.key === 'Region')?.value).toBe('eu-west-1');
});

test('intrinsic functions, conditions, parameters and nested stacks resolve', () => {
  const p = plan({
    Parameters: { Stage: { Type: 'String', Default: 'dev' }, Names: { Type: 'CommaDelimitedList', Default: 'a,b,c' } },
    Conditions: { IsDev: { 'Fn::Equals': [{ Ref: 'Stage' }, 'dev'] }, IsProd: { 'Fn::Not': [{ Condition: 'IsDev' }] } },
    Mappings: { Sizes: { dev: { Batch: 7 } } },
    Resources: {
      Stream: stream,
      ProdOnly: { Type: 'AWS::SQS::Queue', Condition: 'IsProd' },
      Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: { 'Fn::Sub': '${AWS::StackName}-${Stage}-q' } } },
      Nested: {
        Type: 'AWS::CloudFormation::Stack',
        Properties: { TemplateURL: { 'Fn::Join': ['', ['https://s3/', 'b/', 'nested.json.json']] }, Parameters: { QueueArn: { 'Fn::GetAtt': ['Queue', 'Arn'] } } },
      },
      Fn: fn({
        SUB: { 'Fn::Sub': ['${Q} in ${AWS::Region} ${!Literal} ${Stream.Arn}', { Q: { Ref: 'Queue' } }] },
        SELECT: { 'Fn::Select': [1, { Ref: 'Names' }] },
        SPLIT: { 'Fn::Select': [2, { 'Fn::Split': ['/', 'x/y/z'] }] },
        IF: { 'Fn::If': ['IsDev', 'development', 'production'] },
        NOVALUE: { 'Fn::If': ['IsProd', 'x', { Ref: 'AWS::NoValue' }] },
        MAP: { 'Fn::FindInMap': ['Sizes', { Ref: 'Stage' }, 'Batch'] },
        NESTED: { 'Fn::GetAtt': ['Nested', 'Outputs.Echo'] },
        PARTITION: { Ref: 'AWS::Partition' },
      }),
      Mapping: mapping({ BatchSize: { 'Fn::FindInMap': ['Sizes', 'dev', 'Batch'] } }),
    },
  }, {
    'nested.json': {
      Parameters: { QueueArn: { Type: 'String' } },
      Outputs: { Echo: { Value: { 'Fn::Join': ['|', [{ Ref: 'QueueArn' }, { Ref: 'AWS::StackName' }]] } } },
    },
  });
  const env = p.functions[0].environment;
  expect(env.SUB).toBe(`http://127.0.0.1:3000/123456789012/Test-dev-q in eu-west-1 \${Literal} arn:aws:kinesis:eu-west-1:123456789012:stream/${p.streams[0].name}`);
  expect(env).toMatchObject({ SELECT: 'b', SPLIT: 'z', IF: 'development', MAP: '7', PARTITION: 'aws' });
  expect(env).not.toHaveProperty('NOVALUE');
  expect(env.NESTED).toMatch(/^arn:aws:sqs:eu-west-1:123456789012:Test-dev-q\|Test-Nested-[A-Z0-9]{12}$/);
  expect(p.queues.map((q) => q.name)).toEqual(['Test-dev-q']);
  expect(p.resources.find((r) => r.path === 'Test/ProdOnly')?.action).toBe('condition false');
  expect(p.mappings[0].batchSize).toBe(7);
  expect(p.streams[0].shardCount).toBe(2);
});

test('an ON_DEMAND stream gets four shards locally', () => {
  const p = plan({ Resources: { Stream: { Type: 'AWS::Kinesis::Stream', Properties: { StreamModeDetails: { StreamMode: 'ON_DEMAND' } } } } });
  expect(p.streams[0]).toMatchObject({ shardCount: 4, onDemand: true });
});

test('what the run cannot honour is a one-line error naming it', () => {
  const err = (template: Template) => {
    try {
      plan(template);
    } catch (e) {
      expect(e).toBeInstanceOf(LocalRunError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  expect(err({ Resources: { Topic: { Type: 'AWS::SNS::Topic' } } }))
    .toBe('Test/Topic is a AWS::SNS::Topic, which the local run cannot emulate: pass --ignore-type AWS::SNS::Topic to run without it');
  expect(err({ Resources: { Stream: stream, Fn: fn(), Mapping: mapping({ FilterCriteria: { Filters: [] } }) } }))
    .toBe('Test/Mapping: the event source mapping property FilterCriteria is not honoured locally');
  expect(err({ Resources: { Stream: stream, Fn: fn(), Mapping: mapping({ TumblingWindowInSeconds: 60 }) } }))
    .toContain('TumblingWindowInSeconds is not honoured locally');
  expect(err({ Resources: { Fn: fn(), Mapping: { Type: 'AWS::Lambda::EventSourceMapping', Properties: { EventSourceArn: 'arn:aws:sqs:eu-west-1:1:q', FunctionName: { Ref: 'Fn' } } } } }))
    .toContain('is not a Kinesis stream');
  expect(err({ Resources: { Stream: stream, Fn: fn(), Mapping: mapping({ DestinationConfig: { OnFailure: { Destination: 'arn:aws:sns:eu-west-1:1:t' } } }) } }))
    .toContain('only SQS on-failure destinations are honoured locally');
  expect(err({ Resources: { Table: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: 'ab', KeySchema: [], AttributeDefinitions: [] } } } }))
    .toContain('shorter than the 3 characters');
  expect(err({ Resources: { Fn: fn({ X: { Ref: 'Missing' } }) } })).toContain('refers to Missing, which the template does not define');
  expect(() => readCloudAssembly('/nonexistent/cdk.out')).toThrow(/no cloud assembly at \/nonexistent\/cdk.out \(manifest.json is missing\): synthesize the app first/);
});

describe('functions on a runtime the run cannot run', () => {
  const python = (extra: Record<string, unknown> = {}) => ({
    Type: 'AWS::Lambda::Function',
    Properties: { Code: { ZipFile: 'def handler(event, context): pass' }, Handler: 'index.handler', Runtime: 'python3.12' },
    Metadata: { 'aws:cdk:path': 'Test/Ingest/Enricher/Resource' },
    ...extra,
  });
  const image = { Type: 'AWS::Lambda::Function', Properties: { PackageType: 'Image', Code: { ImageUri: 'x.dkr.ecr.eu-west-1.amazonaws.com/r:1' } } };
  const err = (template: Template) => {
    try {
      plan(template);
    } catch (e) {
      expect(e).toBeInstanceOf(LocalRunError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };

  test('one nothing invokes is listed, with its runtime, and not started', () => {
    const p = plan({ Resources: { Stream: stream, Fn: fn(), Mapping: mapping(), Py: python(), Image: image } });
    expect(p.functions.map((f) => f.logicalId)).toEqual(['Fn']);
    expect(p.unrunnable).toEqual([
      expect.objectContaining({ path: 'Test/Py', constructPath: 'Test/Ingest/Enricher/Resource', logicalId: 'Py', runtime: 'python3.12' }),
      expect.objectContaining({ path: 'Test/Image', constructPath: 'Test/Image', logicalId: 'Image', runtime: 'container image' }),
    ]);
    expect(p.resources.find((r) => r.path === 'Test/Py')).toMatchObject({ action: 'not run locally', reason: 'runtime python3.12: nothing in the run invokes it' });
    expect(p.resources.find((r) => r.path === 'Test/Image')).toMatchObject({ action: 'not run locally', reason: 'a container image: nothing in the run invokes it' });
    // A disabled mapping invokes nothing.
    const disabled = plan({ Resources: { Stream: stream, Fn: python(), Mapping: mapping({ Enabled: false }) } });
    expect(disabled.mappings).toEqual([expect.objectContaining({ enabled: false, functionName: disabled.unrunnable[0].name })]);
  });

  test('one the run would invoke is a one-line error naming its construct path, logical id and runtime', () => {
    const tail = 'the local run runs Node.js functions (nodejs* runtimes) from their asset directory';
    expect(err({ Resources: { Stream: stream, Fn: python(), Mapping: mapping() } })).toBe(
      `Test/Ingest/Enricher/Resource (logical id Fn) has the runtime python3.12, which the local run cannot run, and the event source mapping Test/Mapping invokes it: ${tail}`);
    expect(err({ Resources: { Stream: stream, Fn: python({ Metadata: undefined, Properties: { Runtime: 'java21', Handler: 'a.B::handle', Code: { S3Bucket: 'b', S3Key: 'code.zip' } } }), Mapping: mapping() } }))
      .toBe(`Test/Fn (logical id Fn) has the runtime java21, which the local run cannot run, and the event source mapping Test/Mapping invokes it: ${tail}`);
    expect(err({ Resources: { Fn: image, Url: { Type: 'AWS::Lambda::Url', Properties: { TargetFunctionArn: { 'Fn::GetAtt': ['Fn', 'Arn'] }, AuthType: 'NONE' } } } }))
      .toBe(`Test/Fn (logical id Fn) is a container image, which the local run cannot run, and the Function URL Test/Url invokes it: ${tail}`);
    const api = {
      Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'Api', ProtocolType: 'HTTP' } },
      Integration: {
        Type: 'AWS::ApiGatewayV2::Integration',
        Properties: { ApiId: { Ref: 'Api' }, IntegrationType: 'AWS_PROXY', IntegrationUri: { 'Fn::GetAtt': ['Fn', 'Arn'] }, PayloadFormatVersion: '2.0' },
      },
    };
    expect(err({ Resources: { Fn: python(), ...api } })).toContain('(logical id Fn) has the runtime python3.12, which the local run cannot run, and the HTTP API integration Test/Integration invokes it');
    expect(err({ Resources: { Stream: stream, Fn: python(), Mapping: mapping() } }).split('\n')).toHaveLength(1);
  });

  test('the page\'s query function, named by an output, is checked too', () => {
    const p = plan({ Resources: { Stream: stream, Fn: fn(), Mapping: mapping(), Query: python() }, Outputs: { LambdaAPIFunction: { Value: { Ref: 'Query' } } } });
    expect(() => pageTargets(p, (n) => n)).toThrow('Test/Ingest/Enricher/Resource (logical id Query) has the runtime python3.12, which the local run cannot run, and the page (its query function) invokes it');
    expect(() => pageTargets(p, (n) => n, p.functions[0].name)).not.toThrow();
  });

  test('invoked through the run\'s Lambda endpoint, one nothing else invokes answers a function error naming its runtime', async () => {
    const run = await LocalRun.start({ cdkOut: assembly({ Resources: { Stream: stream, Fn: fn(), Mapping: mapping(), Py: python() } }), port: 0 });
    const client = new LambdaClient({ region: run.region, credentials: CREDENTIALS, endpoint: run.endpoint });
    try {
      const out = await client.send(new InvokeCommand({ FunctionName: run.plan.unrunnable[0].name, Payload: Buffer.from('{}') }));
      expect(out.FunctionError).toBe('Unhandled');
      expect(JSON.parse(Buffer.from(out.Payload!).toString())).toEqual({
        errorType: 'Runtime.NotRunLocally',
        errorMessage: 'Test/Ingest/Enricher/Resource (logical id Py) has the runtime python3.12, which the local run cannot run, and a Lambda Invoke request invokes it: '
          + 'the local run runs Node.js functions (nodejs* runtimes) from their asset directory',
      });
      await expect(client.send(new InvokeCommand({ FunctionName: 'Nope', Payload: Buffer.from('{}') }))).rejects.toThrow('Function not found: Nope');
    } finally {
      client.destroy();
      await run.stop();
    }
  });

  test('the run stops at start, before any server listens: the port it was given is not even tried', async () => {
    const dir = assembly({ Resources: { Stream: stream, Fn: python(), Mapping: mapping() } });
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      await expect(LocalRun.start({ cdkOut: dir, port })).rejects.toThrow('(logical id Fn) has the runtime python3.12, which the local run cannot run');
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});

test('--ignore-type runs without a type, and says where a placeholder reached a function', () => {
  const p = planDeployment(readCloudAssembly(assembly({ Resources: { Topic: { Type: 'AWS::SNS::Topic' }, Fn: fn({ TOPIC: { Ref: 'Topic' } }) } })), { ...options, ignoreTypes: ['AWS::SNS::Topic'] });
  expect(p.resources.find((r) => r.path === 'Test/Topic')?.action).toBe('not run locally');
  expect(p.notes).toEqual([expect.stringContaining('uses Test/Topic (AWS::SNS::Topic), which is not run locally: it gets a placeholder value')]);
});

describe('IoT topic rules, HTTP APIs and Function URLs', () => {
  const topicRule = (payload: Record<string, unknown>) => ({
    Type: 'AWS::IoT::TopicRule',
    Properties: {
      TopicRulePayload: {
        Sql: "SELECT * FROM 'sensors/+/readings'",
        AwsIotSqlVersion: '2016-03-23',
        Actions: [{ Kinesis: { StreamName: { Ref: 'Stream' }, PartitionKey: '${sensorid}', RoleArn: { 'Fn::GetAtt': ['Role', 'Arn'] } } }],
        ErrorAction: { CloudwatchLogs: { LogGroupName: { Ref: 'Errors' }, RoleArn: { 'Fn::GetAtt': ['Role', 'Arn'] } } },
        ...payload,
      },
    },
  });
  const base = { Stream: stream, Role: { Type: 'AWS::IAM::Role' }, Errors: { Type: 'AWS::Logs::LogGroup' }, Fn: fn() };
  const api = (extra: Record<string, unknown> = {}) => ({
    ...base,
    Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'Api', ProtocolType: 'HTTP', CorsConfiguration: { AllowOrigins: ['*'], AllowMethods: ['GET'] } } },
    Stage: { Type: 'AWS::ApiGatewayV2::Stage', Properties: { ApiId: { Ref: 'Api' }, StageName: '$default', AutoDeploy: true } },
    Integration: {
      Type: 'AWS::ApiGatewayV2::Integration',
      Properties: { ApiId: { Ref: 'Api' }, IntegrationType: 'AWS_PROXY', IntegrationUri: { 'Fn::GetAtt': ['Fn', 'Arn'] }, PayloadFormatVersion: '2.0' },
    },
    Route: {
      Type: 'AWS::ApiGatewayV2::Route',
      Properties: { ApiId: { Ref: 'Api' }, RouteKey: 'GET /items/{id}', AuthorizationType: 'JWT', Target: { 'Fn::Join': ['', ['integrations/', { Ref: 'Integration' }]] } },
    },
    ...extra,
  });
  const err = (template: Template, opts: Partial<typeof options> & { ignoreTypes?: string[] } = {}) => {
    try {
      planDeployment(readCloudAssembly(assembly(template)), { ...options, ...opts });
    } catch (e) {
      expect(e).toBeInstanceOf(LocalRunError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };

  test('a topic rule: its SQL, its Kinesis action on the local stream, its CloudWatch Logs error action; no note for the roles it names', () => {
    const p = plan({ Resources: { ...base, Rule: topicRule({}) } });
    expect(p.topicRules).toEqual([expect.objectContaining({
      path: 'Test/Rule',
      ruleName: expect.stringMatching(/^Test_Rule_[A-Z0-9]{12}$/),
      sqlText: "SELECT * FROM 'sensors/+/readings'",
      enabled: true,
      kinesisActions: [{ streamName: [p.streams[0].name], partitionKey: [{ kind: 'path', path: ['sensorid'] }], partitionKeyText: '${sensorid}' }],
      errorAction: { kind: 'cloudwatch-logs', logGroupName: expect.stringMatching(/^Test-Errors-[A-Z0-9]{12}$/) },
    })]);
    expect(p.notes).toEqual([]);
    expect(plan({ Resources: { ...base, Rule: topicRule({ RuleDisabled: true }) } }).topicRules[0].enabled).toBe(false);
  });

  test('what a topic rule cannot do locally stops the run, naming the rule and the part', () => {
    const runWithout = 'pass --ignore-type AWS::IoT::TopicRule to run without the rule';
    expect(err({ Resources: { ...base, Rule: topicRule({ Sql: "SELECT upper(sensorid) AS s FROM 'a'" }) } }))
      .toBe(`Test/Rule: in its SQL "SELECT upper(sensorid) AS s FROM 'a'", the function upper() is not evaluated locally (only topic(), topic(n), timestamp() and newuuid() are); ${runWithout}`);
    expect(err({ Resources: { ...base, Rule: topicRule({ Actions: [{ Lambda: { FunctionArn: { 'Fn::GetAtt': ['Fn', 'Arn'] } } }] }) } }))
      .toBe(`Test/Rule: its Lambda action is not run locally (the Kinesis action is); ${runWithout}`);
    expect(err({ Resources: { ...base, Rule: topicRule({ Actions: [{ Kinesis: { StreamName: 'elsewhere', RoleArn: 'r' } }] }) } }))
      .toBe('Test/Rule: its Kinesis action puts on the stream elsewhere, which this cloud assembly does not create');
    expect(err({ Resources: { ...base, Rule: topicRule({ Actions: [{ Kinesis: { StreamName: { Ref: 'Stream' }, PartitionKey: '${md5(sensorid)}', RoleArn: 'r' } }] }) } }))
      .toBe(`Test/Rule: its Actions[0].Kinesis.PartitionKey "\${md5(sensorid)}": \${md5(sensorid)}: the function md5() is not evaluated locally (only topic(), topic(n), timestamp() and newuuid() are); ${runWithout}`);
    expect(err({ Resources: { ...base, Rule: topicRule({ AwsIotSqlVersion: 'beta' }) } }))
      .toBe(`Test/Rule: AwsIotSqlVersion beta is not evaluated locally (2016-03-23 and 2015-10-08 are); ${runWithout}`);
    // With --ignore-type the rule is listed, not run.
    const p = planDeployment(readCloudAssembly(assembly({ Resources: { ...base, Rule: topicRule({ Sql: 'SELECT bad' }) } })), { ...options, ignoreTypes: ['AWS::IoT::TopicRule'] });
    expect(p.topicRules).toEqual([]);
    expect(p.resources.find((r) => r.path === 'Test/Rule')?.action).toBe('not run locally');
  });

  test('an HTTP API: routes to their functions, stages, CORS, its local URL; the AWS URL of an output maps to it', () => {
    const p = planDeployment(readCloudAssembly(assembly({
      Resources: api(),
      Outputs: { Url: { Value: { 'Fn::Join': ['', ['https://', { Ref: 'Api' }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/']] } } },
    })), { ...options, gatewayEndpoint: 'http://127.0.0.1:4000' });
    const [a] = p.httpApis;
    expect(a.apiId).toMatch(/^[a-z0-9]{10}$/);
    expect(a).toMatchObject({
      name: 'Api',
      stages: [{ name: '$default', variables: {} }],
      routes: [{ routeKey: 'GET /items/{id}', authorizationType: 'JWT', functionName: p.functions[0].name, timeoutMs: 30_000 }],
      cors: { allowOrigins: ['*'], allowMethods: ['GET'], allowHeaders: [], exposeHeaders: [], allowCredentials: false },
      url: `http://127.0.0.1:4000/http-apis/${a.apiId}/`,
    });
    expect(p.outputs[0]).toEqual({
      stack: 'Test', key: 'Url', value: `https://${a.apiId}.execute-api.eu-west-1.amazonaws.com/`, localValue: `http://127.0.0.1:4000/http-apis/${a.apiId}/`,
    });
  });

  test('what an HTTP API cannot do locally stops the run, naming the resource', () => {
    const integration = (props: Record<string, unknown>) => ({
      Type: 'AWS::ApiGatewayV2::Integration',
      Properties: { ApiId: { Ref: 'Api' }, IntegrationType: 'AWS_PROXY', IntegrationUri: { 'Fn::GetAtt': ['Fn', 'Arn'] }, PayloadFormatVersion: '2.0', ...props },
    });
    expect(err({ Resources: api({ Integration: integration({ PayloadFormatVersion: '1.0' }) }) })).toBe('Test/Integration: payload format 1.0 is not served locally (2.0 is)');
    expect(err({ Resources: api({ Integration: integration({ IntegrationType: 'HTTP_PROXY', IntegrationUri: 'https://example.com' }) }) }))
      .toBe('Test/Integration: HTTP_PROXY integrations are not served locally (Lambda proxy integrations, AWS_PROXY, are)');
    expect(err({ Resources: api({ Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'Ws', ProtocolType: 'WEBSOCKET' } } }) }))
      .toBe('Test/Api: WEBSOCKET APIs are not served locally (HTTP APIs are)');
    expect(err({ Resources: api({ Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'Q', ProtocolType: 'HTTP', Target: { 'Fn::GetAtt': ['Fn', 'Arn'] } } } }) }))
      .toBe('Test/Api: an API defined by Target is not served locally; define its routes and integrations as resources');
  });

  test('a Function URL: its function, auth type and CORS, the local URL as its FunctionUrl; a streaming one is refused', () => {
    const url = (props: Record<string, unknown> = {}) => ({
      Type: 'AWS::Lambda::Url', Properties: { TargetFunctionArn: { 'Fn::GetAtt': ['Fn', 'Arn'] }, AuthType: 'AWS_IAM', Cors: { AllowOrigins: ['https://a.example'] }, ...props },
    });
    const p = plan({ Resources: { Fn: fn(), Url: url(), User: fn({ TARGET: { 'Fn::GetAtt': ['Url', 'FunctionUrl'] } }) } });
    expect(p.functionUrls).toEqual([expect.objectContaining({ path: 'Test/Url', functionName: p.functions[0].name, authType: 'AWS_IAM', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:3000\/function-urls\/[a-z0-9]{32}\/$/) })]);
    expect(p.functionUrls[0].cors?.allowOrigins).toEqual(['https://a.example']);
    expect(p.functions[1].environment.TARGET).toBe(p.functionUrls[0].url);
    expect(err({ Resources: { Fn: fn(), Url: url({ InvokeMode: 'RESPONSE_STREAM' }) } })).toBe('Test/Url: InvokeMode RESPONSE_STREAM is not served locally (BUFFERED is)');
  });

  test('Firehose and Glue are accepted and named as not emulated, with what does not happen', () => {
    const p = plan({ Resources: { Stream: stream, Delivery: { Type: 'AWS::KinesisFirehose::DeliveryStream', Properties: {} }, Db: { Type: 'AWS::Glue::Database', Properties: { DatabaseInput: { Name: 'lake' } } } }, Outputs: { Db: { Value: { Ref: 'Db' } } } });
    expect(p.resources.filter((r) => r.action === 'not emulated')).toEqual([
      expect.objectContaining({ type: 'AWS::KinesisFirehose::DeliveryStream', reason: expect.stringContaining('the bucket it writes to stays empty') }),
      expect.objectContaining({ type: 'AWS::Glue::Database', reason: expect.stringContaining('Glue Data Catalog is not emulated') }),
    ]);
    expect(p.outputs[0].value).toBe('lake');
  });
});

describe('stack selection', () => {
  /** Two top-level stacks, App importing what Shared exports, and Other alone. */
  function threeStacks(): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'assembly-'));
    const templates: Record<string, Template> = {
      Shared: { Resources: { Stream: stream }, Outputs: { Name: { Value: { Ref: 'Stream' }, Export: { Name: 'shared-stream' } } } },
      App: { Resources: { Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: { 'Fn::Join': ['-', [{ 'Fn::ImportValue': 'shared-stream' }, 'dlq']] } } } } },
      Other: { Resources: { Queue: { Type: 'AWS::SQS::Queue' } } },
    };
    const artifacts: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(templates)) {
      writeFileSync(path.join(dir, `${name}.template.json`), JSON.stringify(t));
      artifacts[name] = { type: 'aws:cloudformation:stack', properties: { templateFile: `${name}.template.json` }, ...(name === 'App' ? { dependencies: ['Shared'] } : {}) };
    }
    writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ version: '53.0.0', artifacts }));
    return dir;
  }

  test('a named stack runs with the stacks it depends on, and leads', () => {
    const all = readCloudAssembly(threeStacks());
    const { stacks, lead } = selectStacks(all, ['App']);
    expect(stacks.map((s) => s.stackName)).toEqual(['Shared', 'App']);
    expect(lead.stackName).toBe('App');
    const p = planDeployment(stacks, { ...options, leadStack: lead.stackName });
    expect(p.stacks).toEqual(['App', 'Shared']);
    expect(p.queues.map((q) => q.name)).toEqual([`${p.streams[0].name}-dlq`]);
    expect(selectStacks(all, ['Other', 'App']).stacks.map((s) => s.stackName)).toEqual(['Shared', 'App', 'Other']);
    expect(selectStacks(all, [], 'Other').stacks.map((s) => s.stackName)).toEqual(['Other']);
  });

  test('several stacks and none named, or a name that is not there: a one-line error listing them', () => {
    const all = readCloudAssembly(threeStacks());
    expect(() => selectStacks(all, [])).toThrow(new LocalRunError('the cloud assembly has 3 stacks (Shared, App, Other): pick one with --stack NAME (repeatable, to run several together)'));
    expect(() => selectStacks(all, ['Nope'])).toThrow(new LocalRunError('--stack Nope: the cloud assembly has no such stack; it has Shared, App, Other'));
    // One stack needs no name.
    expect(selectStacks(readCloudAssembly(assembly({ Resources: { Stream: stream } })), []).lead.stackName).toBe('Test');
  });
});
