/**
 * The local run for tests: runs a synthesized app's stacks on local servers,
 * puts readings on its stream, waits until every event source mapping is
 * idle, and tells where everything is.
 *
 * ```ts
 * const run = await startLocalRun({ cdkOut: 'cdk.out' });
 * await run.putReadings([{ sensorid: 's-1', timestamp: new Date().toISOString(), value: 21.5 }]);
 * await run.settled();
 * const table = run.physicalName('MyStack/Pipeline/Table');
 * await run.stop();
 * ```
 */
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { readCloudAssembly } from './runner/assembly';
import { LocalRunError } from './runner/errors';
import { LocalRun } from './runner/local-run';
import { CREDENTIALS } from './servers';

export { LocalRunError };

export interface StartLocalRunOptions {
  /** The cloud assembly directory. @default 'cdk.out' */
  readonly cdkOut?: string;
  /**
   * The stacks to run (name, artifact id or display name), with their nested
   * stacks and the stacks they depend on. Default: the assembly's only stack;
   * an assembly of several stacks needs them named (the error lists them).
   */
  readonly stacks?: readonly string[];
  /** The port of the page and the run's AWS endpoints. @default 0 (any free port) */
  readonly port?: number;
  /** Values of template parameters. */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Resource types to run without instead of stopping. */
  readonly ignoreTypes?: readonly string[];
  /** How often an idle shard is polled. @default 100 (Lambda polls once a second; tests need not wait as long) */
  readonly pollIntervalMs?: number;
  /** Where the functions' logs go, one file per function. @default a temporary directory */
  readonly logDirectory?: string;
  /** Each warning of the run; they are kept in `warnings` too. */
  readonly onWarning?: (message: string) => void;
}

/** Where the run's services listen. */
export interface LocalEndpoints {
  /** The page, and the SQS, CloudWatch, Lambda and IoT data endpoints (one gateway for all). */
  readonly gateway: string;
  readonly dynamodb: string;
  readonly kinesis: string;
  readonly s3: string;
}

export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Settings for an AWS SDK v3 client of one of the run's services. */
export interface LocalClientConfig {
  readonly region: string;
  readonly endpoint: string;
  readonly credentials: LocalCredentials;
  /** S3 only: the local S3 takes path-style addresses. */
  readonly forcePathStyle?: boolean;
  /** S3 only. */
  readonly requestChecksumCalculation?: 'WHEN_REQUIRED';
  /** S3 only. */
  readonly responseChecksumValidation?: 'WHEN_REQUIRED';
}

export interface PutReadingsOptions {
  /** The stream: its name, construct path or output name. Default: the pipeline's stream (the KinesisStream output, or the only stream). */
  readonly stream?: string;
  /** The partition key of each payload. Default: its sensor id field (the app's payload mapping), else its position. */
  readonly partitionKey?: (payload: unknown, index: number) => string;
}

/** Counts of a run so far. */
export interface LocalRunSummary {
  /** Records put by `putReadings`. */
  readonly recordsPut: number;
  /** Items in each table, by physical name. */
  readonly tableItems: Readonly<Record<string, number>>;
  /** Objects in each bucket, by physical name. */
  readonly bucketObjects: Readonly<Record<string, number>>;
  /** Messages sent to each queue, by physical name. */
  readonly queueMessages: Readonly<Record<string, number>>;
  readonly mappings: ReadonlyArray<{
    readonly path: string;
    readonly functionName: string;
    readonly recordsRead: number;
    readonly recordsDone: number;
    readonly invocations: number;
    readonly retries: number;
    readonly recordsDiscarded: number;
    readonly functionErrors: number;
  }>;
  readonly functions: ReadonlyArray<{ readonly path: string; readonly name: string; readonly invocations: number; readonly errors: number }>;
}

interface Named {
  readonly path: string;
  readonly name: string;
  /** The construct path (`aws:cdk:path`), when the template records it. */
  readonly constructPath?: string;
}

/** A running local deployment of an app's stacks. */
export class LocalTestRun {
  /** Messages the run warned of. */
  readonly warnings: string[] = [];
  private readonly put = new Map<string, number>();
  private kinesis?: KinesisClient;
  private constructPaths?: Map<string, string>;

  /** @internal */
  constructor(
    /** The run itself, for what this API does not wrap. @internal */
    readonly run: LocalRun,
    private readonly cdkOut: string,
  ) {}

  get region(): string {
    return this.run.region;
  }

  get endpoints(): LocalEndpoints {
    return this.run.endpoints;
  }

  /** The credentials every local service takes. */
  get credentials(): LocalCredentials {
    return { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: CREDENTIALS.secretAccessKey };
  }

