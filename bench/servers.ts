/**
 * The bench's stand-in for AWS: dynalite, kinesalite, s3rver, a CloudWatch
 * recorder and fault proxies, all in a process of their own, so that neither
 * their CPU time nor their share of a CPU quota is counted as the handler's.
 * The server process counts every API call it receives.
 *
 * `startServers()` forks it (this file, with --serve) and talks to it over IPC.
 */
import { fork } from 'child_process';
import type { IncomingMessage } from 'http';
import { CpuLimit, FakeCloudWatch, FaultCounts, FaultProxy, FaultProxyOptions, LocalAws, LocalEndpoints } from '../local/src';

/** cpu.shares of the bench's groups: eight ordinary processes' worth. */
export const BENCH_CPU_WEIGHT = 8 * 1_024;

export type Counts = Record<string, number>;

type Request =
  | { type: 'counts' }
  | { type: 'startProxy'; options: Omit<FaultProxyOptions, 'target'> & { service: keyof LocalEndpoints } }
  | { type: 'proxyCounts'; id: number }
  | { type: 'closeProxy'; id: number };

type Reply =
  | { type: 'counts'; counts: Counts }
  | { type: 'proxy'; id: number; endpoint: string }
  | { type: 'proxyCounts'; counts: FaultCounts }
  | { type: 'closed' }
  | { type: 'error'; message: string };

type FromServer = { type: 'ready'; endpoints: LocalEndpoints; cloudwatch: string } | { type: 'reply'; id: number; reply: Reply };
type ToServer = { type: 'request'; id: number; request: Request } | { type: 'stop' };

/** What an operation is called in the counts: `dynamodb BatchWriteItem`, `s3 PutObject <bucket>`, `cloudwatch PutMetricData`. */
function classify(service: keyof LocalEndpoints, req: IncomingMessage): string {
  if (service !== 's3') return `${service} ${String(req.headers['x-amz-target'] ?? '?').split('.').pop()}`;
  const [bucket, ...key] = decodeURIComponent((req.url ?? '/').split('?')[0]).slice(1).split('/');
  const operation = req.method === 'PUT' && key.join('/') ? 'PutObject' : `${req.method}`;
  return `s3 ${operation} ${bucket}`;
}

async function serve(): Promise<void> {
  const counts: Counts = {};
  const aws = await LocalAws.start((service, req) => {
    const key = classify(service, req);
    counts[key] = (counts[key] ?? 0) + 1;
  });
  const cloudwatch = await FakeCloudWatch.start();
  const proxies = new Map<number, FaultProxy>();
  let proxyIds = 0;
  const send = (message: FromServer) => process.send!(message);

  const handle = async (request: Request): Promise<Reply> => {
    switch (request.type) {
      case 'counts': {
        const all = { ...counts };
        for (const r of cloudwatch.requests) {
          const key = `cloudwatch ${r.target.split('.').pop()}`;
          all[key] = (all[key] ?? 0) + 1;
        }
        // The server process's own CPU time, in microseconds, under a name no operation has.
        const cpu = process.cpuUsage();
        all['(server process CPU us)'] = cpu.user + cpu.system;
        return { type: 'counts', counts: all };
      }
      case 'startProxy': {
        const { service, ...options } = request.options;
        const proxy = await FaultProxy.start({ ...options, target: aws.endpoints[service] });
        proxies.set(++proxyIds, proxy);
        return { type: 'proxy', id: proxyIds, endpoint: proxy.endpoint };
      }
      case 'proxyCounts':
        return { type: 'proxyCounts', counts: proxies.get(request.id)!.counts };
      case 'closeProxy':
        await proxies.get(request.id)?.close();
        proxies.delete(request.id);
        return { type: 'closed' };
    }
  };

  process.on('message', (message: ToServer) => {
    if (message.type === 'stop') {
      void Promise.all([...[...proxies.values()].map((p) => p.close()), cloudwatch.close(), aws.stop()]).finally(() => process.exit(0));
      return;
    }
    handle(message.request).then(
      (reply) => send({ type: 'reply', id: message.id, reply }),
      (err) => send({ type: 'reply', id: message.id, reply: { type: 'error', message: String((err as Error)?.stack ?? err) } }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', endpoints: aws.endpoints, cloudwatch: cloudwatch.endpoint });
}

export interface ProxyHandle {
  readonly endpoint: string;
  counts(): Promise<FaultCounts>;
  close(): Promise<void>;
}

export interface Servers {
  readonly endpoints: LocalEndpoints;
  readonly cloudwatch: string;
  /** API calls received so far, by operation. */
  counts(): Promise<Counts>;
  /** A fault proxy (latency, capacity, faults) in front of one of the servers, in the server process. */
  proxy(service: keyof LocalEndpoints, options: Omit<FaultProxyOptions, 'target'>): Promise<ProxyHandle>;
  /** Stops the server process and waits for it to exit. */
  stop(): Promise<void>;
}

export async function startServers(): Promise<Servers> {
  const child = fork(__filename, ['--serve'], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let ready: (m: FromServer) => void;
  const started = new Promise<FromServer>((resolve) => { ready = resolve; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const died = new Promise<never>((_, reject) => {
    child.once('exit', (code) => {
      const err = new Error(`the server process exited (${code})`);
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
  if (first.type !== 'ready') throw new Error('unexpected message from the server process');
  // No quota: the servers stand for AWS, which does not share the function's CPU. A weight, so
  // that the machine's other work slows the simulated AWS as little as it slows the handler.
  const made = CpuLimit.create(`cdk-iot-ingest-bench-servers-${process.pid}`, { weight: BENCH_CPU_WEIGHT });
  const group = made instanceof CpuLimit ? made : undefined;
  group?.addProcess(child.pid!);
  let ids = 0;
  const call = async <T extends Reply['type']>(request: Request, expect: T): Promise<Extract<Reply, { type: T }>> => {
    const id = ++ids;
    const reply = await new Promise<Reply>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      child.send({ type: 'request', id, request } satisfies ToServer);
    });
    if (reply.type === 'error') throw new Error(`the server process failed: ${reply.message}`);
    if (reply.type !== expect) throw new Error(`expected ${expect} from the server process, got ${reply.type}`);
    return reply as Extract<Reply, { type: T }>;
  };
  return {
    endpoints: first.endpoints,
    cloudwatch: first.cloudwatch,
    counts: async () => (await call({ type: 'counts' }, 'counts')).counts,
    proxy: async (service, options) => {
      const { id, endpoint } = await call({ type: 'startProxy', options: { ...options, service } }, 'proxy');
      return {
        endpoint,
        counts: async () => (await call({ type: 'proxyCounts', id }, 'proxyCounts')).counts,
        close: async () => { await call({ type: 'closeProxy', id }, 'closed'); },
      };
    },
    stop: async () => {
      if (child.exitCode === null) child.send({ type: 'stop' } satisfies ToServer);
      await exited;
      group?.remove();
    },
  };
}

if (require.main === module && process.argv.includes('--serve')) {
  serve().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
