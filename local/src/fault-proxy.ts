/**
 * A fault-injecting HTTP proxy in front of dynalite. For a share of the calls
 * of one operation (X-Amz-Target, e.g. DynamoDB_20120810.BatchWriteItem) it
 * injects one of these faults, chosen with a seeded PRNG so that a run is
 * repeatable:
 *
 * - `unprocessed`: a random non-empty subset of the put requests is stripped
 *   from the request before it is forwarded (so those items are really not
 *   written) and returned to the client as UnprocessedItems;
 * - `throttle`: answers 400 ProvisionedThroughputExceededException without
 *   forwarding;
 * - `error500`: answers HTTP 500 without forwarding;
 * - `reset`: forwards the request (the write happens) and then destroys the
 *   client's connection without an answer, so the client cannot know.
 *
 * Two more modes model a real table rather than a fault, and can be combined
 * with the faults and with each other:
 *
 * - latency (`latencyMs`): every call takes a fixed round trip, half on the
 *   way to dynalite and half on the way back, as an in-region DynamoDB call
 *   costs (dynalite on 127.0.0.1 answers in well under a millisecond);
 * - capacity (`capacity`): the operation's put requests draw from a token
 *   bucket of items per second, as a table's write capacity does. A call
 *   writes as many items as there are tokens and returns the rest as
 *   UnprocessedItems (never forwarded); with no token at all it is answered
 *   ProvisionedThroughputExceededException, as DynamoDB answers a
 *   BatchWriteItem of which nothing could be written.
 *
 * Every other call passes through unchanged. The proxy counts what it did.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import * as zlib from 'zlib';
import { seededRandom } from './device-records';
import { closeServer, guardLoopback } from './servers';

export type FaultKind = 'unprocessed' | 'throttle' | 'error500' | 'reset';

export interface CapacityLimit {
  /** Items the table accepts per second: the bucket's refill rate. */
  readonly itemsPerSecond: number;
  /** The bucket's size: tokens saved up while calls are idle. Default one second's worth. The bucket starts empty at the first call. */
  readonly burstItems?: number;
}

export interface FaultProxyOptions {
  /** Where to forward, e.g. http://127.0.0.1:PORT (dynalite). */
  readonly target: string;
  /** The operation to fault and to hold to `capacity`, e.g. DynamoDB_20120810.BatchWriteItem. */
  readonly faultTarget: string;
  /** Share of that operation's calls that get a fault, 0..1. Default 0. */
  readonly faultRate?: number;
  /** The kinds to choose from, uniformly; required when `faultRate` is above 0. */
  readonly kinds?: readonly FaultKind[];
  /** Seed of the fault draws. Default 1. */
  readonly seed?: number;
  /** A fixed round trip added to every call, in milliseconds. Default 0. */
  readonly latencyMs?: number;
  /** Holds the operation's put requests to a write rate. Default none. */
  readonly capacity?: CapacityLimit;
}

export interface FaultCounts {
  /** Requests per X-Amz-Target. */
  calls: Record<string, number>;
  /** Faults injected, by kind. */
  faults: Record<FaultKind, number>;
  /** Put requests stripped and returned as UnprocessedItems. */
  itemsStripped: number;
  /** Put requests of the faulted operation that reached dynalite. */
  itemsForwarded: number;
  /** Capacity mode: put requests returned as UnprocessedItems for want of a token. */
  itemsDeferred: number;
  /** Capacity mode: calls answered ProvisionedThroughputExceededException for want of any token. */
  capacityThrottles: number;
}

/** CRC32 (IEEE) of a body, as DynamoDB sends in x-amz-crc32; undefined where this Node has no zlib.crc32 (Node < 20.15). */
export function crc32(body: Buffer): number | undefined {
  return typeof zlib.crc32 === 'function' ? zlib.crc32(body) : undefined;
}

const JSON_TYPE = 'application/x-amz-json-1.0';

interface WriteRequests {
  RequestItems: Record<string, unknown[]>;
}

export class FaultProxy {
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  readonly counts: FaultCounts = {
    calls: {},
    faults: { unprocessed: 0, throttle: 0, error500: 0, reset: 0 },
    itemsStripped: 0,
    itemsForwarded: 0,
    itemsDeferred: 0,
    capacityThrottles: 0,
  };

  /** Set to false to let everything through. */
  enabled = true;

  private readonly random: () => number;
  private readonly server: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly targetUrl: URL;
  private readonly faultRate: number;
  private readonly kinds: readonly FaultKind[];
  private readonly bucket?: TokenBucket;

