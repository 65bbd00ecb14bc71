/**
 * BatchWriteItem at a fraction of the SDK client's CPU time per request, for
 * the processor's writer, which sends thousands of them a second.
 *
 * The SDK client spends about 350 us of CPU on each BatchWriteItem of 25
 * items after warm-up (bench/profile.ts): its schema serializer and
 * deserializer, endpoint resolution, a new SigV4 signer built from a copy of
 * the whole configuration for every request, user agent, retry and
 * recursion-detection middleware. The writer needs none of that to vary from
 * one request to the next. So the first BatchWriteItem of a table goes
 * through the client as usual, and the request it sends, as the SDK built it
 * (endpoint, path, headers), is kept. Every later request for that table is
 * that request with a new body, content length and invocation id, signed by
 * the client's own signer (the SigV4 signer its configuration makes, with its
 * credentials provider, region, service name and clock offset) and sent by
 * the client's own HTTP handler (its agent, its connection and request
 * timeouts). Nothing of SigV4 or HTTP is written here.
 *
 * What the writer sees is the same as from `client.send`:
 * - the body is `JSON.stringify` of the input, the bytes the SDK's serializer
 *   writes for put requests of string and number attributes (checked by a
 *   test that sends both to one server);
 * - a 2xx answer gives `UnprocessedItems` as the service wrote them (the
 *   same maps of strings; a binary attribute would stay base64);
 * - any other answer throws the SDK's own exception class for the error's
 *   name (`ProvisionedThroughputExceededException`, `$retryable` where the
 *   SDK sets it, `$metadata.httpStatusCode`), as its deserializer does, and
 *   corrects the client's clock offset as its signer does;
 * - network errors and timeouts are the HTTP handler's own.
 *
 * One difference: of the tracing headers the SDK's recursion-detection
 * middleware adds, only `X-Amzn-Trace-Id` from the function's environment is
 * sent; W3C trace context (`traceparent`, `tracestate`) that it takes from
 * Lambda's invoke store when a tracer has set one is not.
 *
 * A client that is not a `DynamoDBClient` (a test's fake) is used through
 * `send` only.
 */
import { randomUUID } from 'crypto';
import * as dynamodb from '@aws-sdk/client-dynamodb';
import { BatchWriteItemCommand, DynamoDBClient, DynamoDBServiceException, WriteRequest } from '@aws-sdk/client-dynamodb';

export interface BatchWriteAnswer {
  readonly UnprocessedItems?: Record<string, WriteRequest[]>;
}

/** Sends one BatchWriteItem of `requests` to `tableName`. */
export type BatchWrite = (tableName: string, requests: readonly WriteRequest[]) => Promise<BatchWriteAnswer>;

/** The parts of an HTTP request the SDK's handler and signer read. */
interface WireRequest {
  protocol: string;
  hostname: string;
  port?: number;
  method: string;
  path: string;
  query: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
  username?: string;
  password?: string;
  fragment?: string;
}

interface WireResponse {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body: unknown;
}

interface Signer {
  sign(request: WireRequest, options: { signingDate: Date }): Promise<WireRequest>;
}

/** What the SDK resolved into the client's configuration, as read here. */
interface ResolvedConfig {
  signer: () => Promise<Signer>;
  systemClockOffset: number;
  disableClockSkewCorrection?: () => Promise<boolean>;
  requestHandler: { handle(request: WireRequest, options?: object): Promise<{ response: WireResponse }> };
  streamCollector: (body: unknown) => Promise<Uint8Array>;
}

/** Headers the SDK sets anew for every request; everything else it sends for a table is the same each time. */
const PER_REQUEST_HEADERS = new Set([
  'authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'content-length', 'amz-sdk-invocation-id',
  'x-amzn-trace-id', 'traceparent', 'tracestate', 'baggage',
]);

const TEMPLATE_MIDDLEWARE = 'processorBatchWriteTemplate';
/** The SDK's clock skew threshold (@aws-sdk/core isClockSkewed): 5 minutes. */
const CLOCK_SKEW_MS = 300_000;

const writers = new WeakMap<object, BatchWrite>();

/** The BatchWriteItem sender for a client: the lean one for a `DynamoDBClient`, its `send` for anything else. */
export function batchWriter(client: DynamoDBClient): BatchWrite {
  let writer = writers.get(client);
  if (!writer) {
    writer = client instanceof DynamoDBClient ? leanWriter(client) : viaSend(client);
    writers.set(client, writer);
  }
  return writer;
}

function viaSend(client: DynamoDBClient): BatchWrite {
  return (tableName, requests) => client.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: [...requests] } }));
}

