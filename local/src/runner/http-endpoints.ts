/**
 * Lambda Function URLs (`AWS::Lambda::Url`) and HTTP APIs
 * (`AWS::ApiGatewayV2::*`, Lambda proxy integrations with payload format
 * 2.0) on the local run's gateway: an HTTP request becomes the version 2.0
 * event Lambda or API Gateway sends the function, and the function's answer
 * becomes the HTTP response, with the inference API Gateway and Lambda make
 * when the answer has no `statusCode`. HTTP API routes are matched by method
 * and path (path variables, greedy `{proxy+}`, `ANY`, `$default`), on the
 * `$default` stage or a named stage's path. CORS is answered as the template
 * configures it.
 *
 * Authorization is not checked: an IAM, JWT or Lambda authorizer lets every
 * request through locally, signed or not, and `requestContext.authorizer` is
 * absent from the event. Throttling and access logs are not emulated.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import { InvokeResult } from './lambda-runtime';
import { readBody, RequestBodyError } from './request-body';

export interface CorsPlan {
  readonly allowOrigins: readonly string[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowCredentials: boolean;
  readonly maxAgeSeconds?: number;
}

export interface HttpRoutePlan {
  /** `Stack/LogicalId` of the route. */
  readonly path: string;
  /** `GET /readings`, `ANY /{proxy+}` or `$default`. */
  readonly routeKey: string;
  readonly authorizationType: string;
  readonly functionName: string;
  readonly timeoutMs: number;
}

export interface HttpApiPlan {
  readonly path: string;
  readonly apiId: string;
  readonly name: string;
  /** Stage names; `$default` is served at the API's root, a named stage under its name. */
  readonly stages: ReadonlyArray<{ readonly name: string; readonly variables: Readonly<Record<string, string>> }>;
  readonly routes: readonly HttpRoutePlan[];
  readonly cors?: CorsPlan;
}

export interface FunctionUrlPlan {
  readonly path: string;
  readonly urlId: string;
  readonly functionName: string;
  readonly authType: string;
  readonly cors?: CorsPlan;
}

export interface HttpEndpointsDeps {
  readonly region: string;
  readonly account: string;
  invoke(functionName: string, payload: string): Promise<InvokeResult>;
  warn(message: string): void;
}

/** Where the gateway serves each kind, under its id. */
export const HTTP_API_PREFIX = '/http-apis/';
export const FUNCTION_URL_PREFIX = '/function-urls/';

/** Lambda's limit on a synchronous invocation's request payload. */
const MAX_EVENT_BYTES = 6 * 1024 * 1024;

/** Request bodies of these types reach the function as text; any other body is base64-encoded. */
export function isTextContentType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0].trim().toLowerCase();
  return type.startsWith('text/') || /^application\/([\w.+-]+\+)?(json|xml)$/.test(type) || type === 'application/javascript';
}

interface RouteMatch {
  readonly route: HttpRoutePlan;
  readonly pathParameters?: Record<string, string>;
}

/**
 * The route a request takes: of the routes whose method (or ANY) and path
 * match, the most specific (literal segments over path variables over a
 * greedy variable, then a method over ANY); `$default` when none matches.
 */
export function matchRoute(routes: readonly HttpRoutePlan[], method: string, path: string): RouteMatch | undefined {
  const requestSegments = path.split('/').slice(1);
  let best: { match: RouteMatch; rank: number[] } | undefined;
  for (const route of routes) {
    if (route.routeKey === '$default') continue;
    const [routeMethod, routePath] = route.routeKey.split(' ');
    if (routeMethod !== 'ANY' && routeMethod !== method) continue;
    const segments = routePath.split('/').slice(1);
    const params: Record<string, string> = {};
    const rank: number[] = [];
    let ok = true;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i];
      const greedy = /^\{(.+)\+\}$/.exec(s);
      if (greedy) {
        // A greedy variable is the last segment and takes one segment at least.
        if (i !== segments.length - 1 || i >= requestSegments.length) {
          ok = false;
          break;
        }
        params[greedy[1]] = decodePathPart(requestSegments.slice(i).join('/'));
        rank.push(0);
        break;
      }
      if (i >= requestSegments.length) {
        ok = false;
        break;
      }
      const variable = /^\{(.+)\}$/.exec(s);
      if (variable) {
        params[variable[1]] = decodePathPart(requestSegments[i]);
        rank.push(1);
      } else if (s === requestSegments[i]) {
        rank.push(2);
      } else {
        ok = false;
        break;
      }
      if (i === segments.length - 1 && segments.length !== requestSegments.length) ok = false;
    }
    if (!ok) continue;
    rank.push(routeMethod === 'ANY' ? 0 : 1);
    if (!best || compareRanks(rank, best.rank) > 0) {
      best = { match: { route, pathParameters: Object.keys(params).length ? params : undefined }, rank };
    }
  }
  if (best) return best.match;
  const fallback = routes.find((r) => r.routeKey === '$default');
  return fallback ? { route: fallback } : undefined;
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Request headers as API Gateway passes them: names in lower case, repeated values joined with commas, cookies apart. */
function eventHeaders(req: http.IncomingMessage): { headers: Record<string, string>; cookies?: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    if (name === 'cookie') {
      cookies.push(...value.split(/;\s*/).filter(Boolean));
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  return { headers, cookies: cookies.length ? cookies : undefined };
}

function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (!rawQueryString) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQueryString)) out[k] = out[k] === undefined ? v : `${out[k]},${v}`;
  return out;
}

