/**
 * The contract between the constructs and the handlers they run: the handler
 * names, the Lambda runtime, and every setting that crosses from a construct
 * to its handler as an environment variable, with the variable's name, its
 * default and how its text is read and written.
 *
 * Dependency-free on purpose: the constructs import it, esbuild bundles it
 * into each handler, and .projenrc.ts takes the handler names and the runtime
 * from it. A setting is written here once; neither side restates a name or a
 * default.
 */

/** The bundled handlers: `src/handlers/<name>.lambda.ts`, shipped as `assets/handlers/<name>.lambda/index.js`. */
export const HANDLER_NAMES = ['processor', 'archiver', 'query', 'replay'] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

/**
 * The Lambda runtime every bundled handler runs on: the newest Node.js that
 * Lambda supports and our aws-cdk-lib floor knows. Pinned rather than
 * "latest" so that templates do not change when aws-cdk-lib is upgraded; a
 * release of this library moves it.
 */
export const HANDLER_RUNTIME = 'nodejs24.x';

/** The esbuild target of a Lambda Node.js runtime: `nodejs24.x` is `node24`. */
export function esbuildTarget(runtime: string = HANDLER_RUNTIME): string {
  const match = /^nodejs(\d+)\.x$/.exec(runtime);
  if (!match) throw new Error(`not a Lambda Node.js runtime: ${runtime}`);
  return `node${match[1]}`;
}

/** How the processor publishes its metric (the values of the public `MetricsMode` enum). */
export const METRICS_MODES = ['EMF', 'PUT_METRIC_DATA', 'NONE'] as const;
export type MetricsModeName = (typeof METRICS_MODES)[number];

/** Powertools log levels (the values of the public `HandlerLogLevel` enum). */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/**
 * Log lines of the handlers that the constructs count with CloudWatch Logs
 * metric filters: the line's `message` and the field holding the count.
 */
export const LOG_METRICS = {
  /** The processor's line per batch (INFO). */
  readingsStored: { message: 'batch processed', field: 'stored' },
  /** The processor's line per batch with invalid records (WARN). */
  deadLettered: { message: 'records sent to the dead-letter destination', field: 'count' },
  /** The archiver's line per batch (INFO). */
  archiveObjects: { message: 'batch archived', field: 'objects' },
} as const;

export type LogMetric = (typeof LOG_METRICS)[keyof typeof LOG_METRICS];

/**
 * The time the processor's writer keeps free at the end of each invocation:
 * one BatchWriteItem's 3 s request timeout, then the dead letters, the metric
 * and the answer. No write starts inside it.
 */
export const WRITER_RESERVE_MS = 4_000;

/**
 * The shortest timeout of the built-in processor's function: twice the
 * writer's reserve, so that at least half of every invocation is left for
 * writing. Under the reserve itself a processor would write nothing at all.
 */
export const MIN_PROCESSOR_TIMEOUT_MS = 2 * WRITER_RESERVE_MS;

/** Where the processor sends records that fail validation. */
export type DeadLetterTarget =
  | { readonly queueUrl: string }
  | { readonly bucket: string; readonly prefix: string };

/** One setting: an environment variable, its default, and how its text is read and written. */
export interface Setting<T> {
  readonly variable: string;
  /** The value when the variable is unset or empty; absent for a setting the handler cannot run without. */
  readonly default?: T;
  /** The value of the variable's text; throws, naming the variable, when the text is not a valid value. */
  read(text: string): T;
  /** The variable's text for a value. */
  write(value: T): string;
}

export type SettingSpec = Readonly<Record<string, Setting<any>>>;

