/**
 * The test page's `config.json`: which stream, query function, dead-letter
 * queue and metric the page uses, in which region, and how it gets
 * credentials. The local run serves one pointing at its own endpoints; for a
 * deployed stack it is written from the outputs of `cdk deploy --outputs-file`.
 */
import type { Plan } from './deployment';
import { unrunnableError } from './deployment';

export interface MetricConfig {
  readonly namespace: string;
  readonly name: string;
  readonly dimension: string;
}

/**
 * How the pipeline reads a record, as far as the page's sending goes: the
 * field names of a reading, and whether one record may hold many readings
 * (a JSON array, or a gateway's batch with its readings under `readingsField`).
 */
export interface PayloadConfig {
  readonly sensorIdField: string;
  readonly timestampField: string;
  readonly valueField: string;
  readonly acceptArrays: boolean;
  /** The array field of a gateway's batch; empty when the pipeline takes none. */
  readonly readingsField: string;
}

/** A pipeline whose payload mapping is left at its defaults: one reading per record. */
export const DEFAULT_PAYLOAD: PayloadConfig = {
  sensorIdField: 'sensorid', timestampField: 'timestamp', valueField: 'value', acceptArrays: false, readingsField: '',
};

export interface PageConfig {
  readonly region: string;
  readonly streamName: string;
  readonly queryFunctionName: string;
  readonly deadLetterQueueUrl?: string;
  readonly metric: MetricConfig;
  /** How the processor reads records; absent for a deployed stack, whose outputs do not say (the page then sends one reading per record). */
  readonly payload?: PayloadConfig;
  /** Cognito identity pool whose unauthenticated identities the page takes (a deployed stack). */
  readonly identityPoolId?: string;
  /** One endpoint for every service (the local run). */
  readonly endpoint?: string;
  /** Static credentials, for the local run's endpoints only: they open nothing in AWS. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Shown in the page's header. */
  readonly label?: string;
}

export const DEFAULT_METRIC: MetricConfig = { namespace: 'Sensors', name: 'SensorData', dimension: 'SensorId' };

/** The stack output names the page's settings come from. */
export const OUTPUT_NAMES = {
  identityPoolId: 'IdentityPoolId',
  streamName: 'KinesisStream',
  queryFunctionName: 'LambdaAPIFunction',
  region: 'Region',
  deadLetterQueueUrl: 'DeadLetterQueueUrl',
} as const;

/** `cdk deploy --outputs-file` writes `{ "<stack>": { "<output>": "<value>" } }`. */
export type DeployOutputs = Record<string, Record<string, string>>;

/**
 * The page's config from a deployed stack's outputs. Picks the stack that has
 * a KinesisStream output (or the one named); the page needs an identity pool,
 * never a long-lived key.
 */
export function pageConfigFromOutputs(outputs: DeployOutputs, options: { stack?: string; metric?: Partial<MetricConfig> } = {}): PageConfig {
  const stacks = Object.entries(outputs);
  const candidates = options.stack ? stacks.filter(([name]) => name === options.stack) : stacks.filter(([, o]) => OUTPUT_NAMES.streamName in o);
  if (candidates.length === 0) {
    throw new Error(options.stack
      ? `the outputs file has no stack named ${options.stack}`
      : `no stack in the outputs file has a ${OUTPUT_NAMES.streamName} output`);
  }
  if (candidates.length > 1) throw new Error(`several stacks have a ${OUTPUT_NAMES.streamName} output (${candidates.map(([n]) => n).join(', ')}): name one`);
  const [stackName, o] = candidates[0];
  const need = (key: keyof typeof OUTPUT_NAMES) => {
    const value = o[OUTPUT_NAMES[key]];
    if (!value) throw new Error(`stack ${stackName} has no ${OUTPUT_NAMES[key]} output, which the page needs`);
    return value;
  };
  return {
    region: need('region'),
    streamName: need('streamName'),
    queryFunctionName: need('queryFunctionName'),
    identityPoolId: need('identityPoolId'),
    ...(o[OUTPUT_NAMES.deadLetterQueueUrl] ? { deadLetterQueueUrl: o[OUTPUT_NAMES.deadLetterQueueUrl] } : {}),
    metric: { ...DEFAULT_METRIC, ...options.metric },
    label: `${stackName} in ${need('region')}`,
  };
}

