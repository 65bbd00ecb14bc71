/**
 * The local run: reads a cloud assembly, starts local servers (dynalite,
 * kinesalite, s3rver, and its own SQS and CloudWatch endpoints) on 127.0.0.1,
 * creates the streams, tables, buckets and queues the templates declare, runs
 * each function from its asset in processes of its own, polls the stream for
 * each event source mapping, runs the IoT topic rules behind a Publish
 * endpoint, serves HTTP APIs and Function URLs, and serves the test page with
 * its config.
 */
import { randomUUID } from 'crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, WriteStream, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DEFAULT_PAYLOAD_FIELDS, PayloadFields } from '../device-records';
import { FaultKind, FaultProxy } from '../fault-proxy';
import { ACCOUNT, CREDENTIALS, LocalServer, REGION, S3Server, startDynalite, startKinesalite, startS3rver } from '../servers';
import { readCloudAssembly, selectStacks } from './assembly';
import { CloudWatchServer, MetricsSnapshot } from './cloudwatch-server';
import { planDeployment, Plan, unrunnableError } from './deployment';
import { LocalRunError } from './errors';
import { CheckpointStore, EventSourceMappingPoller, MappingStats } from './event-source-mapping';
import { Gateway } from './gateway';
import { HttpEndpoints } from './http-endpoints';
import { ErrorActionMessage, IotRules, RuleStats } from './iot-rules';
import { topicFilterProblem } from './iot-sql';
import { bootstrapFile, CpuLimiter, FunctionPool, FunctionStats } from './lambda-runtime';
import { DEFAULT_METRIC, MetricConfig, PageConfig, pageTargets, payloadConfig } from './page-config';
import { DeviceSimulator, PutReading, ReadingSink, SimulatorOptions, SimulatorStats, streamSink, topicSink } from './simulator';
import { SqsServer, SqsSnapshot } from './sqs-server';
import { keyString, tableWriteObserver } from './table-writes';

export interface LocalRunOptions {
  /** The cloud assembly directory (`cdk.out`). */
  readonly cdkOut: string;
  /**
   * The stacks to run (name, artifact id or display name), with their nested
   * stacks and the stacks they depend on; the first leads (the page and the
   * simulator use its outputs). Default: `defaultStack`, or the assembly's
   * only stack; several stacks and no choice is an error listing them.
   */
  readonly stacks?: readonly string[];
  /** The stack to run when `stacks` names none. */
  readonly defaultStack?: string;
  /** The page and the AWS endpoints it uses; 0 picks a free port. Default 3000. */
  readonly port?: number;
  readonly dynamodbPort?: number;
  readonly kinesisPort?: number;
  readonly s3Port?: number;
  /** Keeps tables, streams, objects, queues, metrics and checkpoints here between runs; in memory when absent. */
  readonly dataDir?: string;
  readonly region?: string;
  /** How often an idle shard is polled; Lambda polls once a second. */
  readonly pollIntervalMs?: number;
  /** Execution environments per function at most, unless the template reserves concurrency. Default 4. */
  readonly maxConcurrency?: number;
  /** Hold each function process to its memory's CPU share (cgroup v1 cpu controller). */
  readonly cpuLimit?: boolean;
  /**
   * Faults in front of DynamoDB for the functions: a share of one operation's
   * calls (BatchWriteItem unless `operation` names another, e.g. UpdateItem
   * for a packed table) throttled, half-written or failed.
   */
  readonly faults?: { readonly rate: number; readonly kinds?: readonly FaultKind[]; readonly seed?: number; readonly operation?: string };
  /** Resource types to run without instead of stopping. */
  readonly ignoreTypes?: readonly string[];
  readonly parameters?: Readonly<Record<string, string>>;
  /** The query function for the page, when the outputs and the template leave a choice. */
  readonly queryFunction?: string;
  readonly metric?: Partial<MetricConfig>;
  /** Where the page is (index.html and its built dist/). */
  readonly pageDirectory?: string;
  /** Where function logs go, one file per function. */
  readonly logDirectory?: string;
  /** Messages the user should see while the run goes on. */
  readonly onWarning?: (message: string) => void;
}