function leanWriter(client: DynamoDBClient): BatchWrite {
  const config = client.config as unknown as ResolvedConfig;
  const templates = new Map<string, WireRequest>();
  let signer: Promise<Signer> | undefined;
  let noSkewCorrection: Promise<boolean> | undefined;

  /** Through the client, keeping the request it sent as the table's template. */
  const first = async (tableName: string, requests: readonly WriteRequest[]): Promise<BatchWriteAnswer> => {
    const command = new BatchWriteItemCommand({ RequestItems: { [tableName]: [...requests] } });
    command.middlewareStack.add((next) => async (args) => {
      const request = args.request as WireRequest;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) if (!PER_REQUEST_HEADERS.has(name.toLowerCase())) headers[name] = value;
      templates.set(tableName, { ...request, query: { ...request.query }, headers, body: undefined });
      return next(args);
    }, { step: 'deserialize', name: TEMPLATE_MIDDLEWARE });
    // Options given: the command's stack is resolved with its own middleware, not taken from the client's cache.
    return client.send(command, {});
  };

  return async (tableName, requests) => {
    const template = templates.get(tableName);
    if (!template) return first(tableName, requests);
    signer ??= config.signer();
    noSkewCorrection ??= config.disableClockSkewCorrection?.() ?? Promise.resolve(false);
    const body = JSON.stringify({ RequestItems: { [tableName]: requests } });
    const headers: Record<string, string> = { ...template.headers, 'content-length': String(Buffer.byteLength(body)), 'amz-sdk-invocation-id': randomUUID() };
    // As the SDK's recursion-detection middleware does in a Lambda function.
    const traceId = process.env._X_AMZN_TRACE_ID;
    if (process.env.AWS_LAMBDA_FUNCTION_NAME && traceId) headers['X-Amzn-Trace-Id'] = traceId;
    const skewFree = await noSkewCorrection;
    const signed = await (await signer).sign({ ...template, query: { ...template.query }, headers, body }, {
      signingDate: skewFree ? new Date() : new Date(Date.now() + config.systemClockOffset),
    });
    const { response } = await config.requestHandler.handle(signed);
    const text = Buffer.from(await config.streamCollector(response.body)).toString('utf8');
    if (response.statusCode >= 200 && response.statusCode < 300) {
      const out = JSON.parse(text) as BatchWriteAnswer;
      return { UnprocessedItems: out.UnprocessedItems ?? {} };
    }
    if (!skewFree) correctClock(config, response);
    throw serviceError(response, text);
  };
}

/** As the SDK's SigV4 signer does on an error answer: a server clock 5 minutes or more off moves the client's offset. */
function correctClock(config: ResolvedConfig, response: WireResponse): void {
  const date = response.headers.date;
  const serverTime = date ? Date.parse(date) : NaN;
  if (Number.isNaN(serverTime)) return;
  if (Math.abs(Date.now() + config.systemClockOffset - serverTime) >= CLOCK_SKEW_MS) config.systemClockOffset = serverTime - Date.now();
}

/**
 * The exception the SDK's deserializer throws for an error answer of the
 * AWS JSON protocol: the name from `x-amzn-errortype`, else the body's
 * `__type` or `code` (the part after `#`, before `:`), as the SDK's own class
 * where it has one.
 */
function serviceError(response: WireResponse, text: string): Error {
  let body: { __type?: string; code?: string; message?: string; Message?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not JSON: named by the status alone
  }
  const raw = response.headers['x-amzn-errortype'] ?? body.code ?? body.__type;
  const name = raw ? sanitizeErrorCode(raw) : 'Unknown';
  const $metadata = {
    httpStatusCode: response.statusCode,
    requestId: response.headers['x-amzn-requestid'] ?? response.headers['x-amz-request-id'],
    extendedRequestId: response.headers['x-amz-id-2'],
    cfId: response.headers['x-amz-cf-id'],
    attempts: 1,
    totalRetryDelay: 0,
  };
  const message = body.message ?? body.Message ?? (raw ? name : 'UnknownError');
  const Known = (dynamodb as unknown as Record<string, unknown>)[name];
  const $fault = response.statusCode >= 500 ? 'server' : 'client';
  const error = typeof Known === 'function' && Known.prototype instanceof DynamoDBServiceException
    ? new (Known as new (opts: object) => DynamoDBServiceException)({ message, $metadata })
    : new DynamoDBServiceException({ name, $fault, message, $metadata });
  Object.assign(error, { $response: { statusCode: response.statusCode, headers: response.headers, body: text } });
  return error;
}

/** The SDK's rule (@smithy/core protocols): `aws.protocoltests#Name:http://...` -> `Name`. */
function sanitizeErrorCode(raw: string): string {
  let code = raw;
  if (code.includes(',')) code = code.split(',')[0];
  if (code.includes(':')) code = code.split(':')[0];
  if (code.includes('#')) code = code.split('#')[1];
  return code;
}