/** What the page uses in a planned app: its stream, its query function, its dead-letter queue. */
export interface PageTargets {
  readonly streamName?: string;
  readonly queryFunctionName?: string;
  readonly deadLetterQueueUrl?: string;
}

/**
 * The page's stream, query function and dead-letter queue in a planned app:
 * from the leading stack's outputs (then the other stacks'), else found
 * among its resources (the one stream; the query function and the
 * dead-letter queue as `guessPageResources` finds them). A query function
 * the run cannot run (another runtime than Node.js) is an error naming it.
 */
export function pageTargets(plan: Plan, queueUrl: (queueName: string) => string, queryFunction?: string): PageTargets {
  const lead = plan.stacks[0];
  // The leading stack's outputs come last, so that they win.
  const ordered = [...plan.outputs.filter((o) => o.stack !== lead), ...plan.outputs.filter((o) => o.stack === lead)];
  const outputs = new Map(ordered.filter((o) => o.value !== undefined).map((o) => [o.key, o.value!]));
  const guess = guessPageResources(
    plan.functions,
    new Set(plan.mappings.map((m) => m.functionName)),
    new Set(plan.tables.map((t) => t.name)),
    plan.queues.map((q) => queueUrl(q.name)),
  );
  const queryFunctionName = queryFunction ?? outputs.get(OUTPUT_NAMES.queryFunctionName) ?? guess.queryFunctionName;
  const unrunnable = plan.unrunnable.find((f) => f.name === queryFunctionName || f.arn === queryFunctionName);
  if (unrunnable) throw unrunnableError(unrunnable, 'the page (its query function)');
  return {
    streamName: outputs.get(OUTPUT_NAMES.streamName) ?? (plan.streams.length === 1 ? plan.streams[0].name : undefined),
    queryFunctionName,
    deadLetterQueueUrl: outputs.get(OUTPUT_NAMES.deadLetterQueueUrl) ?? guess.deadLetterQueueUrl,
  };
}

/**
 * The payload mapping of the processor reading the page's stream, from the
 * environment the pipeline's constructs give its function (the variables
 * `PAYLOAD_*`); the defaults when no function of the stream's mappings has
 * them. Measurement fields are not sent by the page: it sends `valueField`.
 */
export function payloadConfig(plan: Plan, streamName: string | undefined): PayloadConfig {
  const targets = plan.mappings.filter((m) => m.enabled && m.streamName === streamName)
    .map((m) => plan.functions.find((f) => f.name === m.functionName));
  const env = targets.find((f) => f?.environment.PAYLOAD_ACCEPT_ARRAYS !== undefined)?.environment;
  if (!env) return DEFAULT_PAYLOAD;
  return {
    sensorIdField: env.PAYLOAD_SENSOR_ID_FIELD || DEFAULT_PAYLOAD.sensorIdField,
    timestampField: env.PAYLOAD_TIMESTAMP_FIELD || DEFAULT_PAYLOAD.timestampField,
    valueField: env.PAYLOAD_VALUE_FIELD || DEFAULT_PAYLOAD.valueField,
    acceptArrays: env.PAYLOAD_ACCEPT_ARRAYS === 'true',
    readingsField: env.PAYLOAD_READINGS_FIELD ?? '',
  };
}

/** A function as the run plans it: its name and its resolved environment. */
export interface PlannedFunction {
  readonly name: string;
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * The page's query function and dead-letter queue for an app whose outputs do
 * not name them: the one function outside the event source mappings that is
 * told a table's name (the query function, not a replay function or another
 * helper), and the one queue a stream consumer is told about (the dead-letter
 * queue, not the failed-batches queues that replay functions are told about).
 */
export function guessPageResources(
  functions: readonly PlannedFunction[],
  consumers: ReadonlySet<string>,
  tableNames: ReadonlySet<string>,
  queueUrls: readonly string[],
): { queryFunctionName?: string; deadLetterQueueUrl?: string } {
  const direct = functions.filter((f) => !consumers.has(f.name));
  const readers = direct.filter((f) => Object.values(f.environment).some((v) => tableNames.has(v)));
  const query = direct.length === 1 ? direct[0] : readers.length === 1 ? readers[0] : undefined;
  const told = queueUrls.filter((url) => functions.some((f) => consumers.has(f.name) && Object.values(f.environment).includes(url)));
  return { queryFunctionName: query?.name, deadLetterQueueUrl: told.length === 1 ? told[0] : undefined };
}