export interface RunSnapshot {
  readonly elapsedMs: number;
  readonly simulator?: SimulatorStats;
  /** Items acknowledged by the table, retries included, per table. */
  readonly tableWrites: Readonly<Record<string, number>>;
  /** PutObject calls per bucket. */
  readonly objectsPut: Readonly<Record<string, number>>;
  readonly queues: ReadonlyArray<{
    readonly name: string; readonly path: string; readonly visible: number; readonly inFlight: number; readonly sent: number;
  }>;
  readonly mappings: ReadonlyArray<{ readonly path: string; readonly functionName: string; readonly stats: MappingStats; readonly pending: number }>;
  readonly functions: ReadonlyArray<{ readonly name: string; readonly path: string; readonly stats: FunctionStats }>;
  readonly metrics: { readonly putMetricData: number; readonly emfLines: number };
  readonly topicRules: ReadonlyArray<{ readonly name: string; readonly path: string; readonly stats: RuleStats }>;
}

/** How the simulator's devices send their readings. */
export interface SimulatorIngress {
  /** `stream`: PutRecords on the stream (default); `iot`: publish to AWS IoT Core, through the stack's topic rule. */
  readonly ingress?: 'stream' | 'iot';
  /** For `iot`: the topic, `{sensor}` standing for the sensor id. Default: the topic rule's filter, each `+` (or `#`) the sensor id. */
  readonly topic?: string;
}

interface PersistedState {
  readonly sqs?: SqsSnapshot;
  readonly metrics?: MetricsSnapshot;
  readonly checkpoints?: Record<string, string>;
}

export class LocalRun {
  static async start(options: LocalRunOptions): Promise<LocalRun> {
    const selected = selectStacks(readCloudAssembly(options.cdkOut), options.stacks ?? [], options.defaultStack);
    // What the run cannot do (a resource type, a function's runtime) stops it before any server starts.
    const check = planDeployment(selected.stacks, {
      region: options.region ?? REGION,
      account: ACCOUNT,
      queueUrl: (name) => `http://127.0.0.1/${ACCOUNT}/${name}`,
      leadStack: selected.lead.stackName,
      ignoreTypes: options.ignoreTypes,
      parameters: options.parameters,
      checkOnly: true,
    });
    pageTargets(check, (name) => name, options.queryFunction);
    const run = new LocalRun(options);
    try {
      await run.startAll(selected.stacks, selected.lead.stackName);
    } catch (err) {
      await run.stop().catch(() => undefined);
      throw err;
    }
    return run;
  }

  readonly region: string;
  plan!: Plan;
  pageConfig!: PageConfig;
  readonly sqs: SqsServer;
  readonly cloudwatch = new CloudWatchServer();
  readonly pools = new Map<string, FunctionPool>();
  readonly pollers: EventSourceMappingPoller[] = [];
  readonly cpu: CpuLimiter;
  readonly logDirectory: string;
  simulator?: DeviceSimulator;
  /** The stream the simulator's readings reach. */
  simulatorStream?: string;
  faultProxy?: FaultProxy;
  iot?: IotRules;
  http?: HttpEndpoints;
  /** Messages the topic rules' CloudWatch Logs error actions received (the newest 10,000). */
  readonly errorActionMessages: Array<{ readonly logGroupName: string; readonly message: ErrorActionMessage }> = [];
  private gateway?: Gateway;
  private dynamo?: LocalServer;
  private kinesis?: LocalServer;
  private s3?: S3Server;
  private kinesisClient?: KinesisClient;
  private dynamoClient?: DynamoDBClient;
  private s3Client?: S3Client;
  private readonly tableWrites: Record<string, number> = {};
  private readonly objectsPut: Record<string, number> = {};
  private readonly checkpoints = new Map<string, string>();
  private readonly logs = new Map<string, WriteStream>();
  private readonly awaitingWrite = new Map<string, number>();
  private readonly latencies: number[] = [];
  private lastWriteAt = 0;
  private firstPutAt = 0;
  private readonly started = Date.now();
  private saveTimer?: NodeJS.Timeout;
  private stopping?: Promise<void>;
  private readonly scratch: string;