  /** The page's address. */
  get url(): string {
    return this.run.url;
  }

  /** The stacks that run, the leading one first. */
  get stacks(): readonly string[] {
    return this.run.plan.stacks;
  }

  /** The stacks' outputs, by output name (the leading stack's win). */
  get outputs(): Readonly<Record<string, string>> {
    const lead = this.run.plan.stacks[0];
    const ordered = [...this.run.plan.outputs.filter((o) => o.stack !== lead), ...this.run.plan.outputs.filter((o) => o.stack === lead)];
    return Object.fromEntries(ordered.filter((o) => o.value !== undefined).map((o) => [o.key, o.localValue ?? o.value!]));
  }

  /** Settings for an AWS SDK v3 client of a service of the run (the Kinesis client also needs `requestHandler: new NodeHttpHandler()`: the local Kinesis speaks HTTP/1.1 only). */
  clientConfig(service: 'dynamodb' | 'kinesis' | 's3' | 'sqs' | 'cloudwatch' | 'lambda'): LocalClientConfig {
    const e = this.endpoints;
    const endpoint = service === 'dynamodb' ? e.dynamodb : service === 'kinesis' ? e.kinesis : service === 's3' ? e.s3 : e.gateway;
    const s3 = service === 's3' ? { forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const } : {};
    return { region: this.region, endpoint, credentials: this.credentials, ...s3 };
  }

  /**
   * The physical name of a stream, table, bucket, queue or function: by
   * output name, by construct path (`Stack/Pipeline/Table`, with or without
   * the stack and the trailing `/Resource`), or by its name itself. An
   * unknown or ambiguous one is an error listing what there is.
   */
  physicalName(pathOrOutput: string): string {
    const output = this.outputs[pathOrOutput];
    if (output !== undefined) return output;
    const all = this.named();
    const trimmed = pathOrOutput.replace(/^\/+|\/+$/g, '');
    const byName = all.filter((r) => r.name === trimmed);
    if (byName.length === 1) return byName[0].name;
    const matches = all.filter((r) => [r.path, r.constructPath].some((full) => {
      if (full === undefined) return false;
      const p = full.replace(/\/Resource$/, '');
      return p === trimmed || p.endsWith(`/${trimmed}`) || full === trimmed || full.endsWith(`/${trimmed}`);
    }));
    const names = [...new Set(matches.map((r) => r.name))];
    if (names.length === 1) return names[0];
    const list = all.map((r) => `${r.constructPath ?? r.path} (${r.name})`).join(', ');
    if (names.length === 0) {
      throw new LocalRunError(`no output, construct path or resource named ${pathOrOutput}: outputs ${Object.keys(this.outputs).join(', ') || 'none'}; resources ${list}`);
    }
    throw new LocalRunError(`${pathOrOutput} names ${names.length} resources (${matches.map((r) => r.path).join(', ')}): give more of the path`);
  }

  private named(): Named[] {
    if (!this.constructPaths) {
      // Each resource's construct path, as the CDK records it in the template.
      this.constructPaths = new Map();
      for (const stack of readCloudAssembly(this.cdkOut)) {
        for (const [logicalId, r] of Object.entries(stack.template.Resources ?? {})) {
          const cdkPath = r.Metadata?.['aws:cdk:path'];
          if (typeof cdkPath === 'string') this.constructPaths.set(`${stack.stackName}/${logicalId}`, cdkPath);
        }
      }
    }
    const p = this.run.plan;
    return [...p.streams, ...p.tables, ...p.buckets, ...p.queues, ...p.functions]
      .map((r) => ({ path: r.path, name: r.name, constructPath: this.constructPaths!.get(r.path) }));
  }

