/**
 * The bench's stand-in for AWS: dynalite, kinesalite, s3rver, a CloudWatch
 * recorder and fault proxies, in processes of their own, so that neither
 * their CPU time nor their share of a CPU quota is counted as the handler's.
 * The server processes count every API call they receive.
 *
 * dynalite has a process to itself: it is single-threaded and does most of
 * the servers' work (over 1 ms of CPU per BatchWriteItem of 25 items), so a
 * process shared with the proxies in front of it would make the local table,
 * not the handler, the limit of a fast processor. The other servers and the
 * proxies share a second process.
 *
 * `startServers()` forks this file twice (with --serve dynamodb and --serve
 * others) and talks to both over IPC.
 */
import { fork } from 'child_process';
import * as http from 'http';
import type { IncomingMessage } from 'http';
import { CpuLimit, crc32, FakeCloudWatch, FaultCounts, FaultProxy, FaultProxyOptions, LocalEndpoints, LocalServer, startDynalite, startKinesalite, startS3rver } from '../local/src';

/** cpu.shares of the bench's groups: eight ordinary processes' worth. */
export const BENCH_CPU_WEIGHT = 8 * 1_024;

export type Counts = Record<string, number>;

/** The key of the counts that holds the server processes' CPU time, in microseconds: a name no operation has. */
export const SERVER_CPU_KEY = '(server processes CPU us)';

type Request =
  | { type: 'counts' }
  | { type: 'startProxy'; options: Omit<FaultProxyOptions, 'target'> & { service: keyof LocalEndpoints } }
  | { type: 'proxyCounts'; id: number }
  | { type: 'closeProxy'; id: number }
  | { type: 'startCounter'; latencyMs: number }
  | { type: 'counterCounts'; id: number }
  | { type: 'closeCounter'; id: number };

type Reply =
  | { type: 'counts'; counts: Counts }
  | { type: 'proxy'; id: number; endpoint: string }
  | { type: 'proxyCounts'; counts: FaultCounts }
  | { type: 'counter'; id: number; endpoint: string }
  | { type: 'counterCounts'; counts: CounterCounts }
  | { type: 'closed' }
  | { type: 'error'; message: string };

type Ready = { type: 'ready'; endpoints: Partial<LocalEndpoints>; cloudwatch?: string };
type FromServer = Ready | { type: 'reply'; id: number; reply: Reply };
type ToServer = { type: 'request'; id: number; request: Request } | { type: 'stop' };

/** What a counting endpoint received. */
export interface CounterCounts {
  /** BatchWriteItem calls. */
  readonly calls: number;
  /** Put requests in them. */
  readonly items: number;
  /** Calls of any other operation, answered with a ValidationException. */
  readonly refused: number;
}

const AMZ_JSON = 'application/x-amz-json-1.0';

/**
 * A DynamoDB endpoint that speaks BatchWriteItem (AWS JSON 1.0) and only
 * counts: every put request is taken (`{"UnprocessedItems":{}}`) and stored
 * nowhere, after a fixed round trip. Where dynalite, which spends over 1 ms
 * of CPU on each BatchWriteItem of 25 items, tops out near 10,000 items a
 * second, this one answers many times that, so that a processor faster than
 * dynalite is measured at its own ceiling. What it received is counted, not
 * checked key by key: the runs that check every stored item use dynalite.
 */
export class CountingTable {
  static async start(latencyMs: number): Promise<CountingTable> {
    const table = new CountingTable(latencyMs);
    await new Promise<void>((resolve, reject) => {
      table.server.once('error', reject);
      table.server.listen(0, '127.0.0.1', () => resolve());
    });
    return table;
  }

  private readonly server: http.Server;
  private readonly tally = { calls: 0, items: 0, refused: 0 };
  private requests = 0;

