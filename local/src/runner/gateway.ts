/**
 * The local run's front door on 127.0.0.1: the test page and its config, and
 * the AWS APIs the page and the functions use:
 *
 * - Lambda Invoke (`POST /2015-03-31/functions/<name>/invocations`, as
 *   `sam local start-lambda` offers) and ListFunctions;
 * - SQS and CloudWatch (the run's own endpoints, AWS JSON 1.0);
 * - Kinesis and DynamoDB, passed through to kinesalite and dynalite, which
 *   send no CORS headers themselves;
 * - AWS IoT Core's Publish (`POST /topics/<topic>`), into the topic rules.
 *
 * And the app's own HTTP endpoints, with the CORS their templates configure:
 * HTTP APIs under `/http-apis/<api id>/` and Function URLs under
 * `/function-urls/<url id>/`.
 *
 * Requests are told apart by their X-Amz-Target header or their path, so one
 * endpoint serves every SDK client.
 *
 * It holds the run's tables, streams and queues, so it answers only requests
 * addressed to it (a Host header of 127.0.0.1 or localhost and its port: a
 * page that reached it under another name, by DNS rebinding, is refused) and,
 * of the pages in a browser, only its own page (Origin http://127.0.0.1:PORT or
 * http://localhost:PORT) may call its AWS APIs; the app's HTTP APIs and
 * Function URLs answer other origins as their CORS configuration says. Each
 * body is read within the limit of the service it is for (`request-body.ts`).
 */
import { existsSync, readFileSync, statSync } from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import { AwsJsonService, serveAwsJson } from './aws-json';
import { FUNCTION_URL_PREFIX, HTTP_API_PREFIX, HttpEndpoints } from './http-endpoints';
import { IotRules, MAX_PAYLOAD_BYTES as MAX_IOT_PAYLOAD_BYTES } from './iot-rules';
import { InvokeResult } from './lambda-runtime';
import { BodyLimit, readBody, RequestBodyError, setBodyLimit } from './request-body';

export interface LambdaApi {
  /** The function a name, ARN or partial ARN names, if it runs locally. */
  find(nameOrArn: string): { name: string; arn: string; invoke(payload: string): Promise<InvokeResult> } | undefined;
  list(): Array<{ FunctionName: string; FunctionArn: string; Runtime: string; Handler: string; MemorySize: number; Timeout: number }>;
}

export interface GatewayOptions {
  readonly port: number;
  readonly pageDirectory: string;
  readonly config: () => unknown;
  readonly services: readonly AwsJsonService[];
  /** The topic rules, once the run has planned them. */
  readonly iot?: () => IotRules | undefined;
  /** HTTP APIs and Function URLs, once the run has planned them. */
  readonly http?: () => HttpEndpoints | undefined;
  /** X-Amz-Target prefix to upstream endpoint, passed through unchanged. */
  readonly passThrough: Readonly<Record<string, () => string>>;
  readonly lambda: LambdaApi;
}