  /**
   * Puts payloads on a stream, one record each (objects as JSON, strings and
   * buffers as they are), with PutRecords; records the stream refuses are put
   * again.
   */
  async putReadings(payloads: ReadonlyArray<unknown>, options: PutReadingsOptions = {}): Promise<void> {
    const stream = options.stream === undefined ? this.run.pageConfig.streamName : this.physicalName(options.stream);
    if (!stream) throw new LocalRunError('the app has no stream the run could pick: name it with the stream option');
    if (!this.run.plan.streams.some((s) => s.name === stream)) {
      throw new LocalRunError(`${options.stream ?? stream} is not a stream of the run (${this.run.plan.streams.map((s) => s.name).join(', ')})`);
    }
    this.kinesis ??= new KinesisClient({
      region: this.region, credentials: this.credentials, endpoint: this.endpoints.kinesis, requestHandler: new NodeHttpHandler(),
    });
    const idField = this.run.payloadFields().sensorId;
    const key = options.partitionKey ?? ((payload: unknown, i: number) => {
      const id = payload && typeof payload === 'object' ? (payload as Record<string, unknown>)[idField] : undefined;
      return typeof id === 'string' && id.length > 0 ? id.slice(0, 256) : String(i);
    });
    let pending = payloads.map((payload, i) => ({
      Data: Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8'),
      PartitionKey: key(payload, i),
    }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === 20) throw new LocalRunError(`the stream ${stream} kept refusing ${pending.length} records`);
      const failed: typeof pending = [];
      // PutRecords takes 500 records.
      for (let i = 0; i < pending.length; i += 500) {
        const chunk = pending.slice(i, i + 500);
        const out = await this.kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: chunk }));
        (out.Records ?? []).forEach((r, k) => {
          if (r.ErrorCode) failed.push(chunk[k]);
          else this.put.set(stream, (this.put.get(stream) ?? 0) + 1);
        });
      }
      pending = failed;
    }
  }

  /**
   * Resolves when every event source mapping is idle: each has read every
   * record `putReadings` and the simulator put on its stream, and has no
   * record in flight (being processed, retried or bisected). Meanwhile each
   * mapping invokes its function without waiting out its batching window
   * (MaximumBatchingWindowInSeconds), so that an archiver's minute-long
   * window does not hold the test.
   */
  async settled(timeoutMs = 60_000): Promise<void> {
    for (const p of this.run.pollers) p.flushing = true;
    try {
      await this.untilIdle(timeoutMs);
    } finally {
      for (const p of this.run.pollers) p.flushing = false;
    }
  }

  private async untilIdle(timeoutMs: number): Promise<void> {
    const simulated = this.run.simulator && this.run.simulatorStream ? { [this.run.simulatorStream]: this.run.simulator.stats.records } : {};
    const deadline = Date.now() + timeoutMs;
    const busy = () => this.run.pollers.filter((p) => {
      const expected = (this.put.get(p.spec.streamName) ?? 0) + (simulated[p.spec.streamName] ?? 0);
      return p.pendingRecords > 0 || p.stats.recordsRead < expected;
    });
    for (;;) {
      const left = busy();
      if (left.length === 0) return;
      if (Date.now() > deadline) {
        const state = left.map((p) => `${p.spec.path} read ${p.stats.recordsRead}, ${p.pendingRecords} pending`).join('; ');
        throw new LocalRunError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for the event source mappings: ${state}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Counts of what the run did so far. */
  async summary(): Promise<LocalRunSummary> {
    const s = this.run.snapshot();
    const objects = await this.run.listBucketObjects();
    return {
      recordsPut: [...this.put.values()].reduce((a, b) => a + b, 0),
      tableItems: await this.run.countTableItems(),
      bucketObjects: Object.fromEntries(Object.entries(objects).map(([b, keys]) => [b, keys.length])),
      queueMessages: Object.fromEntries(s.queues.map((q) => [q.name, q.sent])),
      mappings: s.mappings.map((m) => ({
        path: m.path,
        functionName: m.functionName,
        recordsRead: m.stats.recordsRead,
        recordsDone: m.stats.recordsDone,
        invocations: m.stats.invocations,
        retries: m.stats.retries,
        recordsDiscarded: m.stats.recordsDiscarded,
        functionErrors: m.stats.functionErrors,
      })),
      functions: s.functions.map((f) => ({ path: f.path, name: f.name, invocations: f.stats.invocations, errors: f.stats.errors })),
    };
  }

  /** The file a function's log is written to. */
  logFile(functionPathOrName: string): string {
    return this.run.logFile(this.physicalName(functionPathOrName));
  }

  /** Stops every server and function process of the run. */
  async stop(): Promise<void> {
    this.kinesis?.destroy();
    await this.run.stop();
  }
}

/** Starts a local run of an app's cloud assembly; resolves once every function is warm and every mapping polls. */
export async function startLocalRun(options: StartLocalRunOptions = {}): Promise<LocalTestRun> {
  let test: LocalTestRun | undefined;
  const early: string[] = [];
  const cdkOut = options.cdkOut ?? 'cdk.out';
  const run = await LocalRun.start({
    cdkOut,
    stacks: options.stacks,
    port: options.port ?? 0,
    parameters: options.parameters,
    ignoreTypes: options.ignoreTypes,
    pollIntervalMs: options.pollIntervalMs ?? 100,
    logDirectory: options.logDirectory,
    onWarning: (message) => {
      (test?.warnings ?? early).push(message);
      options.onWarning?.(message);
    },
  });
  test = new LocalTestRun(run, cdkOut);
  test.warnings.push(...early);
  return test;
}
