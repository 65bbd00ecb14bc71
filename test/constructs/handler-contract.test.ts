/**
 * The constructs and the bundled handlers agree: every environment variable a
 * construct writes is one its handler reads, every variable a handler reads is
 * one its construct writes, and the values written are values the handler
 * accepts. Checked on synthesized templates of many pipelines, against the
 * handlers' own `depsFromEnv`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { newStack } from './util';
import {
  Archiver,
  DeadLetterDestination,
  HandlerLogLevel,
  Ingress,
  IngestProcessor,
  MetricsMode,
  QueryEndpoint,
  SensorIngestPipeline,
  SensorIngestPipelineProps,
} from '../../src';
import * as archiver from '../../src/handlers/archiver.lambda';
import * as processor from '../../src/handlers/processor.lambda';
import * as query from '../../src/handlers/query.lambda';
import * as replay from '../../src/handlers/replay.lambda';
import {
  esbuildTarget,
  HANDLER_NAMES,
  HANDLER_RUNTIME,
  HANDLER_SETTINGS,
  HandlerName,
  LOCAL_SETTINGS,
  LOG_LEVELS,
  METRICS_MODES,
  readSettings,
  SettingSpec,
} from '../../src/private/handler-contract';
import { bundledCode } from '../../src/private/handler-function';

const DEPS_FROM_ENV: Record<HandlerName, (env: NodeJS.ProcessEnv) => unknown> = {
  processor: processor.depsFromEnv,
  archiver: archiver.depsFromEnv,
  query: query.depsFromEnv,
  replay: replay.depsFromEnv,
};

const variablesOf = (name: HandlerName) => Object.values(HANDLER_SETTINGS[name]).map((s) => s.variable).sort();
const LOCAL_VARIABLES = Object.values(LOCAL_SETTINGS).map((s) => s.variable);

/** Which handler each bundle's asset is, by the S3 key of its code. */
const HANDLER_OF_ASSET = new Map(HANDLER_NAMES.map((name) => [bundledCode(name).bind(new Stack()).s3Location!.objectKey, name] as const));

type Resources = Record<string, { Type: string; Properties?: any }>;

/** A deploy-time value as it could look at run time: every reference replaced by a plausible value of its kind. */
function resolve(value: unknown, resources: Resources): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (v.Ref !== undefined) {
    const type = resources[v.Ref]?.Type;
    if (type === 'AWS::SQS::Queue') return `https://sqs.eu-west-1.amazonaws.com/111111111111/${v.Ref}`;
    return String(v.Ref).toLowerCase();
  }
  if (v['Fn::GetAtt'] !== undefined) {
    const [id, attribute] = v['Fn::GetAtt'];
    const type = resources[id]?.Type;
    if (attribute === 'Arn' && type === 'AWS::Kinesis::Stream') return `arn:aws:kinesis:eu-west-1:111111111111:stream/${id}`;
    if (attribute === 'Arn' && type === 'AWS::Lambda::Function') return `arn:aws:lambda:eu-west-1:111111111111:function:${id}`;
    if (attribute === 'Arn' && type === 'AWS::IAM::Role') return `arn:aws:iam::111111111111:role/${id}`;
    return `${id}-${attribute}`.toLowerCase();
  }
  if (v['Fn::Join'] !== undefined) return v['Fn::Join'][1].map((part: unknown) => resolve(part, resources)).join(v['Fn::Join'][0]);
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

interface BundledFunction {
  readonly id: string;
  readonly handler: HandlerName;
  readonly runtime: string;
  readonly env: Record<string, unknown>;
}

function bundledFunctions(template: Template): BundledFunction[] {
  return Object.entries(template.findResources('AWS::Lambda::Function')).flatMap(([id, fn]) => {
    const handler = HANDLER_OF_ASSET.get(fn.Properties.Code.S3Key);
    return handler ? [{ id, handler, runtime: fn.Properties.Runtime, env: fn.Properties.Environment.Variables }] : [];
  });
}

function pipelineTemplate(props: SensorIngestPipelineProps, more?: (p: SensorIngestPipeline) => void): Template {
  const stack = newStack();
  const pipeline = new SensorIngestPipeline(stack, 'Pipeline', props);
  more?.(pipeline);
  return Template.fromStack(stack);
}

