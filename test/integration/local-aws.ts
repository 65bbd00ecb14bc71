/**
 * Local servers that speak the AWS wire protocols, for the integration tests
 * and the benchmark: dynalite (DynamoDB), kinesalite (Kinesis) and s3rver (S3),
 * each on 127.0.0.1 and a random port. Also the pieces of Lambda the handlers
 * meet: a Kinesis event built from records read back from the stream exactly
 * as the event source mapping delivers them, a fake invocation context, and a
 * simulated event source mapping that redelivers on partial batch failures.
 */
import { existsSync, mkdtempSync, rmSync } from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  PutRecordsCommand,
  ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
/** s3rver checks signatures against these; dynalite and kinesalite accept any. */
export const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const SHARD_ID = 'shardId-000000000000';

// ---------------------------------------------------------------------------
// The servers. None of the three packages ships type declarations, so they are
// loaded with require() and typed here by the part of their API that is used.

type HttpServerFactory = (options: Record<string, unknown>) => http.Server;
interface S3rverInstance {
  readonly httpServer?: http.Server;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

function loadUntyped<T>(name: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(name) as T;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Closes a server and the keep-alive connections that clients still hold to it. */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

export interface LocalServer {
  readonly endpoint: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Sees every request a server receives (the benchmark counts API calls with it). */
export type RequestObserver = (req: http.IncomingMessage) => void;

export async function startDynalite(observe?: RequestObserver): Promise<LocalServer> {
  const dynalite = loadUntyped<HttpServerFactory>('dynalite');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  if (observe) server.prependListener('request', observe);
  const port = await listen(server);
  return { endpoint: `http://127.0.0.1:${port}`, port, close: () => closeServer(server) };
}

export async function startKinesalite(observe?: RequestObserver): Promise<LocalServer> {
  const kinesalite = loadUntyped<HttpServerFactory>('kinesalite');
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 10 });
  if (observe) server.prependListener('request', observe);
  const port = await listen(server);
  return { endpoint: `http://127.0.0.1:${port}`, port, close: () => closeServer(server) };
}

export interface S3Server extends LocalServer {
  readonly directory: string;
}

/** s3rver with its files in a new temporary directory, removed on close. */
export async function startS3rver(observe?: RequestObserver): Promise<S3Server> {
  const S3rver = loadUntyped<S3rverConstructor>('s3rver');
  const directory = mkdtempSync(path.join(tmpdir(), 's3rver-'));
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
  const { port } = await s3rver.run();
  if (observe) s3rver.httpServer?.prependListener('request', observe);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    close: async () => {
      const closing = s3rver.close();
      s3rver.httpServer?.closeAllConnections();
      await closing;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export interface LocalEndpoints {
  readonly dynamodb: string;
  readonly kinesis: string;
  readonly s3: string;
}

/** All three, with clients for the test's own calls (set-up and checks; never the handlers'). */
export class LocalAws {
  static async start(observe?: (service: keyof LocalEndpoints, req: http.IncomingMessage) => void): Promise<LocalAws> {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const servers = await Promise.allSettled([
      startDynalite(observe && ((req) => observe('dynamodb', req))),
      startKinesalite(observe && ((req) => observe('kinesis', req))),
      startS3rver(observe && ((req) => observe('s3', req))),
    ]);
    const failed = servers.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(servers.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    const [dynamo, kinesis, s3] = servers.map((r) => (r as PromiseFulfilledResult<LocalServer>).value);
    return new LocalAws(dynamo, kinesis, s3 as S3Server);
  }

  /** Clients for servers that run elsewhere (another process); `stop` then closes only the clients. */
  static connect(endpoints: LocalEndpoints): LocalAws {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const remote = (endpoint: string) => ({ endpoint, port: Number(new URL(endpoint).port), directory: '', close: async () => undefined });
    return new LocalAws(remote(endpoints.dynamodb), remote(endpoints.kinesis), remote(endpoints.s3));
  }

  get endpoints(): LocalEndpoints {
    return { dynamodb: this.dynamo.endpoint, kinesis: this.kinesis.endpoint, s3: this.s3.endpoint };
  }

  readonly dynamodbClient: DynamoDBClient;
  readonly kinesisClient: KinesisClient;
  readonly s3Client: S3Client;

  private constructor(readonly dynamo: LocalServer, readonly kinesis: LocalServer, readonly s3: S3Server) {
    this.dynamodbClient = new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint: dynamo.endpoint });
    // kinesalite speaks HTTP/1.1 only.
    this.kinesisClient = new KinesisClient({
      region: REGION,
      credentials: CREDENTIALS,
      endpoint: kinesis.endpoint,
      requestHandler: new NodeHttpHandler(),
    });
    this.s3Client = new S3Client({
      region: REGION,
      credentials: CREDENTIALS,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /**
   * The environment the bundled handlers read: endpoints through the SDK's own
   * AWS_ENDPOINT_URL_<SERVICE> variables, and what s3rver needs.
   */
  handlerEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: this.dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: this.s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_DEV: 'true',
      // The handlers run on Node 22 in Lambda; this machine may have Node 20.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...overrides,
    };
  }

  async stop(): Promise<void> {
    this.dynamodbClient.destroy();
    this.kinesisClient.destroy();
    this.s3Client.destroy();
    await Promise.all([this.dynamo.close(), this.kinesis.close(), this.s3.close()]);
  }

  /** The sensor table as the constructs define it: SensorId (S) hash key, Timestamp (S) range key. */
  async createSensorTable(tableName: string): Promise<void> {
    await this.dynamodbClient.send(new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: 'SensorId', AttributeType: 'S' },
        { AttributeName: 'Timestamp', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'SensorId', KeyType: 'HASH' },
        { AttributeName: 'Timestamp', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }));
    await until(async () => {
      const out = await this.dynamodbClient.send(new DescribeTableCommand({ TableName: tableName }));
      return out.Table?.TableStatus === 'ACTIVE';
    }, `table ${tableName} to become ACTIVE`);
  }

  /** Every item of a table (the test's check; the handlers never scan). */
  async scanTable(tableName: string): Promise<Array<Record<string, { S?: string; N?: string }>>> {
    const items: Array<Record<string, { S?: string; N?: string }>> = [];
    let start: Record<string, never> | undefined;
    do {
      const out = await this.dynamodbClient.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
      items.push(...((out.Items ?? []) as Array<Record<string, { S?: string; N?: string }>>));
      start = out.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
    return items;
  }

  async createStream(streamName: string, shards = 1): Promise<void> {
    await this.kinesisClient.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards }));
    await until(async () => {
      const out = await this.kinesisClient.send(new DescribeStreamCommand({ StreamName: streamName }));
      return out.StreamDescription?.StreamStatus === 'ACTIVE';
    }, `stream ${streamName} to become ACTIVE`);
  }

  /** Puts the payloads in order (PutRecords, 500 a call) and returns their sequence numbers, in the same order. */
  async putRecords(streamName: string, records: ReadonlyArray<{ data: string | Buffer; partitionKey: string }>): Promise<string[]> {
    const sequenceNumbers: string[] = [];
    for (let i = 0; i < records.length; i += 500) {
      const part = records.slice(i, i + 500);
      const out = await this.kinesisClient.send(new PutRecordsCommand({
        StreamName: streamName,
        Records: part.map((r) => ({ Data: typeof r.data === 'string' ? Buffer.from(r.data, 'utf8') : r.data, PartitionKey: r.partitionKey })),
      }));
      if (out.FailedRecordCount) throw new Error(`kinesalite refused ${out.FailedRecordCount} records`);
      for (const entry of out.Records ?? []) sequenceNumbers.push(entry.SequenceNumber!);
    }
    return sequenceNumbers;
  }

  /** A reader of one shard of a stream, positioned the way the event source mapping positions itself. */
  shardReader(streamName: string, shardId = SHARD_ID): ShardReader {
    return new ShardReader(this.kinesisClient, streamName, shardId);
  }

  async createBucket(bucket: string): Promise<void> {
    await this.s3Client.send(new CreateBucketCommand({ Bucket: bucket }));
  }

  async listKeys(bucket: string, prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3Client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of out.Contents ?? []) keys.push(o.Key!);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async getObject(bucket: string, key: string): Promise<{ body: Buffer; contentEncoding?: string; contentType?: string }> {
    const out = await this.s3Client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = Buffer.from(await out.Body!.transformToByteArray());
    return { body, contentEncoding: out.ContentEncoding, contentType: out.ContentType };
  }
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// ---------------------------------------------------------------------------
// CloudWatch.