  private constructor(latencyMs: number) {
    if (!(latencyMs >= 0)) throw new Error(`latencyMs must be 0 or more, got ${latencyMs}`);
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answer = (status: number, body: string) => {
          const bytes = Buffer.from(body);
          res.writeHead(status, {
            'content-type': AMZ_JSON,
            'content-length': bytes.length,
            'x-amzn-requestid': `counting-${++this.requests}`,
            ...(crc32(bytes) === undefined ? {} : { 'x-amz-crc32': String(crc32(bytes)) }),
          });
          res.end(bytes);
        };
        const reply = (status: number, body: string) => (latencyMs > 0 ? setTimeout(() => answer(status, body), latencyMs) : answer(status, body));
        if (req.headers['x-amz-target'] !== 'DynamoDB_20120810.BatchWriteItem') {
          this.tally.refused++;
          reply(400, JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: `this endpoint only counts BatchWriteItem, got ${req.headers['x-amz-target']}` }));
          return;
        }
        let items = 0;
        try {
          const { RequestItems } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { RequestItems: Record<string, unknown[]> };
          for (const requests of Object.values(RequestItems)) items += requests.length;
        } catch (err) {
          this.tally.refused++;
          reply(400, JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: `not a BatchWriteItem request: ${(err as Error).message}` }));
          return;
        }
        this.tally.calls++;
        this.tally.items += items;
        reply(200, '{"UnprocessedItems":{}}');
      });
    });
    this.server.keepAliveTimeout = 60_000;
  }

  get endpoint(): string {
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('the counting table is not listening');
    return `http://127.0.0.1:${address.port}`;
  }

  get counts(): CounterCounts {
    return { ...this.tally };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** What an operation is called in the counts: `dynamodb BatchWriteItem`, `s3 PutObject <bucket>`, `cloudwatch PutMetricData`. */
function classify(service: keyof LocalEndpoints, req: IncomingMessage): string {
  if (service !== 's3') return `${service} ${String(req.headers['x-amz-target'] ?? '?').split('.').pop()}`;
  const [bucket, ...key] = decodeURIComponent((req.url ?? '/').split('?')[0]).slice(1).split('/');
  const operation = req.method === 'PUT' && key.join('/') ? 'PutObject' : `${req.method}`;
  return `s3 ${operation} ${bucket}`;
}

/** Runs in a server process: `dynamodb` (dynalite alone) or `others` (the rest, with the proxies; `dynamodb` is dynalite's endpoint). */
async function serve(role: 'dynamodb' | 'others', dynamodb?: string): Promise<void> {
  const counts: Counts = {};
  const observe = (service: keyof LocalEndpoints) => (req: IncomingMessage) => {
    const key = classify(service, req);
    counts[key] = (counts[key] ?? 0) + 1;
  };
  const servers: LocalServer[] = [];
  let cloudwatch: FakeCloudWatch | undefined;
  let endpoints: Partial<LocalEndpoints>;
  if (role === 'dynamodb') {
    const dynalite = await startDynalite(observe('dynamodb'));
    servers.push(dynalite);
    endpoints = { dynamodb: dynalite.endpoint };
  } else {
    if (!dynamodb) throw new Error('the others server process needs dynalite\'s endpoint');
    const [kinesis, s3] = await Promise.all([startKinesalite(observe('kinesis'), { shardLimit: 100 }), startS3rver(observe('s3'))]);
    servers.push(kinesis, s3);
    cloudwatch = await FakeCloudWatch.start();
    endpoints = { dynamodb, kinesis: kinesis.endpoint, s3: s3.endpoint };
  }
  const proxies = new Map<number, FaultProxy>();
  const counters = new Map<number, CountingTable>();
  let proxyIds = 0;
  const send = (message: FromServer) => process.send!(message);

  const handle = async (request: Request): Promise<Reply> => {
    switch (request.type) {
      case 'counts': {
        const all = { ...counts };
        for (const r of cloudwatch?.requests ?? []) {
          const key = `cloudwatch ${r.target.split('.').pop()}`;
          all[key] = (all[key] ?? 0) + 1;
        }
        const cpu = process.cpuUsage();
        all[SERVER_CPU_KEY] = cpu.user + cpu.system;
        return { type: 'counts', counts: all };
      }
      case 'startProxy': {
        const { service, ...options } = request.options;
        const target = endpoints[service];
        if (!target) throw new Error(`no ${service} endpoint in this server process`);
        const proxy = await FaultProxy.start({ ...options, target });
        proxies.set(++proxyIds, proxy);
        return { type: 'proxy', id: proxyIds, endpoint: proxy.endpoint };
      }
      case 'proxyCounts':
        return { type: 'proxyCounts', counts: proxies.get(request.id)!.counts };
      case 'closeProxy':
        await proxies.get(request.id)?.close();
        proxies.delete(request.id);
        return { type: 'closed' };
      case 'startCounter': {
        const counter = await CountingTable.start(request.latencyMs);
        counters.set(++proxyIds, counter);
        return { type: 'counter', id: proxyIds, endpoint: counter.endpoint };
      }
      case 'counterCounts':
        return { type: 'counterCounts', counts: counters.get(request.id)!.counts };
      case 'closeCounter':
        await counters.get(request.id)?.close();
        counters.delete(request.id);
        return { type: 'closed' };
    }
  };

  process.on('message', (message: ToServer) => {
    if (message.type === 'stop') {
      void Promise.all([...[...proxies.values(), ...counters.values()].map((p) => p.close()), cloudwatch?.close(), ...servers.map((x) => x.close())])
        .finally(() => process.exit(0));
      return;
    }
    handle(message.request).then(
      (reply) => send({ type: 'reply', id: message.id, reply }),
      (err) => send({ type: 'reply', id: message.id, reply: { type: 'error', message: String((err as Error)?.stack ?? err) } }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', endpoints, cloudwatch: cloudwatch?.endpoint });
}

/** A forked server process, held to the bench's CPU weight. */
interface ServerProcess {
  readonly ready: Ready;
  call<T extends Reply['type']>(request: Request, expect: T): Promise<Extract<Reply, { type: T }>>;
  stop(): Promise<void>;
}

async function forkServer(args: string[], name: string): Promise<ServerProcess> {
  const child = fork(__filename, ['--serve', ...args], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let ready: (m: FromServer) => void;
  const started = new Promise<FromServer>((resolve) => { ready = resolve; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const died = new Promise<never>((_, reject) => {
    child.once('exit', (code) => {
      const err = new Error(`the ${name} server process exited (${code})`);
      for (const w of waiting.values()) w.reject(err);
      reject(err);
    });
  });
  died.catch(() => undefined);
  child.on('message', (m: FromServer) => {
    if (m.type === 'ready') {ready(m);} else {
      waiting.get(m.id)?.resolve(m.reply);
      waiting.delete(m.id);
    }
  });
  const first = await Promise.race([started, died]);
  if (first.type !== 'ready') throw new Error(`unexpected message from the ${name} server process`);
  // No quota: the servers stand for AWS, which does not share the function's CPU. A weight, so
  // that the machine's other work slows the simulated AWS as little as it slows the handler.
  const made = CpuLimit.create(`cdk-iot-ingest-bench-${name}-${process.pid}`, { weight: BENCH_CPU_WEIGHT });
  const group = made instanceof CpuLimit ? made : undefined;
  group?.addProcess(child.pid!);
  let ids = 0;
  return {
    ready: first,
    call: async <T extends Reply['type']>(request: Request, expect: T) => {
      const id = ++ids;
      const reply = await new Promise<Reply>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send({ type: 'request', id, request } satisfies ToServer);
      });
      if (reply.type === 'error') throw new Error(`the ${name} server process failed: ${reply.message}`);
      if (reply.type !== expect) throw new Error(`expected ${expect} from the ${name} server process, got ${reply.type}`);
      return reply as Extract<Reply, { type: T }>;
    },
    stop: async () => {
      if (child.exitCode === null) child.send({ type: 'stop' } satisfies ToServer);
      await exited;
      group?.remove();
    },
  };
}

export interface ProxyHandle {
  readonly endpoint: string;
  counts(): Promise<FaultCounts>;
  close(): Promise<void>;
}

export interface CounterHandle {
  readonly endpoint: string;
  counts(): Promise<CounterCounts>;
  close(): Promise<void>;
}

export interface Servers {
  readonly endpoints: LocalEndpoints;
  readonly cloudwatch: string;
  /** API calls received so far, by operation. */
  counts(): Promise<Counts>;
  /** A fault proxy (latency, capacity, faults) in front of one of the servers, in the process of the other servers. */
  proxy(service: keyof LocalEndpoints, options: Omit<FaultProxyOptions, 'target'>): Promise<ProxyHandle>;
  /** A DynamoDB endpoint that takes every BatchWriteItem and only counts its items (`CountingTable`), in the process of the other servers. */
  countingTable(latencyMs: number): Promise<CounterHandle>;
  /** Stops the server processes and waits for them to exit. */
  stop(): Promise<void>;
}

export async function startServers(): Promise<Servers> {
  const dynamodb = await forkServer(['dynamodb'], 'dynamodb');
  let others: ServerProcess;
  try {
    others = await forkServer(['others', dynamodb.ready.endpoints.dynamodb!], 'others');
  } catch (err) {
    await dynamodb.stop();
    throw err;
  }
  const endpoints = others.ready.endpoints as LocalEndpoints;
  return {
    endpoints,
    cloudwatch: others.ready.cloudwatch!,
    counts: async () => {
      const [a, b] = await Promise.all([dynamodb.call({ type: 'counts' }, 'counts'), others.call({ type: 'counts' }, 'counts')]);
      const all: Counts = { ...b.counts };
      for (const [key, n] of Object.entries(a.counts)) all[key] = (all[key] ?? 0) + n;
      return all;
    },
    proxy: async (service, options) => {
      const { id, endpoint } = await others.call({ type: 'startProxy', options: { ...options, service } }, 'proxy');
      return {
        endpoint,
        counts: async () => (await others.call({ type: 'proxyCounts', id }, 'proxyCounts')).counts,
        close: async () => { await others.call({ type: 'closeProxy', id }, 'closed'); },
      };
    },
    countingTable: async (latencyMs) => {
      const { id, endpoint } = await others.call({ type: 'startCounter', latencyMs }, 'counter');
      return {
        endpoint,
        counts: async () => (await others.call({ type: 'counterCounts', id }, 'counterCounts')).counts,
        close: async () => { await others.call({ type: 'closeCounter', id }, 'closed'); },
      };
    },
    stop: async () => {
      await Promise.all([others.stop(), dynamodb.stop()]);
    },
  };
}

if (require.main === module && process.argv.includes('--serve')) {
  const [role, dynamodb] = process.argv.slice(process.argv.indexOf('--serve') + 1);
  if (role !== 'dynamodb' && role !== 'others') throw new Error(`--serve dynamodb|others, got ${role}`);
  serve(role, dynamodb).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