const EXPOSED_HEADERS = [
  'x-amzn-requestid', 'x-amzn-errortype', 'x-amz-function-error', 'x-amz-executed-version', 'x-amz-log-result',
  'x-amz-crc32', 'x-amzn-query-error', 'x-amz-id-2', 'date',
].join(', ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

/**
 * Lambda's limits on an Invoke payload: 6 MB synchronous (its own error
 * message counts 6,291,456 bytes), 1 MB asynchronous (`Event`).
 */
const MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024;
const MAX_ASYNC_INVOKE_PAYLOAD = 1024 * 1024;

/**
 * The limit of each service's requests, as sent. Where AWS writes MB without
 * the bytes, the stricter reading (10^6) is taken.
 */
export const BODY_LIMITS = {
  /**
   * SQS limits a message (body and attributes), and a batch's messages
   * together, to 1 MiB (the most a queue's MaximumMessageSize allows; 256 KiB
   * before 2025); the SQS server checks that. A request carries them as JSON,
   * where `"`, `\` and line breaks take two bytes, with up to 10 entries' ids
   * and attribute names besides.
   */
  sqs: { maxBytes: 2 * 1_048_576 + 262_144, what: 'SQS requests' },
  /**
   * PutMetricData: 1 MB per request as sent, and gzip is allowed so that
   * 1,000 data with 150 values each fit; inflated, the largest valid request is
   * 1,000 data of 30 dimensions (255 + 1,024 characters) and 150 values and
   * counts each, about 46 MB.
   */
  cloudwatch: { maxBytes: 1_000_000, maxInflatedBytes: 48_000_000, what: 'CloudWatch requests' },
  /**
   * Kinesis: a PutRecords of 5 MiB (500 records of up to 1 MiB; Kinesis has
   * taken 10 MiB since 2025, kinesalite checks the earlier limits), base64 in
   * JSON: kinesalite's own 7 MiB.
   */
  kinesis: { maxBytes: 7 * 1024 * 1024, what: 'Kinesis requests (a 5 MiB PutRecords in base64)' },
  /** DynamoDB: a BatchWriteItem sends at most 16 MB over the network. */
  dynamodb: { maxBytes: 16_000_000, what: 'DynamoDB requests' },
  invoke: { maxBytes: MAX_INVOKE_PAYLOAD, what: 'synchronous Invoke payloads' },
  asyncInvoke: { maxBytes: MAX_ASYNC_INVOKE_PAYLOAD, what: 'asynchronous (Event) Invoke payloads' },
  /** AWS IoT: a message payload is at most 128 KiB. */
  iot: { maxBytes: MAX_IOT_PAYLOAD_BYTES, what: 'AWS IoT messages' },
  /** HTTP APIs take 10 MB payloads; a Function URL, Lambda's 6 MB (each then checks the event against Lambda's limit). */
  httpApi: { maxBytes: 10_000_000, what: 'HTTP API payloads' },
  functionUrl: { maxBytes: MAX_INVOKE_PAYLOAD, what: 'Function URL payloads' },
} satisfies Record<string, BodyLimit>;

/** Which API a request is for, for its body limit and the shape of its errors. */
type Route = 'aws-json' | 'pass-through' | 'invoke' | 'iot' | 'http-endpoint' | 'other';

/** The request limits of the services passed through, by X-Amz-Target prefix. */
const PASS_THROUGH_LIMITS: Record<string, BodyLimit> = {
  Kinesis_20131202: BODY_LIMITS.kinesis,
  DynamoDB_20120810: BODY_LIMITS.dynamodb,
};

/** Headers of one connection (RFC 9110 7.6.1) and those the gateway rewrites, never passed upstream. */
const NOT_FORWARDED = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'origin', 'content-encoding', 'content-length', 'host'];

export class Gateway {
  static async start(options: GatewayOptions): Promise<Gateway> {
    const gateway = new Gateway(options);
    await new Promise<void>((resolve, reject) => {
      gateway.server.once('error', reject);
      gateway.server.listen(options.port, '127.0.0.1', () => {
        gateway.server.off('error', reject);
        resolve();
      });
    });
    return gateway;
  }