/** A stand-in for CloudWatch (no local server exists): records each request and answers success. */
export class FakeCloudWatch {
  static async start(): Promise<FakeCloudWatch> {
    const fake = new FakeCloudWatch();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  readonly requests: Array<{ target: string; contentEncoding?: string; rawBytes: number; body: PutMetricDataBody }> = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const encoding = req.headers['content-encoding'];
      const text = (encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
      this.requests.push({ target: String(req.headers['x-amz-target']), contentEncoding: encoding, rawBytes: raw.length, body: JSON.parse(text) });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `fake-${this.requests.length}` });
      res.end('{}');
    });
  });

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

export interface PutMetricDataBody {
  Namespace: string;
  MetricData: Array<{
    MetricName: string;
    Dimensions: Array<{ Name: string; Value: string }>;
    Timestamp: number;
    Values: number[];
    Counts: number[];
    Unit: string;
  }>;
}

// ---------------------------------------------------------------------------
// Kinesis records as Lambda delivers them.

/** One record as GetRecords returned it. */
export interface StreamRecord {
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** Epoch milliseconds. */
  readonly approximateArrivalTimestamp: number;
}

export type ShardPosition =
  | { readonly type: 'TRIM_HORIZON' }
  | { readonly type: 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER'; readonly sequenceNumber: string };

export class ShardReader {
  constructor(private readonly client: KinesisClient, readonly streamName: string, readonly shardId: string) {}

  /** Up to `limit` records from a position (GetShardIterator, then GetRecords until the limit or the tip). */
  async read(position: ShardPosition, limit: number): Promise<StreamRecord[]> {
    const it = await this.client.send(new GetShardIteratorCommand({
      StreamName: this.streamName,
      ShardId: this.shardId,
      ShardIteratorType: position.type as ShardIteratorType,
      StartingSequenceNumber: position.type === 'TRIM_HORIZON' ? undefined : position.sequenceNumber,
    }));
    let iterator = it.ShardIterator;
    const records: StreamRecord[] = [];
    while (iterator && records.length < limit) {
      const out = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit - records.length }));
      for (const r of out.Records ?? []) {
        records.push({
          sequenceNumber: r.SequenceNumber!,
          partitionKey: r.PartitionKey!,
          data: r.Data!,
          approximateArrivalTimestamp: r.ApproximateArrivalTimestamp!.getTime(),
        });
      }
      if ((out.Records ?? []).length === 0 || out.MillisBehindLatest === 0) break;
      iterator = out.NextShardIterator;
    }
    return records;
  }

  /** Every record of the shard, in order. */
  async readAll(): Promise<StreamRecord[]> {
    const all: StreamRecord[] = [];
    let position: ShardPosition = { type: 'TRIM_HORIZON' };
    for (;;) {
      const records = await this.read(position, 10_000);
      if (records.length === 0) return all;
      all.push(...records);
      position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: records[records.length - 1].sequenceNumber };
    }
  }
}