  private constructor(private readonly options: FaultProxyOptions) {
    this.faultRate = options.faultRate ?? 0;
    this.kinds = options.kinds ?? [];
    if (this.faultRate > 0 && this.kinds.length === 0) throw new Error('at least one fault kind is required');
    const latency = options.latencyMs ?? 0;
    if (!(latency >= 0)) throw new Error(`latencyMs must be 0 or more, got ${latency}`);
    if (options.capacity) this.bucket = new TokenBucket(options.capacity);
    this.random = seededRandom(options.seed ?? 1);
    this.targetUrl = new URL(options.target);
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.handle(req, Buffer.concat(chunks), res).catch((err) => {
          res.destroy(err as Error);
        });
      });
    });
    guardLoopback(this.server);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Faults injected, all kinds. */
  get totalFaults(): number {
    return Object.values(this.counts.faults).reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await closeServer(this.server);
  }

  private async handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const halfTrip = (this.options.latencyMs ?? 0) / 2;
    if (halfTrip > 0) await sleep(halfTrip);
    const answer = await this.answer(req, body);
    if (halfTrip > 0) await sleep(halfTrip);
    if (answer === 'reset') {
      res.socket?.destroy();
      return;
    }
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  }

  private async answer(req: http.IncomingMessage, body: Buffer): Promise<Answer | 'reset'> {
    const target = String(req.headers['x-amz-target'] ?? '');
    this.counts.calls[target] = (this.counts.calls[target] ?? 0) + 1;
    const faulted = target === this.options.faultTarget;
    // Draw for every call of the operation, so the sequence does not depend on `enabled`.
    const draw = faulted && this.faultRate > 0 ? this.random() : 1;
    if (!faulted || !this.enabled || draw >= this.faultRate) {
      if (faulted && this.enabled && this.bucket) return this.limited(req, body, this.bucket);
      if (faulted) this.counts.itemsForwarded += countItems(body);
      return this.forward(req, body);
    }
    const kind = this.kinds[Math.floor(this.random() * this.kinds.length)];
    this.counts.faults[kind]++;
    switch (kind) {
      case 'throttle':
        return throughputExceeded('The level of configured provisioned throughput for the table was exceeded. (injected by the fault proxy)');
      case 'error500':
        return jsonAnswer(500, {
          __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
          message: 'Internal server error (injected by the fault proxy)',
        });
      case 'reset': {
        this.counts.itemsForwarded += countItems(body);
        await this.forward(req, body);
        return 'reset';
      }
      case 'unprocessed':
        return this.unprocessed(req, body);
    }
  }

  /** Capacity mode: writes as many put requests as the bucket has tokens for, in request order. */
  private async limited(req: http.IncomingMessage, body: Buffer, bucket: TokenBucket): Promise<Answer> {
    const request = JSON.parse(body.toString('utf8')) as WriteRequests;
    const total = Object.values(request.RequestItems).reduce((n, l) => n + l.length, 0);
    const granted = bucket.take(total);
    if (granted === 0) {
      this.counts.capacityThrottles++;
      return throughputExceeded('The level of configured provisioned throughput for the table was exceeded. (capacity limit of the fault proxy)');
    }
    if (granted === total) {
      this.counts.itemsForwarded += total;
      return this.forward(req, body);
    }
    const kept: Record<string, unknown[]> = {};
    const deferred: Record<string, unknown[]> = {};
    let left = granted;
    for (const [table, writes] of Object.entries(request.RequestItems)) {
      for (const w of writes) (left-- > 0 ? (kept[table] ??= []) : (deferred[table] ??= [])).push(w);
    }
    this.counts.itemsDeferred += total - granted;
    return this.forwardPart(req, request, kept, deferred);
  }

  /** Strips a random non-empty subset of the put requests and returns it as UnprocessedItems. */
  private async unprocessed(req: http.IncomingMessage, body: Buffer): Promise<Answer> {
    const request = JSON.parse(body.toString('utf8')) as WriteRequests;
    const stripped: Record<string, unknown[]> = {};
    const kept: Record<string, unknown[]> = {};
    for (const [table, writes] of Object.entries(request.RequestItems)) {
      for (const w of writes) {
        // Each put independently, but at least one stripped overall (below).
        (this.random() < 0.5 ? (stripped[table] ??= []) : (kept[table] ??= [])).push(w);
      }
    }
    if (Object.keys(stripped).length === 0) {
      // Move one, so that the fault is real.
      const [table, writes] = Object.entries(kept)[0];
      stripped[table] = [writes.shift()];
      if (writes.length === 0) delete kept[table];
    }
    this.counts.itemsStripped += Object.values(stripped).reduce((n, l) => n + l.length, 0);
    return this.forwardPart(req, request, kept, stripped);
  }

  /** Forwards the `kept` put requests and answers with `held` added to dynalite's UnprocessedItems. */
  private async forwardPart(
    req: http.IncomingMessage, request: WriteRequests, kept: Record<string, unknown[]>, held: Record<string, unknown[]>,
  ): Promise<Answer> {
    let answer: { UnprocessedItems?: Record<string, unknown[]> } & Record<string, unknown> = {};
    if (Object.keys(kept).length > 0) {
      const forwardedBody = Buffer.from(JSON.stringify({ ...request, RequestItems: kept }), 'utf8');
      this.counts.itemsForwarded += countItems(forwardedBody);
      const upstream = await this.forward(req, forwardedBody);
      // Not the answer this proxy meant to shape: pass dynalite's on.
      if (upstream.status !== 200) return upstream;
      answer = JSON.parse(upstream.body.toString('utf8'));
    }
    const merged: Record<string, unknown[]> = { ...(answer.UnprocessedItems ?? {}) };
    for (const [table, writes] of Object.entries(held)) merged[table] = [...(merged[table] ?? []), ...writes];
    return jsonAnswer(200, { ...answer, UnprocessedItems: merged });
  }

  private forward(req: http.IncomingMessage, body: Buffer): Promise<Answer> {
    // The Host header stays the client's: SigV4 signs it, and s3rver checks signatures.
    const headers: http.OutgoingHttpHeaders = { ...req.headers, 'content-length': body.length };
    return new Promise((resolve, reject) => {
      const upstream = http.request({
        hostname: this.targetUrl.hostname,
        port: this.targetUrl.port,
        method: req.method,
        path: req.url,
        headers,
        agent: this.agent,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = Buffer.concat(chunks);
          const h: http.OutgoingHttpHeaders = { ...res.headers };
          delete h.connection;
          delete h['keep-alive'];
          delete h['transfer-encoding'];
          h['content-length'] = out.length;
          resolve({ status: res.statusCode ?? 502, headers: h, body: out });
        });
        res.on('error', reject);
      });
      upstream.on('error', reject);
      upstream.end(body);
    });
  }
}

