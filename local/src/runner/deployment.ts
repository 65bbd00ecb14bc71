/**
 * Turns the stacks of a cloud assembly into what the local run creates and
 * runs: streams, tables, buckets, queues, functions and event source
 * mappings, each with its resolved settings. Deploy-time-only resources are
 * listed and ignored; a resource type or a mapping property the run cannot
 * honour is a one-line error naming it.
 */
import { mkdtempSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { findAsset, StackArtifact } from './assembly';
import { LocalRunError } from './errors';
import { MappingSpec, StartingPosition } from './event-source-mapping';
import { CorsPlan, FUNCTION_URL_PREFIX, FunctionUrlPlan, HTTP_API_PREFIX, HttpApiPlan, HttpRoutePlan } from './http-endpoints';
import { ErrorActionPlan, KinesisActionPlan, TopicRulePlan } from './iot-rules';
import { IotSqlError, parseRuleSql, parseTemplate } from './iot-sql';
import { nameSuffix } from './names';
import { functionUrlId, isCustomResource, isDeployTimeOnly, NOT_EMULATED, RUN_TYPES } from './resource-types';
import { QueueSettings } from './sqs-server';
import { RunContext, StackModel } from './stack-model';

/** Shards an ON_DEMAND stream gets locally: the number Kinesis starts an on-demand stream with. */
export const ON_DEMAND_SHARDS = 4;

export interface PlannedResource {
  readonly path: string;
  readonly type: string;
  readonly physicalId?: string;
  readonly action: 'run' | 'not run locally' | 'not emulated' | 'provider function, not run locally' | 'condition false' | 'disabled';
  /** Properties the local run does not emulate. */
  readonly notEmulated?: readonly string[];
  /** For a type that is not emulated: what does not happen locally. */
  readonly reason?: string;
}

export interface ConsumerPlan {
  readonly path: string;
  readonly name: string;
  readonly streamName: string;
}

export interface StreamPlan {
  readonly path: string;
  readonly name: string;
  readonly arn: string;
  readonly shardCount: number;
  readonly onDemand: boolean;
}

export interface TablePlan {
  readonly path: string;
  readonly name: string;
  readonly input: CreateTableCommandInput;
}

export interface BucketPlan {
  readonly path: string;
  readonly name: string;
}

export interface QueuePlan {
  readonly path: string;
  readonly name: string;
  readonly settings: QueueSettings;
}

export interface FunctionPlan {
  readonly path: string;
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly codeDirectory: string;
  readonly handler: string;
  readonly runtime: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly reservedConcurrency?: number;
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * A function the local run cannot run: a runtime other than Node.js, or a
 * container image. It may stay in the app as long as nothing the run does
 * invokes it (an event source mapping, an HTTP API route, a Function URL, the
 * page's query function).
 */
export interface UnrunnableFunctionPlan {
  /** `Stack/LogicalId`. */
  readonly path: string;
  /** The construct path (the template's `aws:cdk:path`, else the assembly's metadata), or `path` when neither names it. */
  readonly constructPath: string;
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The runtime, `container image`, or `(no runtime)`. */
  readonly runtime: string;
}

/** The one-line error for a function the run would have to invoke and cannot run. */
export function unrunnableError(fn: UnrunnableFunctionPlan, invokedBy: string): LocalRunError {
  const what = fn.runtime === 'container image' ? 'is a container image' : `has the runtime ${fn.runtime}`;
  return new LocalRunError(
    `${fn.constructPath} (logical id ${fn.logicalId}) ${what}, which the local run cannot run, and ${invokedBy} invokes it: `
    + 'the local run runs Node.js functions (nodejs* runtimes) from their asset directory',
  );
}

export interface OutputPlan {
  readonly stack: string;
  readonly key: string;
  readonly value?: string;
  /** The value with AWS endpoints of the run's HTTP APIs replaced by their local URLs, when it names one. */
  readonly localValue?: string;
  readonly error?: string;
}

export interface Plan {
  readonly resources: PlannedResource[];
  readonly streams: StreamPlan[];
  readonly tables: TablePlan[];
  readonly buckets: BucketPlan[];
  readonly queues: QueuePlan[];
  readonly functions: FunctionPlan[];
  /** Functions the run cannot run and nothing in it invokes: listed, not started. */
  readonly unrunnable: UnrunnableFunctionPlan[];
  readonly mappings: Array<MappingSpec & { readonly enabled: boolean }>;
  readonly consumers: ConsumerPlan[];
  readonly topicRules: TopicRulePlan[];
  readonly httpApis: Array<HttpApiPlan & { readonly url: string; readonly stageUrls: Readonly<Record<string, string>> }>;
  readonly functionUrls: Array<FunctionUrlPlan & { readonly url: string }>;
  readonly outputs: OutputPlan[];
  readonly notes: string[];
  /** The stacks the plan covers, the leading one first (its outputs configure the page). */
  readonly stacks: readonly string[];
}

export interface PlanOptions {
  readonly region: string;
  readonly account: string;
  /** Types to run without (listed as not run locally) instead of stopping. */
  readonly ignoreTypes?: readonly string[];
  /** Values of template parameters, for every stack that declares them. */
  readonly parameters?: Readonly<Record<string, string>>;
  /** The run's gateway, where HTTP APIs and Function URLs are served. Default http://127.0.0.1:3000. */
  readonly gatewayEndpoint?: string;
  /** The stack whose outputs lead (the page's); default the first. */
  readonly leadStack?: string;
  /** Plan without writing anything (inline function code is not written out): to check an app before any server starts. */
  readonly checkOnly?: boolean;
  queueUrl(queueName: string): string;
}

/** Event source mapping properties the local run honours, and those that change nothing locally. */
const MAPPING_PROPERTIES = new Set([
  'BatchSize', 'BisectBatchOnFunctionError', 'DestinationConfig', 'Enabled', 'EventSourceArn', 'FunctionName',
  'FunctionResponseTypes', 'MaximumBatchingWindowInSeconds', 'MaximumRecordAgeInSeconds', 'MaximumRetryAttempts',
  'ParallelizationFactor', 'StartingPosition', 'StartingPositionTimestamp',
]);
const MAPPING_PROPERTIES_WITHOUT_LOCAL_EFFECT = new Set(['Tags', 'MetricsConfig', 'KmsKeyArn']);

/** Properties each run type uses; the others are listed as not emulated. */
const USED_PROPERTIES: Record<string, readonly string[]> = {
  'AWS::Kinesis::Stream': ['Name', 'ShardCount', 'StreamModeDetails'],
  'AWS::Kinesis::StreamConsumer': ['ConsumerName', 'StreamARN'],
  'AWS::DynamoDB::Table': ['TableName', 'AttributeDefinitions', 'KeySchema', 'BillingMode', 'ProvisionedThroughput', 'GlobalSecondaryIndexes', 'LocalSecondaryIndexes'],
  'AWS::DynamoDB::GlobalTable': ['TableName', 'AttributeDefinitions', 'KeySchema', 'BillingMode', 'GlobalSecondaryIndexes', 'LocalSecondaryIndexes', 'Replicas'],
  'AWS::S3::Bucket': ['BucketName'],
  'AWS::SQS::Queue': ['QueueName', 'VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'ReceiveMessageWaitTimeSeconds', 'MaximumMessageSize', 'RedrivePolicy'],
  'AWS::Lambda::Function': ['Code', 'Handler', 'Runtime', 'Environment', 'Timeout', 'MemorySize', 'FunctionName', 'ReservedConcurrentExecutions', 'Role', 'Description', 'LoggingConfig', 'Architectures'],
  'AWS::IoT::TopicRule': ['RuleName', 'TopicRulePayload'],
  'AWS::ApiGatewayV2::Api': ['Name', 'ProtocolType', 'CorsConfiguration', 'Description'],
  'AWS::ApiGatewayV2::Stage': ['ApiId', 'StageName', 'StageVariables', 'AutoDeploy'],
  'AWS::ApiGatewayV2::Route': ['ApiId', 'RouteKey', 'Target', 'AuthorizationType'],
  'AWS::ApiGatewayV2::Integration': ['ApiId', 'IntegrationType', 'IntegrationUri', 'PayloadFormatVersion', 'TimeoutInMillis', 'IntegrationMethod'],
  'AWS::Lambda::Url': ['TargetFunctionArn', 'AuthType', 'Cors', 'InvokeMode'],
};

/** Function properties that would change what the code does: the run refuses them rather than run different code. */
const FUNCTION_PROPERTIES_REFUSED = ['Layers', 'ImageConfig', 'FileSystemConfigs'];

export function planDeployment(stacks: readonly StackArtifact[], options: PlanOptions): Plan {
  const notes: string[] = [];
  const noted = new Set<string>();
  const exports = new Map<string, () => unknown>();
  const ignoredTypes = new Set(options.ignoreTypes ?? []);
  const run: RunContext = {
    region: options.region,
    account: options.account,
    partition: 'aws',
    urlSuffix: 'amazonaws.com',
    queueUrl: options.queueUrl,
    gatewayEndpoint: options.gatewayEndpoint ?? 'http://127.0.0.1:3000',
    exports,
    ignoredTypes,
    note: (m) => {
      if (!noted.has(m)) {
        noted.add(m);
        notes.push(m);
      }
    },
  };
  const plan: Plan = {
    resources: [],
    streams: [],
    tables: [],
    buckets: [],
    queues: [],
    functions: [],
    unrunnable: [],
    mappings: [],
    consumers: [],
    topicRules: [],
    httpApis: [],
    functionUrls: [],
    outputs: [],
    notes,
    stacks: [...stacks.map((st) => st.stackName)].sort((a, b) => Number(b === options.leadStack) - Number(a === options.leadStack)),
  };

  const models: StackModel[] = [];
  for (const stack of stacks) {
    const params = { ...(options.parameters ?? {}) };
    const model = new StackModel(run, stack, stack.stackName, params);
    attachNestedFactory(model, stack);
    models.push(model);
    for (const [key, out] of Object.entries(stack.template.Outputs ?? {})) {
      if (out.Export) exports.set(String(model.resolve(out.Export.Name, `${stack.stackName} output ${key} export`)), () => model.output(key, `export of ${key}`));
    }
  }

  const all: Array<{ model: StackModel; logicalId: string }> = [];
  const visit = (model: StackModel) => {
    for (const logicalId of model.resources.keys()) {
      if (!model.isActive(logicalId)) {
        plan.resources.push({ path: model.path(logicalId), type: model.resources.get(logicalId)!.Type, action: 'condition false' });
        continue;
      }
      all.push({ model, logicalId });
      if (model.resources.get(logicalId)!.Type === 'AWS::CloudFormation::Stack') visit(model.nested(logicalId));
    }
  };
  models.forEach(visit);

  // Unknown types stop the run before anything starts: silently running a
  // pipeline without one of its parts would be worse than not running it.
  for (const { model, logicalId } of all) {
    const type = model.resources.get(logicalId)!.Type;
    if (RUN_TYPES[type] || type === 'AWS::CloudFormation::Stack' || isDeployTimeOnly(type) || NOT_EMULATED[type] || ignoredTypes.has(type)) continue;
    throw new LocalRunError(
      `${model.path(logicalId)} is a ${type}, which the local run cannot emulate: pass --ignore-type ${type} to run without it`,
    );
  }

  const providers = new Set<string>();
  for (const { model, logicalId } of all) {
    const resource = model.resources.get(logicalId)!;
    if (!isCustomResource(resource.Type)) continue;
    const token = resource.Properties?.ServiceToken as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const target = token?.['Fn::GetAtt']?.[0];
    if (target) providers.add(model.path(target));
  }

  for (const { model, logicalId } of all) {
    const resource = model.resources.get(logicalId)!;
    const type = resource.Type;
    const p = model.path(logicalId);
    if (type === 'AWS::CloudFormation::Stack') {
      plan.resources.push({ path: p, type, physicalId: model.nested(logicalId).stackName, action: 'run' });
      continue;
    }
    if (!RUN_TYPES[type] || ignoredTypes.has(type)) {
      const reason = ignoredTypes.has(type) ? undefined : NOT_EMULATED[type];
      plan.resources.push({ path: p, type, action: reason ? 'not emulated' : 'not run locally', reason });
      continue;
    }
    if (type === 'AWS::Lambda::Function' && providers.has(p)) {
      plan.resources.push({ path: p, type, action: 'provider function, not run locally' });
      continue;
    }
    const used = USED_PROPERTIES[type];
    const notEmulated = used ? Object.keys(resource.Properties ?? {}).filter((k) => !used.includes(k)) : undefined;
    const name = model.physicalName(logicalId);
    switch (type) {
      case 'AWS::Kinesis::Stream': plan.streams.push(planStream(model, logicalId)); break;
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable': plan.tables.push(planTable(model, logicalId)); break;
      case 'AWS::S3::Bucket': plan.buckets.push({ path: p, name }); break;
      case 'AWS::SQS::Queue': plan.queues.push(planQueue(model, logicalId)); break;
      case 'AWS::Lambda::Function': {
        const planned = planFunction(model, logicalId, stacksOf(model, stacks), options.checkOnly ?? false);
        if ('codeDirectory' in planned) {
          plan.functions.push(planned);
          break;
        }
        plan.unrunnable.push(planned);
        plan.resources.push({ path: p, type, physicalId: name, action: 'not run locally', reason: `${planned.runtime === 'container image' ? 'a container image' : `runtime ${planned.runtime}`}: nothing in the run invokes it` });
        continue;
      }
      case 'AWS::Kinesis::StreamConsumer': plan.consumers.push(planConsumer(model, logicalId)); break;
      // Below, once every function and stream is known.
      case 'AWS::Lambda::EventSourceMapping':
      case 'AWS::IoT::TopicRule':
      case 'AWS::ApiGatewayV2::Api':
      case 'AWS::ApiGatewayV2::Stage':
      case 'AWS::ApiGatewayV2::Route':
      case 'AWS::ApiGatewayV2::Integration':
      case 'AWS::Lambda::Url':
        break;
    }
    plan.resources.push({ path: p, type, physicalId: type === 'AWS::SQS::Queue' ? options.queueUrl(name) : name, action: 'run', notEmulated });
  }

  for (const { model, logicalId } of all) {
    if (model.resources.get(logicalId)!.Type !== 'AWS::Lambda::EventSourceMapping') continue;
    const mapping = planMapping(model, logicalId, plan, options);
    plan.mappings.push(mapping);
    if (!mapping.enabled) {
      const entry = plan.resources.find((r) => r.path === model.path(logicalId));
      if (entry) plan.resources.splice(plan.resources.indexOf(entry), 1, { ...entry, action: 'disabled' });
    }
  }

  const gateway = run.gatewayEndpoint;
  const runsHere = ({ model, logicalId }: { model: StackModel; logicalId: string }) => !ignoredTypes.has(model.resources.get(logicalId)!.Type);
  const ofType = (type: string) => all.filter((r) => r.model.resources.get(r.logicalId)!.Type === type && runsHere(r));
  for (const r of ofType('AWS::IoT::TopicRule')) plan.topicRules.push(planTopicRule(r.model, r.logicalId, plan));
  for (const r of ofType('AWS::ApiGatewayV2::Api')) {
    const api = planHttpApi(r.model, r.logicalId, plan, all.filter(runsHere));
    const base = `${gateway}${HTTP_API_PREFIX}${api.apiId}`;
    const stageUrls = Object.fromEntries(api.stages.map((st) => [st.name, st.name === '$default' ? `${base}/` : `${base}/${st.name}/`]));
    plan.httpApis.push({ ...api, url: `${base}/`, stageUrls });
  }
  for (const r of ofType('AWS::Lambda::Url')) {
    const u = planFunctionUrl(r.model, r.logicalId, plan);
    plan.functionUrls.push({ ...u, url: `${gateway}${FUNCTION_URL_PREFIX}${u.urlId}/` });
  }

  for (const model of models) {
    for (const key of Object.keys(model.source.template.Outputs ?? {})) {
      const out = model.source.template.Outputs![key];
      if (out.Condition && !model.condition(out.Condition)) continue;
      try {
        const raw = model.output(key, `output ${key}`);
        const value = typeof raw === 'string' ? raw : JSON.stringify(raw);
        // An HTTP API's AWS endpoint, as the stage's URL is built, names the local API here.
        let local = value;
        for (const api of plan.httpApis) {
          local = local.split(`https://${api.apiId}.execute-api.${run.region}.${run.urlSuffix}`).join(`${gateway}${HTTP_API_PREFIX}${api.apiId}`);
        }
        plan.outputs.push({ stack: model.stackName, key, value, ...(local !== value ? { localValue: local } : {}) });
      } catch (err) {
        plan.outputs.push({ stack: model.stackName, key, error: (err as Error).message });
      }
    }
  }
  return plan;
}

function planConsumer(model: StackModel, logicalId: string): ConsumerPlan {
  const streamArn = String(model.property(logicalId, 'StreamARN') ?? '');
  return { path: model.path(logicalId), name: model.physicalName(logicalId), streamName: streamArn.split('/').pop() ?? streamArn };
}

/** The rule as the rules engine runs it: its SQL parsed, its Kinesis actions' templates parsed, its error action. */
function planTopicRule(model: StackModel, logicalId: string, plan: Plan): TopicRulePlan {
  const p = model.path(logicalId);
  const raw = (model.resources.get(logicalId)!.Properties?.TopicRulePayload ?? {}) as Record<string, unknown>;
  const get = (v: unknown, what: string) => model.resolve(v, `${p} ${what}`);
  const runWithout = 'pass --ignore-type AWS::IoT::TopicRule to run without the rule';
  const sqlText = String(get(raw.Sql, 'Sql') ?? '');
  const version = String(get(raw.AwsIotSqlVersion, 'AwsIotSqlVersion') ?? '2015-10-08');
  if (version !== '2016-03-23' && version !== '2015-10-08') {
    throw new LocalRunError(`${p}: AwsIotSqlVersion ${version} is not evaluated locally (2016-03-23 and 2015-10-08 are); ${runWithout}`);
  }
  let sql;
  try {
    sql = parseRuleSql(sqlText);
  } catch (err) {
    if (!(err instanceof IotSqlError)) throw err;
    throw new LocalRunError(`${p}: in its SQL "${sqlText}", ${err.message}; ${runWithout}`);
  }
  const template = (text: string, field: string) => {
    try {
      return parseTemplate(text);
    } catch (err) {
      if (!(err instanceof IotSqlError)) throw err;
      throw new LocalRunError(`${p}: its ${field} "${text}": ${err.message}; ${runWithout}`);
    }
  };
  const kinesisActions: KinesisActionPlan[] = [];
  const actions = (raw.Actions ?? []) as Array<Record<string, Record<string, unknown>>>;
  for (const [i, action] of actions.entries()) {
    for (const [kind, settings] of Object.entries(action)) {
      if (kind !== 'Kinesis') throw new LocalRunError(`${p}: its ${kind} action is not run locally (the Kinesis action is); ${runWithout}`);
      const streamText = String(get(settings.StreamName, `Actions[${i}].Kinesis.StreamName`));
      const streamName = template(streamText, `Actions[${i}].Kinesis.StreamName`);
      if (streamName.every((part) => typeof part === 'string') && !plan.streams.some((st) => st.name === streamText)) {
        throw new LocalRunError(`${p}: its Kinesis action puts on the stream ${streamText}, which this cloud assembly does not create`);
      }
      const keyText = settings.PartitionKey === undefined ? undefined : String(get(settings.PartitionKey, `Actions[${i}].Kinesis.PartitionKey`));
      kinesisActions.push({
        streamName,
        partitionKey: keyText === undefined ? undefined : template(keyText, `Actions[${i}].Kinesis.PartitionKey`),
        partitionKeyText: keyText,
      });
    }
  }
  let errorAction: ErrorActionPlan | undefined;
  const errorRaw = raw.ErrorAction as Record<string, Record<string, unknown>> | undefined;
  if (errorRaw) {
    const [kind, settings] = Object.entries(errorRaw)[0] ?? [];
    errorAction = kind === 'CloudwatchLogs'
      ? { kind: 'cloudwatch-logs', logGroupName: String(model.resolveQuietly(settings.LogGroupName, `${p} ErrorAction.CloudwatchLogs.LogGroupName`)) }
      : { kind: 'not run', type: String(kind) };
  }
  const disabled = get(raw.RuleDisabled, 'RuleDisabled');
  return {
    path: p,
    ruleName: model.physicalName(logicalId),
    sqlText,
    sql,
    enabled: !(disabled === true || disabled === 'true'),
    kinesisActions,
    errorAction,
  };
}

function planCors(raw: Record<string, unknown> | undefined): CorsPlan | undefined {
  if (!raw) return undefined;
  const list = (v: unknown) => ((v as unknown[] | undefined) ?? []).map(String);
  return {
    allowOrigins: list(raw.AllowOrigins),
    allowMethods: list(raw.AllowMethods).map((m) => m.toUpperCase()),
    allowHeaders: list(raw.AllowHeaders),
    exposeHeaders: list(raw.ExposeHeaders),
    allowCredentials: raw.AllowCredentials === true || raw.AllowCredentials === 'true',
    maxAgeSeconds: raw.MaxAge === undefined ? undefined : Number(raw.MaxAge),
  };
}

/**
 * The function a Lambda ARN, an API Gateway invocation URI or a name names,
 * if it runs locally; a function of the app that cannot run is an error
 * naming it and `invokedBy`.
 */
function functionOf(plan: Plan, ref: string, invokedBy: string): FunctionPlan | undefined {
  const arn = /functions\/(arn:[^/]+)\/invocations$/.exec(ref)?.[1] ?? ref;
  const name = arn.startsWith('arn:') ? arn.split(':')[6] : arn.split(':')[0];
  const unrunnable = plan.unrunnable.find((f) => f.name === name);
  if (unrunnable) throw unrunnableError(unrunnable, invokedBy);
  return plan.functions.find((f) => f.name === name);
}

/** An HTTP API with its stages, and its routes each with its Lambda proxy integration. */
function planHttpApi(model: StackModel, logicalId: string, plan: Plan, all: ReadonlyArray<{ model: StackModel; logicalId: string }>): HttpApiPlan {
  const p = model.path(logicalId);
  const raw = model.resources.get(logicalId)!.Properties ?? {};
  const protocol = String(model.property(logicalId, 'ProtocolType') ?? 'HTTP');
  if (protocol !== 'HTTP') throw new LocalRunError(`${p}: ${protocol} APIs are not served locally (HTTP APIs are)`);
  for (const key of ['Body', 'BodyS3Location', 'Target', 'RouteKey']) {
    if (raw[key] !== undefined) throw new LocalRunError(`${p}: an API defined by ${key} is not served locally; define its routes and integrations as resources`);
  }
  const apiId = String(model.ref(logicalId, p));
  const children = (type: string) => all.filter((r) => r.model === model && model.resources.get(r.logicalId)!.Type === type
    && String(model.property(r.logicalId, 'ApiId')) === apiId);
  const integrations = new Map<string, { path: string; functionName: string; timeoutMs: number }>();
  for (const { logicalId: id } of children('AWS::ApiGatewayV2::Integration')) {
    const ip = model.path(id);
    const type = String(model.property(id, 'IntegrationType'));
    if (type !== 'AWS_PROXY') throw new LocalRunError(`${ip}: ${type} integrations are not served locally (Lambda proxy integrations, AWS_PROXY, are)`);
    const version = String(model.property(id, 'PayloadFormatVersion') ?? '1.0');
    if (version !== '2.0') throw new LocalRunError(`${ip}: payload format ${version} is not served locally (2.0 is)`);
    const uri = String(model.property(id, 'IntegrationUri') ?? '');
    const fn = functionOf(plan, uri, `the HTTP API integration ${ip}`);
    if (!fn) throw new LocalRunError(`${ip}: its IntegrationUri ${uri} is not a function of this cloud assembly that runs locally`);
    const timeout = model.property(id, 'TimeoutInMillis');
    integrations.set(String(model.ref(id, ip)), { path: ip, functionName: fn.name, timeoutMs: timeout === undefined ? 30_000 : Number(timeout) });
  }
  const routes: HttpRoutePlan[] = [];
  for (const { logicalId: id } of children('AWS::ApiGatewayV2::Route')) {
    const rp = model.path(id);
    const routeKey = String(model.property(id, 'RouteKey'));
    if (routeKey !== '$default' && !/^(ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \/\S*$/.test(routeKey)) {
      throw new LocalRunError(`${rp}: the route key ${routeKey} is not "METHOD /path" or $default`);
    }
    const target = String(model.property(id, 'Target') ?? '');
    const integration = integrations.get(target.replace(/^integrations\//, ''));
    if (!integration) throw new LocalRunError(`${rp}: its Target ${target || '(none)'} is not an integration of ${p} that runs locally`);
    routes.push({
      path: rp,
      routeKey,
      authorizationType: String(model.property(id, 'AuthorizationType') ?? 'NONE'),
      functionName: integration.functionName,
      timeoutMs: integration.timeoutMs,
    });
  }
  const stages = children('AWS::ApiGatewayV2::Stage').map(({ logicalId: id }) => ({
    name: String(model.property(id, 'StageName')),
    variables: Object.fromEntries(Object.entries((model.property(id, 'StageVariables') ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)])),
  }));
  if (stages.length === 0) plan.notes.push(`${p} has no stage: it answers nothing, as in AWS`);
  return {
    path: p,
    apiId,
    name: String(model.property(logicalId, 'Name') ?? logicalId),
    stages,
    routes,
    cors: planCors(model.property(logicalId, 'CorsConfiguration') as Record<string, unknown> | undefined),
  };
}

function planFunctionUrl(model: StackModel, logicalId: string, plan: Plan): FunctionUrlPlan {
  const p = model.path(logicalId);
  const target = String(model.property(logicalId, 'TargetFunctionArn') ?? '');
  const fn = functionOf(plan, target, `the Function URL ${p}`);
  if (!fn) throw new LocalRunError(`${p}: its TargetFunctionArn ${target} is not a function of this cloud assembly that runs locally`);
  const qualifier = model.property(logicalId, 'Qualifier');
  if (qualifier !== undefined && qualifier !== '$LATEST') throw new LocalRunError(`${p}: a Function URL of an alias or version (Qualifier ${qualifier}) is not served locally`);
  const mode = String(model.property(logicalId, 'InvokeMode') ?? 'BUFFERED');
  if (mode !== 'BUFFERED') throw new LocalRunError(`${p}: InvokeMode ${mode} is not served locally (BUFFERED is)`);
  return {
    path: p,
    urlId: functionUrlId({ stackName: model.stackName, logicalId }),
    functionName: fn.name,
    authType: String(model.property(logicalId, 'AuthType') ?? 'NONE'),
    cors: planCors(model.property(logicalId, 'Cors') as Record<string, unknown> | undefined),
  };
}

function stacksOf(model: StackModel, stacks: readonly StackArtifact[]): StackArtifact {
  let top = model;
  while (top.parent) top = top.parent.model;
  return stacks.find((s) => s.stackName === top.stackName)!;
}

/** Nested stacks: the template comes from the asset manifest (TemplateURL's object key). */
function attachNestedFactory(model: StackModel, root: StackArtifact): void {
  model.setNestedFactory((parent, logicalId) => {
    const resource = parent.resources.get(logicalId)!;
    const url = resource.Properties?.TemplateURL;
    let objectKey: string | undefined;
    try {
      objectKey = String(parent.resolve(url, `${parent.path(logicalId)} TemplateURL`)).split('/').pop();
    } catch {
      objectKey = undefined;
    }
    const asset = findAsset(root, objectKey, resource.Metadata?.['aws:asset:path']);
    if (!asset) throw new LocalRunError(`${parent.path(logicalId)}: the nested stack's template is not in the cloud assembly`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const template = JSON.parse(require('fs').readFileSync(asset.path, 'utf8'));
    const raw = (resource.Properties?.Parameters ?? {}) as Record<string, unknown>;
    const parameters: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) {
      Object.defineProperty(parameters, k, {
        enumerable: true,
        get: () => parent.resolve(v, `${parent.path(logicalId)} parameter ${k}`),
      });
    }
    const name = nestedStackName(parent.stackName, logicalId);
    const source = { template, assets: root.assets, directory: root.directory };
    const child = new StackModel(parent.run, source, name, parameters, { model: parent, logicalId });
    attachNestedFactory(child, root);
    return child;
  });
}

function nestedStackName(parent: string, logicalId: string): string {
  const suffix = nameSuffix(parent, logicalId);
  return `${parent}-${logicalId}-${suffix}`.slice(0, 128);
}

function planStream(model: StackModel, logicalId: string): StreamPlan {
  const props = model.properties(logicalId);
  const mode = (props.StreamModeDetails as { StreamMode?: string } | undefined)?.StreamMode;
  const onDemand = mode === 'ON_DEMAND' || (mode === undefined && props.ShardCount === undefined);
  const shardCount = onDemand ? ON_DEMAND_SHARDS : Number(props.ShardCount ?? 1);
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 200) {
    throw new LocalRunError(`${model.path(logicalId)}: ShardCount ${props.ShardCount} is not between 1 and 200`);
  }
  const name = model.physicalName(logicalId);
  return { path: model.path(logicalId), name, arn: String(model.getAtt(logicalId, 'Arn', model.path(logicalId))), shardCount, onDemand };
}

function planTable(model: StackModel, logicalId: string): TablePlan {
  const props = model.properties(logicalId);
  const name = model.physicalName(logicalId);
  if (name.length < 3) throw new LocalRunError(`${model.path(logicalId)}: the table name ${name} is shorter than the 3 characters DynamoDB requires`);
  const onDemand = props.BillingMode === 'PAY_PER_REQUEST' || props.BillingMode === undefined && props.ProvisionedThroughput === undefined;
  const throughput = onDemand ? undefined : (props.ProvisionedThroughput ?? { ReadCapacityUnits: 5, WriteCapacityUnits: 5 });
  const indexes = (list: unknown) => (list as Array<Record<string, unknown>> | undefined)?.map((i) => ({
    IndexName: i.IndexName,
    KeySchema: i.KeySchema,
    Projection: i.Projection,
    ...(throughput ? { ProvisionedThroughput: i.ProvisionedThroughput ?? throughput } : {}),
  }));
  const gsis = indexes(props.GlobalSecondaryIndexes);
  const lsis = (props.LocalSecondaryIndexes as Array<Record<string, unknown>> | undefined)
    ?.map((i) => ({ IndexName: i.IndexName, KeySchema: i.KeySchema, Projection: i.Projection }));
  const input = {
    TableName: name,
    AttributeDefinitions: props.AttributeDefinitions,
    KeySchema: props.KeySchema,
    ...(onDemand ? { BillingMode: 'PAY_PER_REQUEST' } : { ProvisionedThroughput: throughput }),
    ...(gsis?.length ? { GlobalSecondaryIndexes: gsis } : {}),
    ...(lsis?.length ? { LocalSecondaryIndexes: lsis } : {}),
  } as CreateTableCommandInput;
  return { path: model.path(logicalId), name, input };
}

function planQueue(model: StackModel, logicalId: string): QueuePlan {
  const props = model.properties(logicalId);
  if (props.FifoQueue === true || props.FifoQueue === 'true') {
    throw new LocalRunError(`${model.path(logicalId)}: FIFO queues (FifoQueue) are not emulated locally`);
  }
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  const redrive = props.RedrivePolicy as { deadLetterTargetArn?: string; maxReceiveCount?: number | string } | undefined;
  return {
    path: model.path(logicalId),
    name: model.physicalName(logicalId),
    settings: {
      visibilityTimeoutSeconds: num(props.VisibilityTimeout),
      messageRetentionSeconds: num(props.MessageRetentionPeriod),
      delaySeconds: num(props.DelaySeconds),
      receiveWaitTimeSeconds: num(props.ReceiveMessageWaitTimeSeconds),
      maximumMessageSize: num(props.MaximumMessageSize),
      redrive: redrive?.deadLetterTargetArn
        ? { deadLetterTargetArn: redrive.deadLetterTargetArn, maxReceiveCount: Number(redrive.maxReceiveCount) }
        : undefined,
    },
  };
}

/**
 * A function as the run starts it, or, for a runtime it cannot run (not
 * Node.js, or a container image), as it lists it: which function, which
 * runtime. Whether that is an error depends on whether anything invokes it.
 */
function planFunction(model: StackModel, logicalId: string, root: StackArtifact, checkOnly: boolean): FunctionPlan | UnrunnableFunctionPlan {
  const p = model.path(logicalId);
  const resource = model.resources.get(logicalId)!;
  const image = resource.Properties?.PackageType === 'Image';
  const runtime = image ? 'container image' : String(model.property(logicalId, 'Runtime') ?? '') || '(no runtime)';
  if (image || !runtime.startsWith('nodejs')) {
    const cdkPath = resource.Metadata?.['aws:cdk:path'];
    return {
      path: p,
      constructPath: typeof cdkPath === 'string' ? cdkPath : root.constructPathOf?.(logicalId) ?? p,
      logicalId,
      name: model.physicalName(logicalId),
      arn: String(model.getAtt(logicalId, 'Arn', p)),
      runtime,
    };
  }
  for (const refused of FUNCTION_PROPERTIES_REFUSED) {
    if (resource.Properties?.[refused] !== undefined) throw new LocalRunError(`${p}: functions with ${refused} are not run locally`);
  }
  const code = (resource.Properties?.Code ?? {}) as Record<string, unknown>;
  let codeDirectory: string;
  if (checkOnly) {
    codeDirectory = '';
  } else if (code.ZipFile !== undefined) {
    codeDirectory = mkdtempSync(path.join(tmpdir(), 'inline-function-'));
    writeFileSync(path.join(codeDirectory, 'index.js'), String(model.resolve(code.ZipFile, `${p} Code.ZipFile`)));
  } else {
    const key = code.S3Key !== undefined ? String(model.resolve(code.S3Key, `${p} Code.S3Key`)) : undefined;
    const asset = findAsset(root, key, resource.Metadata?.['aws:asset:path']);
    if (!asset) throw new LocalRunError(`${p}: its code (${key ?? 'no S3Key'}) is not an asset of the cloud assembly`);
    if (!statSync(asset.path).isDirectory()) throw new LocalRunError(`${p}: its code asset ${asset.path} is a file, not a directory; only directory assets are run locally`);
    codeDirectory = asset.path;
  }
  const env = (model.property(logicalId, 'Environment') as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) environment[k] = typeof v === 'string' ? v : JSON.stringify(v);
  const name = model.physicalName(logicalId);
  const reserved = model.property(logicalId, 'ReservedConcurrentExecutions');
  return {
    path: p,
    logicalId,
    name,
    arn: String(model.getAtt(logicalId, 'Arn', p)),
    codeDirectory,
    handler: String(model.property(logicalId, 'Handler') ?? 'index.handler'),
    runtime,
    timeoutSeconds: Number(model.property(logicalId, 'Timeout') ?? 3),
    memoryMb: Number(model.property(logicalId, 'MemorySize') ?? 128),
    reservedConcurrency: reserved === undefined ? undefined : Number(reserved),
    environment,
  };
}

function planMapping(model: StackModel, logicalId: string, plan: Plan, options: PlanOptions): MappingSpec & { enabled: boolean } {
  const p = model.path(logicalId);
  const raw = model.resources.get(logicalId)!.Properties ?? {};
  for (const key of Object.keys(raw)) {
    if (!MAPPING_PROPERTIES.has(key) && !MAPPING_PROPERTIES_WITHOUT_LOCAL_EFFECT.has(key)) {
      throw new LocalRunError(`${p}: the event source mapping property ${key} is not honoured locally`);
    }
  }
  const props = model.properties(logicalId);
  const sourceArn = String(props.EventSourceArn ?? '');
  const m = /^arn:[^:]+:kinesis:[^:]*:[^:]*:stream\/([^/]+)(\/consumer\/.*)?$/.exec(sourceArn);
  if (!m) throw new LocalRunError(`${p}: EventSourceArn ${sourceArn} is not a Kinesis stream; the local run emulates Kinesis event sources only`);
  const stream = plan.streams.find((s) => s.name === m[1]);
  if (!stream) throw new LocalRunError(`${p}: EventSourceArn names the stream ${m[1]}, which this cloud assembly does not create`);
  const fnRef = String(props.FunctionName ?? '');
  const fnName = fnRef.startsWith('arn:') ? fnRef.split(':')[6] : fnRef.split(':')[0];
  const enabled = props.Enabled === undefined || props.Enabled === true || props.Enabled === 'true';
  const unrunnable = plan.unrunnable.find((f) => f.name === fnName);
  if (unrunnable && enabled) throw unrunnableError(unrunnable, `the event source mapping ${p}`);
  // A disabled mapping invokes nothing: its target may be a function the run cannot run.
  const fn = plan.functions.find((f) => f.name === fnName) ?? unrunnable;
  if (!fn) throw new LocalRunError(`${p}: FunctionName ${fnRef} is not a function of this cloud assembly that runs locally`);

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const v = props[name];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new LocalRunError(`${p}: ${name} ${JSON.stringify(v)} must be an integer from ${min} to ${max}`);
    return n;
  };
  const batchSize = int('BatchSize', 100, 1, 10_000);
  const window = int('MaximumBatchingWindowInSeconds', 0, 0, 300);
  const retries = int('MaximumRetryAttempts', -1, -1, 10_000);
  const age = int('MaximumRecordAgeInSeconds', -1, -1, 604_800);
  if (age !== -1 && age < 60) throw new LocalRunError(`${p}: MaximumRecordAgeInSeconds ${age} must be -1 or at least 60`);
  const parallelization = int('ParallelizationFactor', 1, 1, 10);
  const position = String(props.StartingPosition ?? '');
  if (!['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'].includes(position)) {
    throw new LocalRunError(`${p}: StartingPosition ${position || '(missing)'} must be TRIM_HORIZON, LATEST or AT_TIMESTAMP`);
  }
  const types = (props.FunctionResponseTypes as string[] | undefined) ?? [];
  for (const t of types) if (t !== 'ReportBatchItemFailures') throw new LocalRunError(`${p}: FunctionResponseTypes ${t} is not honoured locally`);
  const destinations = props.DestinationConfig as { OnFailure?: { Destination?: string }; OnSuccess?: unknown } | undefined;
  if (destinations?.OnSuccess !== undefined) throw new LocalRunError(`${p}: DestinationConfig.OnSuccess is not honoured locally`);
  const onFailure = destinations?.OnFailure?.Destination;
  if (onFailure !== undefined) {
    const queueName = /^arn:[^:]+:sqs:[^:]*:[^:]*:(.+)$/.exec(onFailure)?.[1];
    if (!queueName || !plan.queues.some((q) => q.name === queueName)) {
      throw new LocalRunError(`${p}: DestinationConfig.OnFailure ${onFailure} is not an SQS queue of this cloud assembly; only SQS on-failure destinations are honoured locally`);
    }
  }
  const timestamp = props.StartingPositionTimestamp === undefined ? undefined : Number(props.StartingPositionTimestamp) * 1000;
  return {
    path: p,
    uuid: String(model.ref(logicalId, p)),
    functionName: fn.name,
    functionArn: fn.arn,
    streamName: stream.name,
    streamArn: stream.arn,
    region: options.region,
    invokeIdentityArn: `arn:aws:iam::${options.account}:role/${fn.name}-role`,
    batchSize,
    batchingWindowMs: window * 1000,
    startingPosition: position as StartingPosition,
    startingTimestamp: timestamp,
    reportBatchItemFailures: types.includes('ReportBatchItemFailures'),
    maximumRetryAttempts: retries,
    maximumRecordAgeSeconds: age,
    bisectOnError: props.BisectBatchOnFunctionError === true || props.BisectBatchOnFunctionError === 'true',
    parallelizationFactor: parallelization,
    onFailureArn: onFailure,
    enabled,
  };
}