export interface EventSource {
  readonly streamName: string;
  readonly shardId?: string;
  readonly region?: string;
}

/** A Kinesis record in the shape Lambda passes to the function. */
export function toLambdaRecord(record: StreamRecord, source: EventSource): KinesisStreamRecord {
  const region = source.region ?? REGION;
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: Buffer.from(record.data).toString('base64'),
      approximateArrivalTimestamp: record.approximateArrivalTimestamp / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${source.shardId ?? SHARD_ID}:${record.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: `arn:aws:iam::${ACCOUNT}:role/sensor-processor-role`,
    awsRegion: region,
    eventSourceARN: `arn:aws:kinesis:${region}:${ACCOUNT}:stream/${source.streamName}`,
  };
}

export function toKinesisEvent(records: readonly StreamRecord[], source: EventSource): KinesisStreamEvent {
  return { Records: records.map((r) => toLambdaRecord(r, source)) };
}

/** The events Lambda would invoke the function with for these records, `batchSize` records each. */
export function toKinesisEvents(records: readonly StreamRecord[], source: EventSource, batchSize: number): KinesisStreamEvent[] {
  const events: KinesisStreamEvent[] = [];
  for (let i = 0; i < records.length; i += batchSize) events.push(toKinesisEvent(records.slice(i, i + batchSize), source));
  return events;
}

