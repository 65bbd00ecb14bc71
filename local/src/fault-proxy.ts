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
 * Every other call passes through unchanged. The proxy counts what it did.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import * as zlib from 'zlib';
import { seededRandom } from './device-records';
import { closeServer } from './servers';

export type FaultKind = 'unprocessed' | 'throttle' | 'error500' | 'reset';

export interface FaultProxyOptions {
  /** Where to forward, e.g. http://127.0.0.1:PORT (dynalite). */
  readonly target: string;
  /** The operation to fault, e.g. DynamoDB_20120810.BatchWriteItem. */
  readonly faultTarget: string;
  /** Share of that operation's calls that get a fault, 0..1. */
  readonly faultRate: number;
  /** The kinds to choose from, uniformly. */
  readonly kinds: readonly FaultKind[];
  readonly seed: number;
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
  };

  /** Set to false to let everything through. */
  enabled = true;

  private readonly random: () => number;
  private readonly server: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly targetUrl: URL;

  private constructor(private readonly options: FaultProxyOptions) {
    if (options.kinds.length === 0) throw new Error('at least one fault kind is required');
    this.random = seededRandom(options.seed);
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
    const target = String(req.headers['x-amz-target'] ?? '');
    this.counts.calls[target] = (this.counts.calls[target] ?? 0) + 1;
    const faulted = target === this.options.faultTarget;
    // Draw for every call of the operation, so the sequence does not depend on `enabled`.
    const draw = faulted ? this.random() : 1;
    if (!faulted || !this.enabled || draw >= this.options.faultRate) {
      if (faulted) this.counts.itemsForwarded += countItems(body);
      const upstream = await this.forward(req, body);
      res.writeHead(upstream.status, upstream.headers);
      res.end(upstream.body);
      return;
    }
    const kind = this.options.kinds[Math.floor(this.random() * this.options.kinds.length)];
    this.counts.faults[kind]++;
    switch (kind) {
      case 'throttle':
        return sendJson(res, 400, {
          __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
          message: 'The level of configured provisioned throughput for the table was exceeded. (injected by the fault proxy)',
        });
      case 'error500':
        return sendJson(res, 500, {
          __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
          message: 'Internal server error (injected by the fault proxy)',
        });
      case 'reset': {
        this.counts.itemsForwarded += countItems(body);
        await this.forward(req, body);
        res.socket?.destroy();
        return;
      }
      case 'unprocessed':
        return this.unprocessed(req, body, res);
    }
  }

  /** Strips a random non-empty subset of the put requests and returns it as UnprocessedItems. */
  private async unprocessed(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
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
    const strippedCount = Object.values(stripped).reduce((n, l) => n + l.length, 0);
    this.counts.itemsStripped += strippedCount;
    let answer: { UnprocessedItems?: Record<string, unknown[]> } & Record<string, unknown> = {};
    if (Object.keys(kept).length > 0) {
      const forwardedBody = Buffer.from(JSON.stringify({ ...request, RequestItems: kept }), 'utf8');
      this.counts.itemsForwarded += countItems(forwardedBody);
      const upstream = await this.forward(req, forwardedBody);
      if (upstream.status !== 200) {
        // Not the fault this proxy meant to inject: pass dynalite's answer on.
        res.writeHead(upstream.status, upstream.headers);
        res.end(upstream.body);
        return;
      }
      answer = JSON.parse(upstream.body.toString('utf8'));
    }
    const merged: Record<string, unknown[]> = { ...(answer.UnprocessedItems ?? {}) };
    for (const [table, writes] of Object.entries(stripped)) merged[table] = [...(merged[table] ?? []), ...writes];
    return sendJson(res, 200, { ...answer, UnprocessedItems: merged });
  }

  private forward(req: http.IncomingMessage, body: Buffer): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    const headers: http.OutgoingHttpHeaders = { ...req.headers, 'host': this.targetUrl.host, 'content-length': body.length };
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

/** A DynamoDB-style JSON answer, with the CRC32 header DynamoDB sends (recomputed, since the body is ours). */
function sendJson(res: http.ServerResponse, status: number, payload: unknown): void {
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const headers: http.OutgoingHttpHeaders = {
    'content-type': JSON_TYPE,
    'content-length': body.length,
    'x-amzn-requestid': `fault-proxy-${Date.now().toString(36)}`,
  };
  // Without zlib.crc32 the header is left out: the v3 SDK does not check it (v2 did).
  const checksum = crc32(body);
  if (checksum !== undefined) headers['x-amz-crc32'] = String(checksum);
  res.writeHead(status, headers);
  res.end(body);
}