function countItems(body: Buffer): number {
  try {
    const request = JSON.parse(body.toString('utf8')) as Partial<WriteRequests>;
    return Object.values(request.RequestItems ?? {}).reduce((n, l) => n + l.length, 0);
  } catch {
    return 0;
  }
}

interface Answer {
  readonly status: number;
  readonly headers: http.OutgoingHttpHeaders;
  readonly body: Buffer;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Tokens of one item each, refilled continuously at `itemsPerSecond` up to
 * `burstItems`. It starts empty at the first `take`, so that a run measures
 * the sustained rate, not a burst saved up before it began.
 */
export class TokenBucket {
  private tokens = 0;
  private last?: number;
  private readonly rate: number;
  private readonly size: number;

  constructor(limit: CapacityLimit, private readonly now: () => number = () => performance.now()) {
    this.rate = limit.itemsPerSecond;
    this.size = limit.burstItems ?? limit.itemsPerSecond;
    if (!(this.rate > 0)) throw new Error(`capacity.itemsPerSecond must be above 0, got ${this.rate}`);
    if (!(this.size >= 1)) throw new Error(`capacity.burstItems must be 1 or more, got ${this.size}`);
  }

  /** Takes up to `wanted` whole tokens and returns how many it took. */
  take(wanted: number): number {
    const t = this.now();
    this.tokens = Math.min(this.size, this.tokens + ((t - (this.last ?? t)) / 1000) * this.rate);
    this.last = t;
    const granted = Math.min(wanted, Math.floor(this.tokens));
    this.tokens -= granted;
    return granted;
  }
}

function throughputExceeded(message: string): Answer {
  return jsonAnswer(400, { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message });
}

/** A DynamoDB-style JSON answer, with the CRC32 header DynamoDB sends (recomputed, since the body is ours). */
function jsonAnswer(status: number, payload: unknown): Answer {
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const headers: http.OutgoingHttpHeaders = {
    'content-type': JSON_TYPE,
    'content-length': body.length,
    'x-amzn-requestid': `fault-proxy-${Date.now().toString(36)}`,
  };
  // Without zlib.crc32 the header is left out: the v3 SDK does not check it (v2 did).
  const checksum = crc32(body);
  if (checksum !== undefined) headers['x-amz-crc32'] = String(checksum);
  return { status, headers, body };
}