/** A Lambda invocation context whose deadline is `timeoutMs` after it is made. */
export function fakeContext(timeoutMs = 60_000, functionName = 'sensor-processor'): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2024/01/01/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

// ---------------------------------------------------------------------------
// The event source mapping.

export interface MappingStats {
  /** Invocations of the function. */
  invocations: number;
  /** Invocations that re-sent records after a reported batch item failure. */
  partialRedeliveries: number;
  /** Invocations that re-sent a whole batch after the invocation failed. */
  wholeBatchRetries: number;
  /** Records delivered, redeliveries included. */
  recordsDelivered: number;
}

export interface MappingOptions {
  readonly batchSize: number;
  /** Retries of one position before the test gives up (a real mapping would retry until the records expire). */
  readonly maxRetriesPerPosition?: number;
}

/**
 * Simulates a Kinesis event source mapping with ReportBatchItemFailures on one
 * shard: reads up to `batchSize` records from the checkpoint, invokes, and on a
 * reported failure moves the checkpoint to just before the reported record and
 * reads again from there; on a failed invocation it retries the whole batch.
 */
export async function runEventSourceMapping(
  reader: ShardReader,
  invoke: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse | void>,
  options: MappingOptions,
): Promise<MappingStats> {
  const stats: MappingStats = { invocations: 0, partialRedeliveries: 0, wholeBatchRetries: 0, recordsDelivered: 0 };
  const maxRetries = options.maxRetriesPerPosition ?? 20;
  const source = { streamName: reader.streamName, shardId: reader.shardId };
  let position: ShardPosition = { type: 'TRIM_HORIZON' };
  let retries = 0;
  let retryKind: 'partial' | 'whole' | undefined;
  for (;;) {
    const records = await reader.read(position, options.batchSize);
    if (records.length === 0) return stats;
    stats.invocations++;
    stats.recordsDelivered += records.length;
    if (retryKind === 'partial') stats.partialRedeliveries++;
    if (retryKind === 'whole') stats.wholeBatchRetries++;
    let response: KinesisStreamBatchResponse | void;
    try {
      response = await invoke(toKinesisEvent(records, source));
    } catch {
      if (++retries > maxRetries) throw new Error(`gave up after ${maxRetries} retries of the batch at ${JSON.stringify(position)}`);
      retryKind = 'whole';
      continue;
    }
    const failure = response?.batchItemFailures?.[0]?.itemIdentifier;
    if (failure === undefined) {
      position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: records[records.length - 1].sequenceNumber };
      retries = 0;
      retryKind = undefined;
      continue;
    }
    if (!records.some((r) => r.sequenceNumber === failure)) {
      throw new Error(`the function reported ${failure}, which is not in the batch`);
    }
    const atSame = position.type === 'AT_SEQUENCE_NUMBER' && position.sequenceNumber === failure;
    retries = atSame ? retries + 1 : 1;
    if (retries > maxRetries) throw new Error(`gave up after ${maxRetries} redeliveries from ${failure}`);
    position = { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: failure };
    retryKind = 'partial';
  }
}

// ---------------------------------------------------------------------------
// The bundled handlers.

export const BUNDLE_DIR = path.resolve(__dirname, '..', '..', 'assets', 'handlers');

export function bundlePath(name: 'processor' | 'archiver' | 'query'): string {
  return path.join(BUNDLE_DIR, `${name}.lambda`, 'index.js');
}

/**
 * Loads a bundled handler, the file that ships, as a new module instance (a
 * cold start: it builds its clients from the environment at its first
 * invocation). Throws when the bundle has not been built.
 */
export function loadBundle<T>(name: 'processor' | 'archiver' | 'query'): T {
  const file = bundlePath(name);
  if (!existsSync(file)) {
    throw new Error(`The bundled ${name} handler is missing: ${file}. Run \`npx projen bundle\` first.`);
  }
  let loaded: T | undefined;
  if (typeof jest !== 'undefined') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    jest.isolateModules(() => { loaded = require(file) as T; });
  } else {
    delete require.cache[file];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as T;
  }
  return loaded!;
}