const configurations: Array<[string, () => Template]> = [
  ['defaults', () => pipelineTemplate({})],
  ['a payload mapping and a longer sensor id', () => pipelineTemplate({
    payloadMapping: { sensorIdField: 'deviceId', timestampField: 'ts', valueField: 'v', measurementFields: ['t', 'h'], measurementSeparator: '.' },
    maxSensorIdLength: 1024,
  })],
  ['PutMetricData, DEBUG logs, dead letters in a bucket', () => {
    const stack = newStack();
    const bucket = new s3.Bucket(stack, 'Rejects');
    new SensorIngestPipeline(stack, 'Pipeline', {
      processor: IngestProcessor.dynamoDb({
        metricsMode: MetricsMode.PUT_METRIC_DATA,
        metricNamespace: 'Plant',
        logLevel: HandlerLogLevel.DEBUG,
        deadLetterDestination: DeadLetterDestination.bucket(bucket, 'bad/'),
      }),
      archiver: Archiver.s3({ prefix: '', logLevel: HandlerLogLevel.ERROR }),
      query: { defaultLimit: 5, maxLimit: 50, logLevel: HandlerLogLevel.SILENT },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    return Template.fromStack(stack);
  }],
  ['no archive, and one more processor', () => pipelineTemplate({ archiver: Archiver.none() }, (p) => {
    p.addProcessor('Hot', IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE, batchSize: 50, timeout: Duration.minutes(2) }));
  })],
  ['an IoT ingress, enhanced fan-out, the Firehose archiver and a Function URL with reserved concurrency', () => pipelineTemplate({
    ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
    processor: IngestProcessor.dynamoDb({ enhancedFanOut: true }),
    archiver: Archiver.firehose({ parquet: {} }),
    queryEndpoint: QueryEndpoint.functionUrl({ reservedConcurrency: 3 }),
  })],
];

describe.each(configurations)('the contract holds for a pipeline with %s', (_name, make) => {
  const template = make();
  const resources = template.toJSON().Resources as Resources;
  const functions = bundledFunctions(template);

  test('every bundled function is found', () => {
    expect(functions.length).toBe(Object.keys(template.findResources('AWS::Lambda::Function')).length);
    expect(functions.map((f) => f.handler)).toEqual(expect.arrayContaining(['processor', 'query']));
  });

  test('each construct writes exactly the variables its handler reads, in values the handler accepts', () => {
    for (const fn of functions) {
      // The construct side: the variables written are the handler's settings, every one of them.
      expect({ fn: fn.id, variables: Object.keys(fn.env).sort() }).toEqual({ fn: fn.id, variables: variablesOf(fn.handler) });

      // The handler side: what it reads when it starts, given that environment.
      const env = Object.fromEntries(Object.entries(fn.env).map(([k, v]) => [k, resolve(v, resources)]));
      const read = new Set<string>();
      const watched = new Proxy(env, {
        get: (target, key) => {
          if (typeof key === 'string') read.add(key);
          return target[key as string];
        },
      });
      expect(() => DEPS_FROM_ENV[fn.handler](watched)).not.toThrow();
      const readSettingsVariables = [...read].filter((v) => !LOCAL_VARIABLES.includes(v)).sort();
      expect({ fn: fn.id, read: readSettingsVariables }).toEqual({ fn: fn.id, read: variablesOf(fn.handler) });
      // And it reads them as the contract says (no value falls back to a default unseen).
      const settings = readSettings(HANDLER_SETTINGS[fn.handler], env) as Record<string, unknown>;
      for (const [key, setting] of Object.entries(HANDLER_SETTINGS[fn.handler] as SettingSpec)) {
        expect(setting.write(settings[key])).toBe(env[setting.variable]);
      }
    }
  });

  test('every function runs the runtime the contract pins', () => {
    for (const fn of functions) expect(fn.runtime).toBe(HANDLER_RUNTIME);
  });
});

