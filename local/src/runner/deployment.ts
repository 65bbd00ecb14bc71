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
import { nameSuffix } from './names';
import { isCustomResource, isDeployTimeOnly, RUN_TYPES } from './resource-types';
import { QueueSettings } from './sqs-server';
import { RunContext, StackModel } from './stack-model';

/** Shards an ON_DEMAND stream gets locally: the number Kinesis starts an on-demand stream with. */
export const ON_DEMAND_SHARDS = 4;

export interface PlannedResource {
  readonly path: string;
  readonly type: string;
  readonly physicalId?: string;
  readonly action: 'run' | 'not run locally' | 'provider function, not run locally' | 'condition false' | 'disabled';
  /** Properties the local run does not emulate. */
  readonly notEmulated?: readonly string[];
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

export interface OutputPlan {
  readonly stack: string;
  readonly key: string;
  readonly value?: string;
  readonly error?: string;
}

export interface Plan {
  readonly resources: PlannedResource[];
  readonly streams: StreamPlan[];
  readonly tables: TablePlan[];
  readonly buckets: BucketPlan[];
  readonly queues: QueuePlan[];
  readonly functions: FunctionPlan[];
  readonly mappings: Array<MappingSpec & { readonly enabled: boolean }>;
  readonly outputs: OutputPlan[];
  readonly notes: string[];
}

export interface PlanOptions {
  readonly region: string;
  readonly account: string;
  /** Types to run without (listed as not run locally) instead of stopping. */
  readonly ignoreTypes?: readonly string[];
  /** Values of template parameters, for every stack that declares them. */
  readonly parameters?: Readonly<Record<string, string>>;
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
    exports,
    ignoredTypes,
    note: (m) => {
      if (!noted.has(m)) {
        noted.add(m);
        notes.push(m);
      }
    },
  };
  const plan: Plan = { resources: [], streams: [], tables: [], buckets: [], queues: [], functions: [], mappings: [], outputs: [], notes };

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
    if (RUN_TYPES[type] || type === 'AWS::CloudFormation::Stack' || isDeployTimeOnly(type) || ignoredTypes.has(type)) continue;
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
    if (!RUN_TYPES[type]) {
      plan.resources.push({ path: p, type, action: 'not run locally' });
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
      case 'AWS::Lambda::Function': plan.functions.push(planFunction(model, logicalId, stacksOf(model, stacks))); break;
      case 'AWS::Lambda::EventSourceMapping': break; // below, once every function and stream is known
      case 'AWS::Kinesis::StreamConsumer': break; // a mapping on it reads its stream
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

  for (const model of models) {
    for (const key of Object.keys(model.source.template.Outputs ?? {})) {
      const out = model.source.template.Outputs![key];
      if (out.Condition && !model.condition(out.Condition)) continue;
      try {
        const value = model.output(key, `output ${key}`);
        plan.outputs.push({ stack: model.stackName, key, value: typeof value === 'string' ? value : JSON.stringify(value) });
      } catch (err) {
        plan.outputs.push({ stack: model.stackName, key, error: (err as Error).message });
      }
    }
  }
  return plan;
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

function planFunction(model: StackModel, logicalId: string, root: StackArtifact): FunctionPlan {
  const p = model.path(logicalId);
  const resource = model.resources.get(logicalId)!;
  for (const refused of FUNCTION_PROPERTIES_REFUSED) {
    if (resource.Properties?.[refused] !== undefined) throw new LocalRunError(`${p}: functions with ${refused} are not run locally`);
  }
  if (resource.Properties?.PackageType === 'Image') throw new LocalRunError(`${p}: container image functions are not run locally (no Docker)`);
  const runtime = String(model.property(logicalId, 'Runtime') ?? '');
  if (!runtime.startsWith('nodejs')) throw new LocalRunError(`${p}: runtime ${runtime || '(none)'} is not run locally; the local run runs Node.js functions`);
  const code = (resource.Properties?.Code ?? {}) as Record<string, unknown>;
  let codeDirectory: string;
  if (code.ZipFile !== undefined) {
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
  const fn = plan.functions.find((f) => f.name === fnName);
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
  const enabled = props.Enabled === undefined || props.Enabled === true || props.Enabled === 'true';
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