/** Sets environment variables and returns a function that restores the earlier values. */
export function setEnv(values: Record<string, string | undefined>): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(values)) {
    saved[name] = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

// ---------------------------------------------------------------------------
// Sensor data.

/**
 * A seeded PRNG in [0, 1): the Park-Miller "minimal standard" generator
 * (exact in doubles, so no bit operations), enough for repeatable test data and faults.
 */
export function seededRandom(seed: number): () => number {
  const M = 2_147_483_647;
  let state = Math.abs(Math.floor(seed)) % M || 1;
  return () => {
    state = (state * 48_271) % M;
    return (state - 1) / (M - 1);
  };
}

export type MalformedKind = 'bad JSON' | 'missing sensorid' | 'non-numeric value' | 'bad timestamp';
export const MALFORMED_KINDS: readonly MalformedKind[] = ['bad JSON', 'missing sensorid', 'non-numeric value', 'bad timestamp'];

/** The reason the processor gives for each kind (a fragment of it). */
export const MALFORMED_REASONS: Record<MalformedKind, string> = {
  'bad JSON': 'payload is not valid JSON',
  'missing sensorid': 'missing field "sensorid"',
  'non-numeric value': 'invalid field "value"',
  'bad timestamp': 'invalid field "timestamp"',
};

export interface DeviceRecord {
  /** The payload as the device sends it. */
  readonly data: string;
  readonly partitionKey: string;
  /** What the table must hold for it; absent for a malformed record. */
  readonly expected?: { readonly sensorId: string; readonly timestamp: string; readonly value: number };
  readonly malformed?: MalformedKind;
}

export interface ReadingSetOptions {
  readonly count: number;
  /** Every `malformedEvery`-th record is malformed (100 = 1 %); 0 for none. */
  readonly malformedEvery: number;
  readonly sensors: number;
  readonly seed: number;
  /** Epoch milliseconds of the first reading. */
  readonly start?: number;
  /** Milliseconds between readings. */
  readonly stepMs?: number;
}

/**
 * Device records with distinct table keys: each reading has its own timestamp.
 * Timestamps and values come in the shapes devices send (ISO-8601 with or
 * without an offset, epoch seconds or milliseconds, numbers or numeric
 * strings); malformed records rotate through the four kinds.
 */
export function makeDeviceRecords(options: ReadingSetOptions): DeviceRecord[] {
  const random = seededRandom(options.seed);
  const start = options.start ?? Date.UTC(2024, 4, 14, 9, 0, 0);
  const step = options.stepMs ?? 1_000;
  const sensorIds = Array.from({ length: options.sensors }, (_, i) => (i % 10 === 9 ? `capteur-température-${i}` : `sensor-${String(i).padStart(3, '0')}`));
  const out: DeviceRecord[] = [];
  let malformed = 0;
  for (let i = 0; i < options.count; i++) {
    const sensorId = sensorIds[i % sensorIds.length];
    const millis = start + i * step + Math.floor(random() * step);
    const value = Math.round((random() * 200 - 50) * 100) / 100;
    if (options.malformedEvery > 0 && i % options.malformedEvery === options.malformedEvery - 1) {
      const kind = MALFORMED_KINDS[malformed++ % MALFORMED_KINDS.length];
      const iso = new Date(millis).toISOString();
      const data = {
        'bad JSON': `{"sensorid": "${sensorId}", "timestamp": "${iso}", "value": ${value}`,
        'missing sensorid': JSON.stringify({ timestamp: iso, value }),
        'non-numeric value': JSON.stringify({ sensorid: sensorId, timestamp: iso, value: 'n/a' }),
        'bad timestamp': JSON.stringify({ sensorid: sensorId, timestamp: '2024-02-30T10:00:00Z', value }),
      }[kind];
      out.push({ data, partitionKey: sensorId, malformed: kind });
      continue;
    }
    let timestamp: unknown;
    switch (i % 4) {
      case 0: timestamp = new Date(millis).toISOString(); break;
      case 1: timestamp = millis; break;
      case 2: timestamp = new Date(millis + 2 * 3_600_000).toISOString().replace('Z', '+02:00'); break;
      default: timestamp = new Date(millis).toISOString().replace('T', ' ').replace('Z', ''); break;
    }
    const payload = { sensorid: sensorId, timestamp, value: i % 3 === 0 ? String(value) : value };
    out.push({ data: JSON.stringify(payload), partitionKey: sensorId, expected: { sensorId, timestamp: new Date(millis).toISOString(), value } });
  }
  return out;
}