  private readonly server: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true });

  private constructor(private readonly options: GatewayOptions) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    // The SDK keeps connections open; long polls of the dead-letter queue last up to 20 s.
    this.server.keepAliveTimeout = 65_000;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The Host headers that name this gateway. */
  private get hosts(): string[] {
    const names = ['127.0.0.1', 'localhost'];
    return [...names.map((n) => `${n}:${this.port}`), ...(this.port === 80 ? names : [])];
  }

  /** The origins of the gateway's own page. */
  private get origins(): string[] {
    return this.hosts.map((h) => `http://${h}`);
  }

  /** Why a request may not be answered (a foreign Host or page), or undefined. */
  private refusal(req: http.IncomingMessage, pathname: string): string | undefined {
    const host = req.headers.host;
    if (!host) return 'the request has no Host header';
    if (!this.hosts.includes(host.toLowerCase())) {
      return `the Host header ${host} does not name this endpoint (${this.hosts.join(' or ')}): a request that reached it under another name is refused`;
    }
    // The app's HTTP APIs and Function URLs answer other pages as their CORS configuration says.
    if (pathname.startsWith(HTTP_API_PREFIX) || pathname.startsWith(FUNCTION_URL_PREFIX)) return undefined;
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!this.origins.includes(origin.toLowerCase())) {
        return `the page at ${origin} may not call the local AWS endpoints: only the run's own page (${this.origins.join(' or ')}) may`;
      }
    } else if (req.headers['sec-fetch-site'] === 'cross-site') {
      return 'a request from another site may not call the local AWS endpoints';
    }
    return undefined;
  }

  private cors(req: http.IncomingMessage): http.OutgoingHttpHeaders {
    // Only the gateway's own origins get this far with an Origin header.
    return req.headers.origin
      ? { 'access-control-allow-origin': req.headers.origin, 'access-control-expose-headers': EXPOSED_HEADERS, 'vary': 'Origin' }
      : { vary: 'Origin' };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let route: Route = 'other';
    try {
      const rawUrl = req.url ?? '';
      let url: URL | undefined;
      try {
        // Origin-form only: `//host/path` is a path here, not another host.
        if (rawUrl.startsWith('/')) url = new URL(`http://gateway${rawUrl}`);
      } catch {
        url = undefined;
      }
      if (!url) return this.sendText(req, res, 400, `the request target ${JSON.stringify(rawUrl.slice(0, 200))} is not a path`);
      const refused = this.refusal(req, url.pathname);
      if (refused) {
        const body = Buffer.from(JSON.stringify({ __type: 'AccessDeniedException', message: refused }));
        res.writeHead(403, { 'content-type': 'application/json', 'content-length': body.length, 'x-amzn-errortype': 'AccessDeniedException', 'connection': 'close' });
        res.end(body);
        return;
      }
      route = this.routeOf(req, url);
      await this.route(req, res, url);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
      } else if (err instanceof RequestBodyError) {
        this.bodyError(req, res, route, err);
      } else {
        this.sendText(req, res, 500, String((err as Error).message));
      }
    }
  }

  /** Which API a request is for, and the limit its body is read within. */
  private routeOf(req: http.IncomingMessage, url: URL): Route {
    const target = String(req.headers['x-amz-target'] ?? '');
    const prefix = target.split('.')[0];
    let route: Route = 'other';
    let limit: BodyLimit | undefined;
    if (url.pathname.startsWith(HTTP_API_PREFIX)) {
      [route, limit] = ['http-endpoint', BODY_LIMITS.httpApi];
    } else if (url.pathname.startsWith(FUNCTION_URL_PREFIX)) {
      [route, limit] = ['http-endpoint', BODY_LIMITS.functionUrl];
    } else if (target) {
      const service = this.options.services.find((s) => s.targetPrefix === prefix);
      if (service) [route, limit] = ['aws-json', service.targetPrefix === 'AmazonSQS' ? BODY_LIMITS.sqs : BODY_LIMITS.cloudwatch];
      else if (this.options.passThrough[prefix]) [route, limit] = ['pass-through', PASS_THROUGH_LIMITS[prefix] ?? BODY_LIMITS.dynamodb];
    } else if (url.pathname.startsWith('/topics/')) {
      [route, limit] = ['iot', BODY_LIMITS.iot];
    } else if (/^\/2015-03-31\/functions\/[^/]+\/invocations$/.test(url.pathname)) {
      route = 'invoke';
      limit = String(req.headers['x-amz-invocation-type'] ?? '') === 'Event' ? BODY_LIMITS.asyncInvoke : BODY_LIMITS.invoke;
    }
    setBodyLimit(req, limit ?? { maxBytes: 0, what: `${req.method} ${url.pathname} requests` });
    return route;
  }

  /** A body past its limit, in another coding or malformed, answered as the service it was for answers. */
  private bodyError(req: http.IncomingMessage, res: http.ServerResponse, route: Route, err: RequestBodyError): void {
    // The rest of the body is not waited for.
    const close = { connection: 'close' };
    switch (route) {
      case 'invoke': {
        const type = err.status === 413 ? 'RequestTooLargeException' : err.status === 415 ? 'UnsupportedMediaTypeException' : 'InvalidRequestContentException';
        const message = err.status === 413
          ? `Request must be smaller than ${(String(req.headers['x-amz-invocation-type']) === 'Event' ? MAX_ASYNC_INVOKE_PAYLOAD : MAX_INVOKE_PAYLOAD)} bytes for the InvokeFunction operation (${err.message})`
          : err.message;
        return this.sendJson(req, res, err.status, { Type: 'User', message }, { 'x-amzn-errortype': type, ...close });
      }
      case 'iot': {
        const type = err.status === 413 ? 'RequestEntityTooLargeException' : err.status === 415 ? 'UnsupportedDocumentEncodingException' : 'InvalidRequestException';
        const message = err.status === 413
          ? `the payload is ${err.bytes === undefined ? `larger than ${err.limit}` : err.bytes} bytes; AWS IoT takes ${err.limit} at most`
          : err.message;
        return this.sendJson(req, res, err.status, { message }, { 'x-amzn-errortype': type, ...close });
      }
      case 'other':
        return this.sendText(req, res, err.status, err.message, close);
      default:
        return this.sendJson(req, res, err.status, { __type: err.code, message: err.message }, { 'x-amzn-errortype': err.code, ...close });
    }
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    // The app's HTTP endpoints answer CORS as their templates say, not as the gateway does.
    const endpoints = this.options.http?.();
    if (endpoints && await endpoints.serve(req, res, url)) return;
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...this.cors(req),
        'access-control-allow-methods': 'GET, POST, PUT, DELETE, HEAD, OPTIONS',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '*',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target) {
      const prefix = target.split('.')[0];
      const service = this.options.services.find((s) => s.targetPrefix === prefix);
      if (service) return serveAwsJson(service, req, res, this.cors(req));
      const upstream = this.options.passThrough[prefix];
      if (upstream) return this.forward(req, res, upstream());
      return this.sendJson(req, res, 400, { __type: 'UnknownOperationException', message: `no local service answers ${target}` });
    }
    const iot = this.options.iot?.();
    if (iot && await iot.serve(req, res, url, this.cors(req))) return;
    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(url.pathname);
    if (invoke && req.method === 'POST') {
      const name = decodePath(invoke[1]);
      if (name === undefined) {
        return this.sendJson(req, res, 400, { Type: 'User', message: `the function name ${invoke[1]} is not valid percent-encoding` },
          { 'x-amzn-errortype': 'InvalidParameterValueException' });
      }
      return this.invoke(req, res, name, url);
    }
    if (/^\/2015-03-31\/functions\/?$/.test(url.pathname) && req.method === 'GET') {
      return this.sendJson(req, res, 200, { Functions: this.options.lambda.list() });
    }
    if (req.method === 'GET' || req.method === 'HEAD') return this.serveStatic(req, res, url.pathname);
    return this.sendJson(req, res, 404, { message: `nothing answers ${req.method} ${url.pathname} here` });
  }

  private sendText(req: http.IncomingMessage, res: http.ServerResponse, status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void {
    const body = Buffer.from(text, 'utf8');
    res.writeHead(status, { ...this.cors(req), 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, ...headers });
    res.end(body);
  }

  private sendJson(
    req: http.IncomingMessage, res: http.ServerResponse, status: number, payload: unknown, headers: http.OutgoingHttpHeaders = {},
  ): void {
    const body = Buffer.from(JSON.stringify(payload));
    res.writeHead(status, { ...this.cors(req), 'content-type': 'application/json', 'content-length': body.length, ...headers });
    res.end(body);
  }

  private async invoke(req: http.IncomingMessage, res: http.ServerResponse, name: string, url: URL): Promise<void> {
    const body = await readBody(req);
    const fn = this.options.lambda.find(name);
    const qualifier = url.searchParams.get('Qualifier');
    if (!fn || (qualifier && qualifier !== '$LATEST')) {
      return this.sendJson(req, res, 404, { Type: 'User', message: `Function not found: ${name}${qualifier ? `:${qualifier}` : ''}` },
        { 'x-amzn-errortype': 'ResourceNotFoundException' });
    }
    const payload = body.length ? body.toString('utf8') : '{}';
    try {
      JSON.parse(payload);
    } catch {
      return this.sendJson(req, res, 400, { Type: 'User', message: 'Could not parse request body into json' }, { 'x-amzn-errortype': 'InvalidRequestContentException' });
    }
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (type === 'DryRun') {
      res.writeHead(204, this.cors(req));
      res.end();
      return;
    }
    if (type === 'Event') {
      void fn.invoke(payload);
      res.writeHead(202, { ...this.cors(req), 'content-length': 0 });
      res.end();
      return;
    }
    const result = await fn.invoke(payload);
    const headers: http.OutgoingHttpHeaders = {
      'x-amz-executed-version': '$LATEST',
      'x-amzn-requestid': result.requestId,
      ...(result.functionError ? { 'x-amz-function-error': result.functionError } : {}),
    };
    if (String(req.headers['x-amz-log-type'] ?? '') === 'Tail') {
      // Lambda returns the last 4 KB of the invocation's log.
      const log = Buffer.from(result.logs.join('\n') + '\n', 'utf8');
      headers['x-amz-log-result'] = log.subarray(Math.max(0, log.length - 4096)).toString('base64');
    }
    const out = Buffer.from(result.payload, 'utf8');
    res.writeHead(200, { ...this.cors(req), 'content-type': 'application/json', 'content-length': out.length, ...headers });
    res.end(out);
  }

  /**
   * Passes a request to kinesalite or dynalite, with the body read (within
   * the service's limit, inflated) and sent with a Content-Length: a chunked
   * or gzip request is answered as any other.
   */
  private async forward(req: http.IncomingMessage, res: http.ServerResponse, upstream: string): Promise<void> {
    const body = await readBody(req);
    const target = new URL(upstream);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!NOT_FORWARDED.includes(name)) headers[name] = value;
    headers.host = target.host;
    headers['content-length'] = body.length;
    try {
      await new Promise<void>((resolve, reject) => {
        const request = { hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: this.agent };
        const up = http.request(request, (answer) => {
          const h: http.OutgoingHttpHeaders = { ...answer.headers, ...this.cors(req) };
          delete h.connection;
          delete h['keep-alive'];
          res.writeHead(answer.statusCode ?? 502, h);
          answer.pipe(res);
          answer.on('end', resolve);
          answer.on('error', reject);
        });
        up.on('error', reject);
        up.end(body);
      });
    } catch (err) {
      if (res.headersSent) throw err;
      const message = `the local server behind ${String(req.headers['x-amz-target'])} did not answer: ${(err as Error).message}`;
      this.sendJson(req, res, 502, { __type: 'ServiceUnavailable', message }, { 'x-amzn-errortype': 'ServiceUnavailable' });
    }
  }

  private serveStatic(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void {
    if (pathname === '/config.json') return this.sendJson(req, res, 200, this.options.config(), { 'cache-control': 'no-store' });
    const decoded = decodePath(pathname);
    if (decoded === undefined) return this.sendText(req, res, 400, `the path ${pathname} is not valid percent-encoding`);
    const relative = pathname === '/' ? 'index.html' : decoded.replace(/^\/+/, '');
    const root = path.resolve(this.options.pageDirectory);
    const file = path.resolve(root, relative);
    if (!file.startsWith(root + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      const missing = relative.startsWith('dist/')
        ? `${relative} is not built: run \`npx projen page:build\` (npm run demo does it)`
        : `${relative} is not part of the page`;
      res.writeHead(404, { ...this.cors(req), 'content-type': 'text/plain; charset=utf-8' });
      res.end(missing);
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, {
      ...this.cors(req),
      'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

/** A percent-encoded path or path segment, decoded; undefined when it is not valid percent-encoding. */
function decodePath(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}
