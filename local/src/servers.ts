/**
 * Local servers that speak the AWS wire protocols: dynalite (DynamoDB),
 * kinesalite (Kinesis) and s3rver (S3), each on 127.0.0.1 and a random port,
 * with SDK v3 clients configured the way each server needs them.
 */
import { mkdtempSync, rmSync } from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamCommand, KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ShardReader } from './shard-reader';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';
/** s3rver checks signatures against these; dynalite and kinesalite accept any. */
export const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const SHARD_ID = 'shardId-000000000000';

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

function listen(server: http.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Why a request to a local server comes from where no client of it should:
 * a Host that does not name the loopback interface (a page that reached the
 * port under its own name, by DNS rebinding), or an Origin header (a page in
 * a browser: dynalite and kinesalite answer every origin with
 * `Access-Control-Allow-Origin: *`). The servers' clients are SDKs, the
 * gateway and the fault proxy, which send neither; the port is not checked,
 * since the fault proxy passes its clients' Host on (SigV4 signs it).
 */
export function loopbackRefusal(req: http.IncomingMessage): string | undefined {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!/^(127\.0\.0\.1|localhost)(:\d+)?$/.test(host)) {
    return `the Host header ${req.headers.host ?? '(none)'} does not name 127.0.0.1 or localhost: a request that reached this local server under another name is refused`;
  }
  if (req.headers.origin !== undefined) {
    return `a page (${req.headers.origin}) may not call this local server: the run's page goes through its gateway`;
  }
  return undefined;
}

/** Puts `loopbackRefusal` in front of a server's request handlers: a 403 with the reason instead. */
export function guardLoopback(server: http.Server): void {
  const handlers = server.listeners('request') as Array<(req: http.IncomingMessage, res: http.ServerResponse) => void>;
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const refused = loopbackRefusal(req);
    if (!refused) {
      for (const handler of handlers) handler.call(server, req, res);
      return;
    }
    const body = Buffer.from(JSON.stringify({ __type: 'AccessDeniedException', message: refused }));
    res.writeHead(403, { 'content-type': 'application/json', 'content-length': body.length, 'x-amzn-errortype': 'AccessDeniedException', 'connection': 'close' });
    res.end(body);
    req.resume();
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

/** Sees every request a server receives, and its response (the benchmark counts API calls with it). */
export type RequestObserver = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Where a server listens and keeps its data. */
export interface ServerOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  /** A directory to keep the data in between runs; in memory when absent. */
  readonly directory?: string;
}

export async function startDynalite(observe?: RequestObserver, options: ServerOptions & { maxItemSizeKb?: number } = {}): Promise<LocalServer> {
  const dynalite = loadUntyped<HttpServerFactory>('dynalite');
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.directory ? { path: options.directory } : {}),
    // A smaller item limit than DynamoDB's 400 KB lets a test reach it with a few readings.
    ...(options.maxItemSizeKb ? { maxItemSizeKb: options.maxItemSizeKb } : {}),
  });
  guardLoopback(server);
  if (observe) server.prependListener('request', observe);
  const port = await listen(server, options.port);
  return { endpoint: `http://127.0.0.1:${port}`, port, close: () => closeServer(server) };
}

export async function startKinesalite(observe?: RequestObserver, options: ServerOptions & { shardLimit?: number } = {}): Promise<LocalServer> {
  const kinesalite = loadUntyped<HttpServerFactory>('kinesalite');
  const server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: options.shardLimit ?? 10,
    ...(options.directory ? { path: options.directory } : {}),
  });
  guardLoopback(server);
  if (observe) server.prependListener('request', observe);
  const port = await listen(server, options.port);
  return { endpoint: `http://127.0.0.1:${port}`, port, close: () => closeServer(server) };
}

export interface S3Server extends LocalServer {
  readonly directory: string;
}

/** s3rver with its files in a new temporary directory, removed on close (or in `options.directory`, kept). */
export async function startS3rver(observe?: RequestObserver, options: ServerOptions = {}): Promise<S3Server> {
  const S3rver = loadUntyped<S3rverConstructor>('s3rver');
  const keep = options.directory !== undefined;
  const directory = options.directory ?? mkdtempSync(path.join(tmpdir(), 's3rver-'));
  const s3rver = new S3rver({ port: options.port ?? 0, address: '127.0.0.1', directory, silent: true });
  const { port } = await s3rver.run();
  if (s3rver.httpServer) guardLoopback(s3rver.httpServer);
  if (observe) s3rver.httpServer?.prependListener('request', observe);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    close: async () => {
      const closing = s3rver.close();
      s3rver.httpServer?.closeAllConnections();
      await closing;
      if (!keep) rmSync(directory, { recursive: true, force: true });
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
      startKinesalite(observe && ((req) => observe('kinesis', req)), { shardLimit: 100 }),
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
      // No EMF lines on standard output unless a caller asks for a metrics mode.
      METRICS_MODE: 'NONE',
      // The handlers run on Node 24 in Lambda; this machine may have Node 20.
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