/** `12/Mar/2020:19:03:58 +0000`, the requestContext.time format. */
export function requestTime(ms: number): string {
  const d = new Date(ms);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export interface EventInput {
  readonly req: http.IncomingMessage;
  readonly body: Buffer;
  /** The path the function sees (a named stage's name included, as API Gateway passes it). */
  readonly rawPath: string;
  readonly rawQueryString: string;
  readonly routeKey: string;
  readonly stage: string;
  readonly apiId: string;
  readonly account: string;
  readonly now: number;
  readonly pathParameters?: Record<string, string>;
  readonly stageVariables?: Record<string, string>;
}

/** The version 2.0 event of an HTTP API route or (`kind` function URL) a Function URL. */
export function httpEvent(kind: 'http-api' | 'function-url', input: EventInput): Record<string, unknown> {
  const { req, body } = input;
  const { headers, cookies } = eventHeaders(req);
  const text = isTextContentType(headers['content-type']);
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: input.routeKey,
    rawPath: input.rawPath,
    rawQueryString: input.rawQueryString,
    ...(cookies ? { cookies } : {}),
    headers,
    ...(input.rawQueryString ? { queryStringParameters: queryParameters(input.rawQueryString) } : {}),
    requestContext: {
      accountId: input.account,
      apiId: input.apiId,
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: input.apiId,
      http: {
        method: req.method ?? 'GET',
        path: input.rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: input.routeKey,
      stage: input.stage,
      time: requestTime(input.now),
      timeEpoch: input.now,
    },
    ...(body.length ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
  if (kind === 'function-url') {
    event.pathParameters = null;
    event.stageVariables = null;
  } else {
    if (input.pathParameters) event.pathParameters = input.pathParameters;
    if (input.stageVariables && Object.keys(input.stageVariables).length) event.stageVariables = input.stageVariables;
  }
  return event;
}

export interface HttpAnswer {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

/**
 * The HTTP response for a function's answer (payload format 2.0): an object
 * with `statusCode` gives the status, headers, cookies (each a set-cookie
 * header) and body (base64 when `isBase64Encoded`); any other JSON answer is
 * a 200 with content-type application/json and the answer as the body (a
 * string answer as it is). A function error, or an answer that is not a
 * response, is API Gateway's 500 `{"message":"Internal Server Error"}`, or
 * a Function URL's 502.
 */
export function httpAnswer(result: InvokeResult): HttpAnswer | { readonly error: string } {
  if (result.functionError) return { error: `the function failed: ${result.error?.errorType ?? 'Unhandled'}: ${result.error?.errorMessage ?? result.payload}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.payload);
  } catch {
    return { error: 'the function returned something that is not JSON' };
  }
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) && 'statusCode' in parsed) {
    const r = parsed as { statusCode: unknown; headers?: unknown; cookies?: unknown; body?: unknown; isBase64Encoded?: unknown };
    const status = Number(r.statusCode);
    if (!Number.isInteger(status) || status < 100 || status > 599) return { error: `statusCode ${JSON.stringify(r.statusCode)} is not an HTTP status` };
    if (r.body !== undefined && r.body !== null && typeof r.body !== 'string') return { error: 'the body of the response is not a string' };
    const headers: Record<string, string | string[]> = {};
    if (r.headers !== undefined && r.headers !== null) {
      if (typeof r.headers !== 'object') return { error: 'the headers of the response are not an object' };
      for (const [k, v] of Object.entries(r.headers as Record<string, unknown>)) headers[k.toLowerCase()] = String(v);
    }
    if (Array.isArray(r.cookies) && r.cookies.length) headers['set-cookie'] = r.cookies.map(String);
    const body = typeof r.body === 'string' ? Buffer.from(r.body, r.isBase64Encoded === true ? 'base64' : 'utf8') : Buffer.alloc(0);
    return { statusCode: status, headers, body };
  }
  const body = typeof parsed === 'string' ? parsed : result.payload;
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body, 'utf8') };
}

function originAllowed(cors: CorsPlan, origin: string): boolean {
  return cors.allowOrigins.includes('*') || cors.allowOrigins.some((o) => o.toLowerCase() === origin.toLowerCase());
}

/** The CORS headers of an answer to a request from `origin`, as the template's CORS configuration gives them. */
function corsHeaders(cors: CorsPlan, origin: string | undefined): Record<string, string> {
  if (!origin || !originAllowed(cors, origin)) return {};
  return {
    'access-control-allow-origin': cors.allowOrigins.includes('*') && !cors.allowCredentials ? '*' : origin,
    ...(cors.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
    ...(cors.exposeHeaders.length ? { 'access-control-expose-headers': cors.exposeHeaders.join(',') } : {}),
    'vary': 'Origin',
  };
}

function preflightHeaders(cors: CorsPlan, req: http.IncomingMessage): Record<string, string> {
  const origin = req.headers.origin;
  const base = corsHeaders(cors, origin);
  if (!base['access-control-allow-origin']) return {};
  const requested = String(req.headers['access-control-request-headers'] ?? '');
  const methods = cors.allowMethods.length ? cors.allowMethods : [];
  if (!methods.includes('*') && !methods.includes(String(req.headers['access-control-request-method']).toUpperCase())) return {};
  return {
    ...base,
    'access-control-allow-methods': methods.includes('*') ? String(req.headers['access-control-request-method']) : methods.join(','),
    ...(cors.allowHeaders.length ? { 'access-control-allow-headers': cors.allowHeaders.includes('*') ? requested : cors.allowHeaders.join(',') } : {}),
    ...(cors.maxAgeSeconds !== undefined ? { 'access-control-max-age': String(cors.maxAgeSeconds) } : {}),
  };
}

export class HttpEndpoints {
  private readonly apis: Map<string, HttpApiPlan>;
  private readonly urls: Map<string, FunctionUrlPlan>;

  constructor(apis: readonly HttpApiPlan[], urls: readonly FunctionUrlPlan[], private readonly deps: HttpEndpointsDeps) {
    this.apis = new Map(apis.map((a) => [a.apiId, a]));
    this.urls = new Map(urls.map((u) => [u.urlId, u]));
  }

  /** Serves a request under /http-apis/ or /function-urls/; answers false for any other path. */
  async serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const rawPathFull = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    const rawQueryString = queryAt < 0 ? '' : rawUrl.slice(queryAt + 1);
    for (const [prefix, kind] of [[HTTP_API_PREFIX, 'http-api'], [FUNCTION_URL_PREFIX, 'function-url']] as const) {
      if (!url.pathname.startsWith(prefix)) continue;
      const rest = rawPathFull.slice(prefix.length);
      const slash = rest.indexOf('/');
      const id = slash < 0 ? rest : rest.slice(0, slash);
      const rawPath = slash < 0 ? '/' : rest.slice(slash);
      if (kind === 'http-api') await this.serveApi(req, res, id, rawPath, rawQueryString);
      else await this.serveUrl(req, res, id, rawPath, rawQueryString);
      return true;
    }
    return false;
  }

  /** The body within the limit the gateway set for the request, or why it was not read. */
  private async body(req: http.IncomingMessage): Promise<Buffer | RequestBodyError> {
    try {
      return await readBody(req);
    } catch (err) {
      if (err instanceof RequestBodyError) return err;
      throw err;
    }
  }

  private send(res: http.ServerResponse, status: number, headers: Record<string, string | string[]>, body: Buffer | string): void {
    const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.writeHead(status, { ...headers, 'content-length': b.length });
    res.end(b);
  }

  private async serveApi(req: http.IncomingMessage, res: http.ServerResponse, apiId: string, rawPath: string, rawQueryString: string): Promise<void> {
    const notFound = (headers: Record<string, string> = {}) =>
      this.send(res, 404, { ...headers, 'content-type': 'application/json', 'apigw-requestid': randomUUID() }, '{"message":"Not Found"}');
    const api = this.apis.get(apiId);
    if (!api) return notFound();
    const method = (req.method ?? 'GET').toUpperCase();
    if (api.cors && method === 'OPTIONS' && req.headers.origin && req.headers['access-control-request-method']) {
      // API Gateway answers a preflight itself when the API has a CORS configuration.
      return this.send(res, 204, { ...preflightHeaders(api.cors, req), 'apigw-requestid': randomUUID() }, '');
    }
    const cors = api.cors ? corsHeaders(api.cors, req.headers.origin) : {};
    const firstSegment = rawPath.split('/')[1] ?? '';
    const named = api.stages.find((s) => s.name !== '$default' && s.name === firstSegment);
    const stage = named ?? api.stages.find((s) => s.name === '$default');
    if (!stage) return notFound(cors);
    const routePath = named ? rawPath.slice(named.name.length + 1) || '/' : rawPath;
    const match = matchRoute(api.routes, method, routePath);
    if (!match) return notFound(cors);
    const body = await this.body(req);
    if (body instanceof RequestBodyError) {
      return this.send(res, body.status, { ...cors, 'content-type': 'application/json', 'connection': 'close' },
        JSON.stringify({ message: body.status === 413 ? 'Request Entity Too Large' : body.message }));
    }
    if (body.length > MAX_EVENT_BYTES) {
      return this.send(res, 413, { ...cors, 'content-type': 'application/json' }, '{"message":"Request Entity Too Large"}');
    }
    const now = Date.now();
    const event = httpEvent('http-api', {
      req,
      body,
      rawPath,
      rawQueryString,
      routeKey: match.route.routeKey,
      stage: stage.name,
      apiId,
      account: this.deps.account,
      now,
      pathParameters: match.pathParameters,
      stageVariables: stage.variables,
    });
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.deps.invoke(match.route.functionName, JSON.stringify(event)),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), match.route.timeoutMs))),
    ]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.deps.warn(`${match.route.path}: the integration took longer than ${match.route.timeoutMs} ms: 503`);
      return this.send(res, 503, { ...cors, 'content-type': 'application/json' }, '{"message":"Service Unavailable"}');
    }
    const answer = httpAnswer(result);
    if ('error' in answer) {
      this.deps.warn(`${match.route.path} (${match.route.routeKey}): ${answer.error}: 500`);
      return this.send(res, 500, { ...cors, 'content-type': 'application/json', 'apigw-requestid': randomUUID() }, '{"message":"Internal Server Error"}');
    }
    this.send(res, answer.statusCode, { ...withoutCors(answer.headers, !!api.cors), ...cors, 'apigw-requestid': randomUUID() }, answer.body);
  }

  private async serveUrl(req: http.IncomingMessage, res: http.ServerResponse, urlId: string, rawPath: string, rawQueryString: string): Promise<void> {
    const fnUrl = this.urls.get(urlId);
    if (!fnUrl) return this.send(res, 404, { 'content-type': 'application/json' }, '{"Message":null}');
    const method = (req.method ?? 'GET').toUpperCase();
    if (fnUrl.cors && method === 'OPTIONS' && req.headers.origin && req.headers['access-control-request-method']) {
      return this.send(res, 200, preflightHeaders(fnUrl.cors, req), '');
    }
    const cors = fnUrl.cors ? corsHeaders(fnUrl.cors, req.headers.origin) : {};
    const body = await this.body(req);
    if (body instanceof RequestBodyError) {
      const message = body.status === 413 ? `Request must be smaller than ${MAX_EVENT_BYTES} bytes for the InvokeFunction operation` : body.message;
      return this.send(res, body.status, { ...cors, 'content-type': 'application/json', 'connection': 'close' }, JSON.stringify({ Message: message }));
    }
    if (body.length > MAX_EVENT_BYTES) return this.send(res, 413, { ...cors, 'content-type': 'application/json' }, '{"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}');
    const now = Date.now();
    const event = httpEvent('function-url', {
      req,
      body,
      rawPath,
      rawQueryString,
      routeKey: '$default',
      stage: '$default',
      apiId: urlId,
      account: fnUrl.authType === 'AWS_IAM' ? this.deps.account : 'anonymous',
      now,
    });
    const result = await this.deps.invoke(fnUrl.functionName, JSON.stringify(event));
    const answer = httpAnswer(result);
    if ('error' in answer) {
      this.deps.warn(`${fnUrl.path}: ${answer.error}: 502`);
      return this.send(res, 502, { ...cors, 'content-type': 'text/plain' }, 'Internal Server Error');
    }
    this.send(res, answer.statusCode, { ...withoutCors(answer.headers, !!fnUrl.cors), ...cors }, answer.body);
  }
}

/** With CORS configured, the endpoint's CORS headers replace the function's. */
function withoutCors(headers: Record<string, string | string[]>, configured: boolean): Record<string, string | string[]> {
  if (!configured) return headers;
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !k.startsWith('access-control-')));
}