/** The values of a spec's settings, by key. */
export type Settings<S extends SettingSpec> = { -readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

function invalid(variable: string, got: string, expected: string): Error {
  return new Error(`environment variable ${variable} must be ${expected}, got "${got}"`);
}

function text(variable: string, defaultValue?: string): Setting<string> {
  return { variable, default: defaultValue, read: (t) => t, write: (v) => v };
}

function integer(variable: string, defaultValue: number, min: number, max: number): Setting<number> {
  return {
    variable,
    default: defaultValue,
    read: (t) => {
      const n = Number(t);
      if (!/^\d+$/.test(t.trim()) || n < min || n > max) throw invalid(variable, t, `an integer from ${min} to ${max}`);
      return n;
    },
    write: (v) => String(v),
  };
}

function oneOf<T extends string>(variable: string, values: readonly T[], defaultValue: T): Setting<T> {
  return {
    variable,
    default: defaultValue,
    read: (t) => {
      if (!(values as readonly string[]).includes(t)) throw invalid(variable, t, `one of ${values.join(', ')}`);
      return t as T;
    },
    write: (v) => v,
  };
}

/** Names joined by commas (the constructs refuse names holding one). */
function list(variable: string): Setting<string[]> {
  return {
    variable,
    default: [],
    read: (t) => t.split(',').map((f) => f.trim()).filter((f) => f.length > 0),
    write: (v) => v.join(','),
  };
}

function flag(variable: string): Setting<boolean> {
  return {
    variable,
    default: false,
    read: (t) => {
      if (t !== 'true' && t !== 'false') throw invalid(variable, t, 'true or false');
      return t === 'true';
    },
    write: (v) => String(v),
  };
}

const S3_URL = /^s3:\/\/([^/]+)\/(.*)$/;

/** A queue URL, or `s3://<bucket>/<prefix>`. */
function deadLetterTarget(variable: string): Setting<DeadLetterTarget> {
  return {
    variable,
    read: (t) => {
      const s3 = S3_URL.exec(t);
      if (s3) return { bucket: s3[1], prefix: s3[2] };
      if (/^https?:\/\//.test(t)) return { queueUrl: t };
      throw invalid(variable, t, 'an SQS queue URL or s3://<bucket>/<prefix>');
    },
    write: (v) => ('queueUrl' in v ? v.queueUrl : `s3://${v.bucket}/${v.prefix}`),
  };
}

/** The ARN of a Kinesis stream, whose name is its last part. */
const STREAM_ARN = /^arn:[a-z0-9-]+:kinesis:[a-z0-9-]*:\d{12}:stream\/[a-zA-Z0-9_.-]{1,128}$/;

function streamArn(variable: string): Setting<string> {
  return {
    variable,
    read: (t) => {
      if (!STREAM_ARN.test(t)) throw invalid(variable, t, 'a Kinesis stream ARN (arn:<partition>:kinesis:<region>:<account>:stream/<name>)');
      return t;
    },
    write: (v) => v,
  };
}

/** Settings of every handler: its Powertools service name and log level. */
function common(serviceName: string) {
  return {
    serviceName: text('POWERTOOLS_SERVICE_NAME', serviceName),
    logLevel: oneOf('POWERTOOLS_LOG_LEVEL', LOG_LEVELS, 'INFO'),
  };
}

const tableName = text('TABLE_NAME');
const timestampField = text('PAYLOAD_TIMESTAMP_FIELD', 'timestamp');
const maxSensorIdLength = integer('MAX_SENSOR_ID_LENGTH', 256, 1, 2_048);

/** How a device payload maps to readings: a setting of the pipeline, read by every handler that needs part of it. */
export const PAYLOAD_SETTINGS = {
  sensorIdField: text('PAYLOAD_SENSOR_ID_FIELD', 'sensorid'),
  timestampField,
  valueField: text('PAYLOAD_VALUE_FIELD', 'value'),
  measurementFields: list('PAYLOAD_MEASUREMENT_FIELDS'),
  measurementSeparator: text('PAYLOAD_MEASUREMENT_SEPARATOR', '#'),
  maxSensorIdLength,
  /** The array field of a gateway's batch; empty for none. */
  readingsField: text('PAYLOAD_READINGS_FIELD', ''),
  /** Whether a record may be a JSON array of readings. */
  acceptArrays: flag('PAYLOAD_ACCEPT_ARRAYS'),
  /** Whether KPL-aggregated records are deaggregated. */
  aggregated: flag('PAYLOAD_AGGREGATED'),
};

export const PROCESSOR_SETTINGS = {
  ...common('sensor-processor'),
  tableName,
  deadLetterTarget: deadLetterTarget('DEAD_LETTER_DESTINATION'),
  metricsMode: oneOf('METRICS_MODE', METRICS_MODES, 'EMF'),
  metricNamespace: text('METRICS_NAMESPACE', 'Sensors'),
  metricName: text('METRIC_NAME', 'SensorData'),
  metricDimensionName: text('METRIC_DIMENSION_NAME', 'SensorId'),
  // Measured in `npm run bench`: see DEFAULT_WRITE_CONCURRENCY in the writer.
  // At most 50, the sockets the SDK keeps per host.
  writeConcurrency: integer('WRITE_CONCURRENCY', 20, 1, 50),
  ...PAYLOAD_SETTINGS,
  /** The user's JSON Schema of a reading: a file beside the code (empty for none), since it can be far larger than the environment holds. */
  payloadSchemaFile: text('PAYLOAD_SCHEMA_FILE', ''),
};

export const ARCHIVER_SETTINGS = {
  ...common('sensor-archiver'),
  archiveBucket: text('ARCHIVE_BUCKET'),
  archivePrefix: text('ARCHIVE_PREFIX', ''),
  timestampField,
};

export const QUERY_SETTINGS = {
  ...common('sensor-query'),
  tableName,
  defaultLimit: integer('QUERY_DEFAULT_LIMIT', 20, 1, 10_000),
  maxLimit: integer('QUERY_MAX_LIMIT', 1_000, 1, 10_000),
  maxSensorIdLength,
};

/**
 * The replay function of one event source mapping: what it reads (the
 * mapping's failed-batches queue, the stream), what it invokes (the mapping's
 * function) and how the mapping would have invoked it.
 */
export const REPLAY_SETTINGS = {
  ...common('sensor-replay'),
  queueUrl: text('FAILED_BATCHES_QUEUE_URL'),
  streamArn: streamArn('STREAM_ARN'),
  /** The function's name or ARN. */
  targetFunction: text('TARGET_FUNCTION'),
  /** The role Lambda names as `invokeIdentityArn` in each record of the event. */
  invokeIdentityArn: text('INVOKE_IDENTITY_ARN'),
  batchSize: integer('BATCH_SIZE', 100, 1, 10_000),
  reportBatchItemFailures: flag('REPORT_BATCH_ITEM_FAILURES'),
  /** The function's timeout; 900 (Lambda's longest) when it is not known. */
  targetTimeoutSeconds: integer('TARGET_TIMEOUT_SECONDS', 900, 1, 900),
};

/** Each handler's settings: exactly the variables its construct writes and its handler reads. */
export const HANDLER_SETTINGS = {
  processor: PROCESSOR_SETTINGS,
  archiver: ARCHIVER_SETTINGS,
  query: QUERY_SETTINGS,
  replay: REPLAY_SETTINGS,
} satisfies Record<HandlerName, SettingSpec>;

export type HandlerSettings<H extends HandlerName> = Settings<(typeof HANDLER_SETTINGS)[H]>;

/**
 * Settings for running a handler against local servers, never written by a
 * construct. Endpoints follow the SDK's own `AWS_ENDPOINT_URL_<SERVICE>`.
 */
export const LOCAL_SETTINGS = {
  /** S3-compatible local servers need path-style addressing. */
  s3ForcePathStyle: flag('S3_FORCE_PATH_STYLE'),
};

/** The default of each setting of a spec. Throws for a setting that has none. */
export function defaultOf<T>(setting: Setting<T>): T {
  if (setting.default === undefined) throw new Error(`${setting.variable} has no default`);
  return setting.default;
}

/** Reads a spec's settings from an environment: the default where a variable is unset or empty; a clear error where it is invalid or required. */
export function readSettings<S extends SettingSpec>(spec: S, env: Readonly<Record<string, string | undefined>>): Settings<S> {
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(spec)) {
    const raw = env[setting.variable];
    if (raw === undefined || raw === '') {
      if (setting.default === undefined) throw new Error(`environment variable ${setting.variable} is not set`);
      out[key] = setting.default;
    } else {
      out[key] = setting.read(raw);
    }
  }
  return out as Settings<S>;
}

/** The environment variables holding a spec's settings, every one written. */
export function writeSettings<S extends SettingSpec>(
  spec: S,
  values: Settings<S>,
  write: (setting: Setting<unknown>, value: unknown) => string = (setting, value) => setting.write(value),
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, setting] of Object.entries(spec)) env[setting.variable] = write(setting, (values as Record<string, unknown>)[key]);
  return env;
}