  private constructor(private readonly options: LocalRunOptions) {
    this.region = options.region ?? REGION;
    this.sqs = new SqsServer(this.region, ACCOUNT, () => this.endpoint);
    this.cpu = new CpuLimiter(options.cpuLimit ?? false);
    this.scratch = mkdtempSync(path.join(tmpdir(), 'cdk-iot-ingest-run-'));
    this.logDirectory = options.logDirectory ?? (options.dataDir ? path.join(options.dataDir, 'logs') : path.join(this.scratch, 'logs'));
  }

  /** The page and the AWS endpoints of the run. */
  get endpoint(): string {
    if (!this.gateway) throw new Error('the run has not started');
    return this.gateway.endpoint;
  }

  get url(): string {
    return `${this.endpoint}/`;
  }

  get endpoints(): { gateway: string; dynamodb: string; kinesis: string; s3: string } {
    return { gateway: this.endpoint, dynamodb: this.dynamo!.endpoint, kinesis: this.kinesis!.endpoint, s3: this.s3!.endpoint };
  }

  private warn(message: string): void {
    (this.options.onWarning ?? ((m: string) => process.emitWarning(m)))(message);
  }

  private async startAll(stacks: ReturnType<typeof readCloudAssembly>, leadStack: string): Promise<void> {
    const dataDir = this.options.dataDir ? path.resolve(this.options.dataDir) : undefined;
    const state = dataDir ? this.loadState(dataDir) : {};
    if (state.sqs) this.sqs.restore(state.sqs);
    if (state.metrics) this.cloudwatch.restore(state.metrics);
    for (const [k, v] of Object.entries(state.checkpoints ?? {})) this.checkpoints.set(k, v);

    this.gateway = await listenOrExplain('the page', this.options.port ?? 3000, '--port', (port) => Gateway.start({
      port,
      pageDirectory: this.options.pageDirectory ?? path.resolve(__dirname, '..', '..', 'page'),
      config: () => this.pageConfig,
      services: [this.sqs, this.cloudwatch],
      iot: () => this.iot,
      http: () => this.http,
      passThrough: {
        Kinesis_20131202: () => this.kinesis!.endpoint,
        DynamoDB_20120810: () => this.dynamo!.endpoint,
      },
      lambda: {
        find: (nameOrArn) => {
          const name = nameOrArn.startsWith('arn:') ? nameOrArn.split(':')[6] : nameOrArn.includes(':function:') ? nameOrArn.split(':')[2] : nameOrArn.split(':')[0];
          const pool = this.pools.get(name);
          if (pool) return { name, arn: pool.spec.arn, invoke: (payload: string) => pool.invoke(payload) };
          // A function of the app on a runtime the run cannot run: a function error that says so, not "not found".
          const unrunnable = this.plan?.unrunnable.find((f) => f.name === name);
          if (!unrunnable) return undefined;
          return {
            name,
            arn: unrunnable.arn,
            invoke: async () => {
              const error = { errorType: 'Runtime.NotRunLocally', errorMessage: unrunnableError(unrunnable, 'a Lambda Invoke request').message };
              return { requestId: randomUUID(), payload: JSON.stringify(error), functionError: 'Unhandled' as const, error, logs: [], durationMs: 0 };
            },
          };
        },
        list: () => [...this.pools.values()].map((p) => ({
          FunctionName: p.spec.name,
          FunctionArn: p.spec.arn,
          Runtime: p.spec.runtime,
          Handler: p.spec.handler,
          MemorySize: p.spec.memoryMb,
          Timeout: p.spec.timeoutSeconds,
        })),
      },
    }));

    this.plan = planDeployment(stacks, {
      region: this.region,
      account: ACCOUNT,
      queueUrl: (name) => this.sqs.queueUrl(name),
      gatewayEndpoint: this.endpoint,
      leadStack,
      ignoreTypes: this.options.ignoreTypes,
      parameters: this.options.parameters,
    });

    const sub = (name: string) => (dataDir ? path.join(dataDir, name) : undefined);
    for (const d of ['dynamodb', 'kinesis', 's3']) if (dataDir) mkdirSync(path.join(dataDir, d), { recursive: true });
    this.dynamo = await listenOrExplain('DynamoDB', this.options.dynamodbPort ?? 0, '--dynamodb-port', (port) =>
      startDynalite(tableWriteObserver((table, items, at) => this.onTableWrite(table, items, at)), { port, directory: sub('dynamodb') }));
    this.kinesis = await listenOrExplain('Kinesis', this.options.kinesisPort ?? 0, '--kinesis-port', (port) =>
      startKinesalite(undefined, { port, directory: sub('kinesis'), shardLimit: 500 }));
    this.s3 = await listenOrExplain('S3', this.options.s3Port ?? 0, '--s3-port', (port) => startS3rver((req) => {
      if (req.method !== 'PUT') return;
      const [bucket, ...key] = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).slice(1).split('/');
      // PUT /bucket/ creates the bucket: only a key makes an object.
      if (bucket && key.join('/')) this.objectsPut[bucket] = (this.objectsPut[bucket] ?? 0) + 1;
    }, { port, directory: sub('s3') }));
    if (this.options.faults) {
      this.faultProxy = await FaultProxy.start({
        target: this.dynamo.endpoint,
        faultTarget: `DynamoDB_20120810.${this.options.faults.operation ?? 'BatchWriteItem'}`,
        faultRate: this.options.faults.rate,
        kinds: this.options.faults.kinds ?? ['throttle', 'unprocessed', 'error500'],
        seed: this.options.faults.seed ?? 1,
      });
    }

    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    // kinesalite speaks HTTP/1.1 only.
    this.kinesisClient = new KinesisClient({
      region: this.region, credentials: CREDENTIALS, endpoint: this.kinesis.endpoint, requestHandler: new NodeHttpHandler(),
    });
    this.dynamoClient = new DynamoDBClient({ region: this.region, credentials: CREDENTIALS, endpoint: this.dynamo.endpoint });
    this.s3Client = new S3Client({
      region: this.region,
      credentials: CREDENTIALS,
      endpoint: this.s3.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });

