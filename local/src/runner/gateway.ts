/**
 * The local run's front door on 127.0.0.1: the test page and its config, and
 * the AWS APIs the page and the functions use, all with CORS so that a page
 * served from anywhere can call them:
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
 */
import { existsSync, readFileSync, statSync } from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import { AwsJsonService, readBody, serveAwsJson } from './aws-json';
import { HttpEndpoints } from './http-endpoints';
import { IotRules } from './iot-rules';
import { InvokeResult } from './lambda-runtime';

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

/** Lambda's limit on a synchronous invocation's request payload. */
const MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024;

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
    this.server = http.createServer((req, res) => {
      this.route(req, res).catch((err) => {
        if (!res.headersSent) {
          res.writeHead(500, { ...this.cors(req), 'content-type': 'text/plain' });
          res.end(String((err as Error).message));
        } else {
          res.destroy();
        }
      });
    });
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

  private cors(req: http.IncomingMessage): http.OutgoingHttpHeaders {
    return {
      'access-control-allow-origin': req.headers.origin ?? '*',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': EXPOSED_HEADERS,
      'vary': 'Origin',
    };
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
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
    if (invoke && req.method === 'POST') return this.invoke(req, res, decodeURIComponent(invoke[1]), url);
    if (/^\/2015-03-31\/functions\/?$/.test(url.pathname) && req.method === 'GET') {
      return this.sendJson(req, res, 200, { Functions: this.options.lambda.list() });
    }
    if (req.method === 'GET' || req.method === 'HEAD') return this.serveStatic(req, res, url.pathname);
    return this.sendJson(req, res, 404, { message: `nothing answers ${req.method} ${url.pathname} here` });
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
    if (body.length > MAX_INVOKE_PAYLOAD) {
      return this.sendJson(req, res, 413, { Type: 'User', message: `Request must be smaller than ${MAX_INVOKE_PAYLOAD} bytes for the InvokeFunction operation` },
        { 'x-amzn-errortype': 'RequestTooLargeException' });
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

  private async forward(req: http.IncomingMessage, res: http.ServerResponse, upstream: string): Promise<void> {
    const body = await readBody(req);
    const target = new URL(upstream);
    const headers: http.OutgoingHttpHeaders = { ...req.headers, 'host': target.host, 'content-length': body.length };
    delete headers.origin;
    delete headers['content-encoding'];
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
  }

  private serveStatic(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void {
    if (pathname === '/config.json') return this.sendJson(req, res, 200, this.options.config(), { 'cache-control': 'no-store' });
    const relative = pathname === '/' ? 'index.html' : decodeURIComponent(pathname).replace(/^\/+/, '');
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
