/**
 * The AWS JSON 1.0 protocol as the SDK v3 clients of SQS and CloudWatch speak
 * it: POST /, `X-Amz-Target: <service>.<Operation>`, a JSON object as the
 * body (gzip when the client compresses it), JSON answers, and errors as
 * `{"__type": "<namespace>#<Code>", "message"}` with the
 * `x-amzn-query-error` header that query-compatible services add.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import { readBody, RequestBodyError } from './request-body';

export { readBody } from './request-body';

export const AWS_JSON_1_0 = 'application/x-amz-json-1.0';

export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** The code a query-protocol client knows this error by, and who is at fault. */
    readonly queryError?: string,
  ) {
    super(message);
  }
}

export interface AwsJsonService {
  /** The X-Amz-Target prefix, e.g. AmazonSQS. */
  readonly targetPrefix: string;
  /** The error namespace, e.g. com.amazonaws.sqs. */
  readonly namespace: string;
  handle(operation: string, input: Record<string, unknown>): Promise<unknown> | unknown;
}

/** Answers one AWS JSON 1.0 request; `extraHeaders` carries CORS headers. */
export async function serveAwsJson(
  service: AwsJsonService,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  extraHeaders: http.OutgoingHttpHeaders = {},
): Promise<void> {
  const requestId = randomUUID();
  const send = (status: number, payload: unknown, headers: http.OutgoingHttpHeaders = {}) => {
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    res.writeHead(status, {
      ...extraHeaders,
      'content-type': AWS_JSON_1_0,
      'content-length': body.length,
      'x-amzn-requestid': requestId,
      ...headers,
    });
    res.end(body);
  };
  try {
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(`${service.targetPrefix}.`) ? target.slice(service.targetPrefix.length + 1) : '';
    const body = await readBody(req);
    let input: unknown;
    try {
      input = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch {
      throw new AwsError('SerializationException', 'the request body is not valid JSON');
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw new AwsError('SerializationException', 'the request body is not a JSON object');
    }
    if (!operation) throw new AwsError('UnknownOperationException', `unknown target ${target}`);
    send(200, (await service.handle(operation, input as Record<string, unknown>)) ?? {});
  } catch (err) {
    if (err instanceof RequestBodyError) {
      // The rest of an unread body is not waited for.
      send(err.status, { __type: `${service.namespace}#${err.code}`, message: err.message }, { connection: 'close' });
    } else if (err instanceof AwsError) {
      send(err.status, { __type: `${service.namespace}#${err.code}`, message: err.message },
        err.queryError ? { 'x-amzn-query-error': err.queryError } : {});
    } else {
      send(500, { __type: `${service.namespace}#InternalFailure`, message: (err as Error).message });
    }
  }
}

/** Epoch seconds, as the JSON protocols send timestamps. */
export function toEpochSeconds(ms: number): number {
  return ms / 1000;
}

/** A timestamp member of a JSON request: epoch seconds (number) or an ISO string. */
export function fromTimestamp(value: unknown, member: string): number {
  if (typeof value === 'number') return value * 1000;
  if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return Date.parse(value);
  throw new AwsError('InvalidParameterValue', `${member} is not a timestamp`);
}