describe('the contract', () => {
  test('the public enums hold exactly the values the handlers accept', () => {
    expect(Object.values(MetricsMode)).toEqual([...METRICS_MODES]);
    expect(Object.values(HandlerLogLevel)).toEqual([...LOG_LEVELS]);
  });

  test('the bundles are built for the pinned runtime, one per handler', () => {
    type Step = { exec?: string; execArgs?: string[] };
    const tasks = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '.projen', 'tasks.json'), 'utf8')).tasks as Record<string, { steps?: Step[] }>;
    const bundles = Object.entries(tasks).filter(([name]) => /^bundle:handlers\/.+\.lambda$/.test(name));
    expect(bundles.map(([name]) => name.replace(/^bundle:handlers\/(.+)\.lambda$/, '$1')).sort()).toEqual([...HANDLER_NAMES].sort());
    for (const [, task] of bundles) {
      const exec = task.steps!.map((s) => s.exec ?? s.execArgs?.join(' ') ?? '').join(' ');
      expect(exec).toContain(`--target=${esbuildTarget(HANDLER_RUNTIME)}`);
    }
    expect(lambda.Runtime.ALL.map((r) => r.name)).toContain(HANDLER_RUNTIME);
  });

  test('esbuildTarget follows the runtime', () => {
    expect(esbuildTarget('nodejs22.x')).toBe('node22');
    expect(esbuildTarget('nodejs24.x')).toBe('node24');
    expect(() => esbuildTarget('python3.12')).toThrow('not a Lambda Node.js runtime: python3.12');
  });

  test('no construct or handler file writes an environment variable name: only the contract does', () => {
    const variables = new Set([
      ...HANDLER_NAMES.flatMap(variablesOf),
      ...LOCAL_VARIABLES,
    ]);
    const src = path.join(__dirname, '..', '..', 'src');
    const files = [
      ...fs.readdirSync(src).map((f) => path.join(src, f)),
      ...fs.readdirSync(path.join(src, 'private')).map((f) => path.join(src, 'private', f)),
      ...fs.readdirSync(path.join(src, 'handlers')).map((f) => path.join(src, 'handlers', f)),
    ].filter((f) => f.endsWith('.ts') && !f.endsWith('handler-contract.ts'));
    expect(files.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const file of files) {
      // Code only: the docs may name the variables a user's function gets.
      const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      for (const [, literal] of text.matchAll(/['"`]([A-Z][A-Z0-9_]+)['"`]/g)) {
        if (variables.has(literal)) found.push(`${path.relative(src, file)}: ${literal}`);
      }
    }
    expect(found).toEqual([]);
  });

  test('a setting the handler cannot run without is an error naming its variable', () => {
    expect(() => readSettings(HANDLER_SETTINGS.archiver, {})).toThrow('environment variable ARCHIVE_BUCKET is not set');
    expect(() => readSettings(HANDLER_SETTINGS.query, { TABLE_NAME: 't', QUERY_MAX_LIMIT: '0' }))
      .toThrow('environment variable QUERY_MAX_LIMIT must be an integer from 1 to 10000, got "0"');
    expect(() => readSettings(HANDLER_SETTINGS.query, { TABLE_NAME: 't', POWERTOOLS_LOG_LEVEL: 'LOUD' }))
      .toThrow('environment variable POWERTOOLS_LOG_LEVEL must be one of DEBUG, INFO, WARN, ERROR, SILENT, got "LOUD"');
    const replaySettings = {
      FAILED_BATCHES_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/111111111111/q',
      TARGET_FUNCTION: 'f',
      INVOKE_IDENTITY_ARN: 'arn:aws:iam::111111111111:role/r',
    };
    expect(() => readSettings(HANDLER_SETTINGS.replay, replaySettings)).toThrow('environment variable STREAM_ARN is not set');
    expect(() => readSettings(HANDLER_SETTINGS.replay, { ...replaySettings, STREAM_ARN: 'sensors' }))
      .toThrow('environment variable STREAM_ARN must be a Kinesis stream ARN (arn:<partition>:kinesis:<region>:<account>:stream/<name>), got "sensors"');
    expect(readSettings(HANDLER_SETTINGS.replay, { ...replaySettings, STREAM_ARN: 'arn:aws-cn:kinesis:cn-north-1:111111111111:stream/s' }).streamArn)
      .toBe('arn:aws-cn:kinesis:cn-north-1:111111111111:stream/s');
    expect(() => readSettings(LOCAL_SETTINGS, { S3_FORCE_PATH_STYLE: 'yes' }))
      .toThrow('environment variable S3_FORCE_PATH_STYLE must be true or false, got "yes"');
  });
});