    await this.createResources();
    this.startFunctions();
    this.iot = new IotRules(this.plan.topicRules, {
      kinesis: this.kinesisClient,
      logError: (logGroupName, message) => this.onErrorAction(logGroupName, message),
      warn: (m) => this.warn(m),
    });
    this.http = new HttpEndpoints(this.plan.httpApis, this.plan.functionUrls, {
      region: this.region,
      account: ACCOUNT,
      invoke: (name, payload) => this.pools.get(name)!.invoke(payload),
      warn: (m) => this.warn(m),
    });
    this.pageConfig = this.makePageConfig();
    await this.startMappings();
    if (dataDir) this.saveTimer = setInterval(() => this.saveState(dataDir), 5_000);
  }

  private async createResources(): Promise<void> {
    for (const s of this.plan.streams) {
      try {
        await this.kinesisClient!.send(new CreateStreamCommand({ StreamName: s.name, ShardCount: s.shardCount }));
      } catch (err) {
        if ((err as Error).name !== 'ResourceInUseException') throw err;
      }
      await until(async () => (await this.kinesisClient!.send(new DescribeStreamSummaryCommand({ StreamName: s.name }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
        `stream ${s.name} to become active`);
    }
    for (const t of this.plan.tables) {
      try {
        await this.dynamoClient!.send(new CreateTableCommand(t.input));
      } catch (err) {
        if ((err as Error).name !== 'ResourceInUseException') throw new LocalRunError(`${t.path}: the local DynamoDB refused the table: ${(err as Error).message}`);
      }
      await until(async () => (await this.dynamoClient!.send(new DescribeTableCommand({ TableName: t.name }))).Table?.TableStatus === 'ACTIVE',
        `table ${t.name} to become active`);
    }
    for (const b of this.plan.buckets) {
      try {
        await this.s3Client!.send(new CreateBucketCommand({ Bucket: b.name }));
      } catch (err) {
        if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((err as Error).name)) throw err;
      }
    }
    for (const q of this.plan.queues) this.sqs.createQueue(q.name, q.settings);
  }

  private startFunctions(): void {
    const bootstrap = bootstrapFile();
    mkdirSync(this.logDirectory, { recursive: true });
    for (const f of this.plan.functions) {
      const environment: Record<string, string> = {
        ...f.environment,
        AWS_REGION: this.region,
        AWS_DEFAULT_REGION: this.region,
        AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        // Lambda's Node.js runtimes provide the AWS SDK v3 (NodejsFunction leaves
        // it out of the bundle): the runner's own copy stands for it.
        NODE_PATH: sdkNodePath(),
        AWS_ENDPOINT_URL_DYNAMODB: this.faultProxy?.endpoint ?? this.dynamo!.endpoint,
        AWS_ENDPOINT_URL_KINESIS: this.kinesis!.endpoint,
        AWS_ENDPOINT_URL_S3: this.s3!.endpoint,
        AWS_ENDPOINT_URL_SQS: this.endpoint,
        AWS_ENDPOINT_URL_CLOUDWATCH: this.endpoint,
        AWS_ENDPOINT_URL_LAMBDA: this.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      };
      const spec = {
        name: f.name,
        arn: f.arn,
        path: f.path,
        codeDirectory: f.codeDirectory,
        handler: f.handler,
        runtime: f.runtime,
        timeoutSeconds: f.timeoutSeconds,
        memoryMb: f.memoryMb,
        environment,
        maxConcurrency: Math.max(1, f.reservedConcurrency ?? this.options.maxConcurrency ?? 4),
      };
      this.pools.set(f.name, new FunctionPool(spec, bootstrap, {
        log: (name, line) => this.log(name, line),
        emf: (line) => this.cloudwatch.ingestEmf(line),
      }, this.cpu));
    }
  }

  private async startMappings(): Promise<void> {
    const store: CheckpointStore = {
      get: (uuid, shard) => this.checkpoints.get(`${uuid}/${shard}`),
      set: (uuid, shard, seq) => this.checkpoints.set(`${uuid}/${shard}`, seq),
    };
    const targets = new Set<string>();
    for (const m of this.plan.mappings) {
      if (!m.enabled) continue;
      const pool = this.pools.get(m.functionName)!;
      targets.add(m.functionName);
      this.pollers.push(new EventSourceMappingPoller(m, {
        kinesis: this.kinesisClient!,
        invoke: (payload) => pool.invoke(payload),
        sendToDestination: async (arn, message) => this.sqs.sendInternal(arn, message),
        checkpoints: store,
        pollIntervalMs: this.options.pollIntervalMs ?? 1_000,
        warn: (message) => this.warn(message),
      }));
    }
    // Event source mapping targets start with the run, so the first batch meets a warm function.
    await Promise.all([...targets].map((t) => this.pools.get(t)!.warm()));
    for (const p of this.pollers) p.start();
  }

  private makePageConfig(): PageConfig {
    const queueUrl = (name: string) => this.sqs.queueUrl(name);
    const { queryFunctionName, streamName, deadLetterQueueUrl } = pageTargets(this.plan, queueUrl, this.options.queryFunction);
    if (!queryFunctionName) this.warn('the page has no query function: name one with --query-function (no LambdaAPIFunction output, and no single function outside the event source mappings that is told a table name)');
    if (!streamName) this.warn('the page has no stream: the app has no KinesisStream output and more than one stream');
    return {
      region: this.region,
      streamName: streamName ?? '',
      queryFunctionName: queryFunctionName ?? '',
      ...(deadLetterQueueUrl ? { deadLetterQueueUrl } : {}),
      metric: { ...DEFAULT_METRIC, ...this.options.metric },
      payload: payloadConfig(this.plan, streamName),
      endpoint: this.endpoint,
      // The SDK marks the credential objects it is given; the page gets plain strings.
      credentials: { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: CREDENTIALS.secretAccessKey },
      label: `local run of ${this.plan.stacks.join(', ')}`,
    };
  }

  private log(functionName: string, line: string): void {
    let stream = this.logs.get(functionName);
    if (!stream) {
      stream = createWriteStream(this.logFile(functionName), { flags: 'a' });
      this.logs.set(functionName, stream);
    }
    stream.write(line + '\n');
  }

  /** The file a function's log, or a log group's, is written to. */
  logFile(name: string): string {
    return path.join(this.logDirectory, `${name.replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
  }

  /** A topic rule's CloudWatch Logs error action: one JSON line per message, in the log group's file. */
  private onErrorAction(logGroupName: string, message: ErrorActionMessage): void {
    this.log(logGroupName, JSON.stringify(message));
    if (this.errorActionMessages.length >= 10_000) this.errorActionMessages.splice(0, 5_000);
    this.errorActionMessages.push({ logGroupName, message });
  }

  private onTableWrite(table: string, items: readonly Record<string, { S?: string; N?: string }>[], at: number): void {
    this.tableWrites[table] = (this.tableWrites[table] ?? 0) + items.length;
    this.lastWriteAt = at;
    if (this.awaitingWrite.size === 0) return;
    const keys = this.plan.tables.find((t) => t.name === table)?.input.KeySchema ?? [];
    const hash = keys.find((k) => k.KeyType === 'HASH')?.AttributeName;
    const range = keys.find((k) => k.KeyType === 'RANGE')?.AttributeName;
    if (!hash || !range) return;
    for (const item of items) {
      const key = `${keyString(item[hash])}|${keyString(item[range])}`;
      const putAt = this.awaitingWrite.get(key);
      if (putAt !== undefined) {
        this.awaitingWrite.delete(key);
        // A long demo keeps the newest latencies only: percentiles of the recent past, in bounded memory.
        if (this.latencies.length >= 500_000) this.latencies.splice(0, 250_000);
        this.latencies.push(at - putAt);
      }
    }
  }

  /**
   * Starts the device simulator: on the page's stream, or (`ingress: 'iot'`)
   * published to the local AWS IoT Core, through the stack's topic rule;
   * put-to-stored latency is measured for its readings.
   */
  startSimulator(options: SimulatorOptions, onPut?: (readings: readonly PutReading[]) => void, via: SimulatorIngress = {}): DeviceSimulator {
    let sink: ReadingSink;
    if (via.ingress === 'iot') {
      const rules = this.plan.topicRules.filter((r) => r.enabled);
      if (rules.length === 0) throw new LocalRunError('--ingress iot needs an enabled AWS::IoT::TopicRule in the stacks that run: they have none');
      let topic = via.topic;
      if (topic === undefined) {
        if (rules.length > 1) throw new LocalRunError(`--ingress iot: the stacks have ${rules.length} topic rules (${rules.map((r) => r.sql.topicFilter).join(', ')}): name the topic with --topic, {sensor} standing for the sensor id`);
        topic = rules[0].sql.topicFilter.split('/').map((level) => (level === '+' || level === '#' ? '{sensor}' : level)).join('/');
      }
      if (!topic.includes('{sensor}') || topicFilterProblem(topic.replace(/\{sensor\}/g, 's')) !== undefined || /[+#]/.test(topic)) {
        throw new LocalRunError(`--topic ${topic}: give a topic with {sensor} where the sensor id goes, and no wildcard (for example sensors/{sensor}/readings)`);
      }
      const template = topic;
      const streams = new Set(rules.flatMap((r) => r.kinesisActions.map((a) => (a.streamName.every((part) => typeof part === 'string') ? a.streamName.join('') : '?'))));
      this.simulatorStream = streams.size === 1 && !streams.has('?') ? [...streams][0] : undefined;
      sink = topicSink((t, payload) => this.iot!.publish(t, payload), (sensor) => template.replace(/\{sensor\}/g, sensor), `publish to AWS IoT Core on ${template}`);
    } else {
      if (!this.pageConfig.streamName) throw new LocalRunError('the simulator needs a stream: the app has none the run could pick');
      this.simulatorStream = this.pageConfig.streamName;
      sink = streamSink(this.kinesisClient!, this.pageConfig.streamName);
    }
    this.simulator = new DeviceSimulator(sink, { ...options, fields: options.fields ?? this.payloadFields() }, (readings: readonly PutReading[]) => {
      if (!this.firstPutAt) this.firstPutAt = readings[0].putAt;
      for (const r of readings) this.awaitingWrite.set(`${r.sensorId}|${r.timestamp}`, r.putAt);
      onPut?.(readings);
    });
    this.simulator.start();
    return this.simulator;
  }

  /**
   * The fields of the app's payload mapping, from the environment of the
   * first function a mapping invokes that is told one (the pipeline's
   * processor); the default mapping's when none is.
   */
  payloadFields(): PayloadFields {
    const targets = new Set(this.plan.mappings.map((m) => m.functionName));
    const env = this.plan.functions.find((f) => targets.has(f.name) && Object.keys(f.environment).some((k) => k.startsWith('PAYLOAD_')))?.environment ?? {};
    const d = DEFAULT_PAYLOAD_FIELDS;
    return {
      sensorId: env.PAYLOAD_SENSOR_ID_FIELD || d.sensorId,
      timestamp: env.PAYLOAD_TIMESTAMP_FIELD || d.timestamp,
      value: env.PAYLOAD_VALUE_FIELD || d.value,
      measurements: (env.PAYLOAD_MEASUREMENT_FIELDS ?? '').split(',').map((f) => f.trim()).filter((f) => f),
      separator: env.PAYLOAD_MEASUREMENT_SEPARATOR || d.separator,
    };
  }

  /** How the simulator sends its readings. */
  get simulatorSink(): string | undefined {
    return this.simulator?.sinkDescription;
  }

  /** Put-to-stored latencies (ms) of the simulator's valid readings, in the order they were stored. */
  get storeLatencies(): readonly number[] {
    return this.latencies;
  }

  /** From the simulator's first put to the last table write. */
  get throughputWindowMs(): number {
    return this.firstPutAt && this.lastWriteAt > this.firstPutAt ? this.lastWriteAt - this.firstPutAt : 0;
  }

  /**
   * Resolves once every mapping of the stream (the simulator's, else the
   * page's) has finished every record it read and read at least `records`.
   */
  async waitUntilProcessed(records: number, timeoutMs: number, streamName = this.simulatorStream ?? this.pageConfig.streamName): Promise<void> {
    const ofStream = this.pollers.filter((p) => p.spec.streamName === streamName);
    const pollers = ofStream.length ? ofStream : this.pollers;
    const done = () => pollers.every((p) => p.stats.recordsRead >= records && p.pendingRecords === 0);
    await until(async () => done(), `the event source mappings to process ${records} records`, timeoutMs, 100);
  }

  snapshot(): RunSnapshot {
    return {
      elapsedMs: Date.now() - this.started,
      simulator: this.simulator ? { ...this.simulator.stats, byKind: { ...this.simulator.stats.byKind } } : undefined,
      tableWrites: { ...this.tableWrites },
      objectsPut: { ...this.objectsPut },
      queues: this.plan.queues.map((q) => ({ name: q.name, path: q.path, ...this.sqs.stats(q.name) })),
      mappings: this.pollers.map((p) => ({ path: p.spec.path, functionName: p.spec.functionName, stats: { ...p.stats }, pending: p.pendingRecords })),
      functions: [...this.pools.values()].map((p) => ({ name: p.spec.name, path: p.spec.path, stats: { ...p.stats } })),
      metrics: { ...this.cloudwatch.counts },
      topicRules: this.plan.topicRules.map((r) => ({ name: r.ruleName, path: r.path, stats: { ...this.iot!.stats.get(r.ruleName)! } })),
    };
  }

  /** Items per table (a Scan with Select COUNT: for summaries, not for live progress). */
  async countTableItems(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const t of this.plan.tables) {
      let count = 0;
      let start: Record<string, never> | undefined;
      do {
        const page = await this.dynamoClient!.send(new ScanCommand({ TableName: t.name, Select: 'COUNT', ExclusiveStartKey: start }));
        count += page.Count ?? 0;
        start = page.LastEvaluatedKey as Record<string, never> | undefined;
      } while (start);
      out[t.name] = count;
    }
    return out;
  }

  /** Object keys per bucket. */
  async listBucketObjects(): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    for (const b of this.plan.buckets) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await this.s3Client!.send(new ListObjectsV2Command({ Bucket: b.name, ContinuationToken: token }));
        for (const o of page.Contents ?? []) keys.push(o.Key!);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      out[b.name] = keys;
    }
    return out;
  }

  private loadState(dataDir: string): PersistedState {
    const file = path.join(dataDir, 'runner-state.json');
    if (!existsSync(file)) return {};
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as PersistedState;
    } catch (err) {
      throw new LocalRunError(`cannot read ${file} (${(err as Error).message}): remove it, or pick another --data-dir`);
    }
  }

  private saveState(dataDir: string): void {
    const state: PersistedState = {
      sqs: this.sqs.snapshot(), metrics: this.cloudwatch.snapshot(), checkpoints: Object.fromEntries(this.checkpoints),
    };
    const file = path.join(dataDir, 'runner-state.json');
    writeFileSync(`${file}.partial`, JSON.stringify(state));
    // Renamed into place so that an interrupted save never leaves half a file.
    renameSync(`${file}.partial`, file);
  }

  /** Stops everything the run started: the simulator, the pollers, every function process and server. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    this.simulator?.stop();
    if (this.saveTimer) clearInterval(this.saveTimer);
    // In-flight invocations may finish for a few seconds; then their processes are ended.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.pollers.map((p) => p.stop())), new Promise((r) => (grace = setTimeout(r, 5_000)))]);
    clearTimeout(grace);
    await Promise.all([...this.pools.values()].map((p) => p.stop()));
    await Promise.all(this.pollers.map((p) => p.stop()));
    if (this.options.dataDir && this.plan) this.saveState(path.resolve(this.options.dataDir));
    this.sqs.close();
    this.kinesisClient?.destroy();
    this.dynamoClient?.destroy();
    this.s3Client?.destroy();
    await Promise.all([this.gateway?.close(), this.faultProxy?.close(), this.dynamo?.close(), this.kinesis?.close(), this.s3?.close()]);
    this.cpu.close();
    await Promise.all([...this.logs.values()].map((s) => new Promise((resolve) => s.end(resolve))));
    rmSync(this.scratch, { recursive: true, force: true });
  }
}

/** The node_modules directory the runner's AWS SDK v3 clients are installed in. */
export function sdkNodePath(): string {
  return path.resolve(path.dirname(require.resolve('@aws-sdk/client-dynamodb/package.json')), '..', '..');
}

/** Starts a server, turning a port in use into an error that says what to do. */
async function listenOrExplain<T>(what: string, port: number, flag: string, start: (port: number) => Promise<T>): Promise<T> {
  try {
    return await start(port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new LocalRunError(`port ${port} (${what}) is in use: stop what uses it, or pass ${flag} <another port> (0 picks a free one)`);
    if (code === 'EACCES') throw new LocalRunError(`port ${port} (${what}) is not allowed: pass ${flag} with a port above 1023`);
    throw err;
  }
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new LocalRunError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
