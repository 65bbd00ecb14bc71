/**
 * Request bodies read within a limit: the service's own request limit, checked
 * against Content-Length before a byte is read, then against the bytes as they
 * arrive (a chunked body has no Content-Length), then against the inflated
 * bytes while a gzip body is inflated. A body that would pass a limit is never
 * held whole: a 1.4 MB gzip of zeros inflates to 1.4 GB.
 */
import * as http from 'http';
import { gunzipSync } from 'zlib';

export interface BodyLimit {
  /** Bytes of the body as sent. */
  readonly maxBytes: number;
  /** Bytes of a gzip body once inflated; `maxBytes` when absent. */
  readonly maxInflatedBytes?: number;
  /** What the limit is, for the message: `PutMetricData requests`, `an IoT message`. */
  readonly what: string;
}

/** Why a body was not read: an HTTP status, a code in the service's manner, and a reason. */
export class RequestBodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    readonly code: string,
    message: string,
    /** For a 413: the limit passed, and the body's size when it was declared. */
    readonly limit?: number,
    readonly bytes?: number,
  ) {
    super(message);
    this.name = 'RequestBodyError';
  }
}

/** Used when a reader was given no limit and none was set for its request. */
export const DEFAULT_BODY_LIMIT: BodyLimit = { maxBytes: 1_048_576, what: 'requests' };

const limits = new WeakMap<http.IncomingMessage, BodyLimit>();

/** Sets the limit that `readBody(req)` applies when its caller gives none (the gateway sets one per route). */
export function setBodyLimit(req: http.IncomingMessage, limit: BodyLimit): void {
  limits.set(req, limit);
}

function tooLarge(limit: BodyLimit, bytes: number | undefined, max: number, inflated: boolean): RequestBodyError {
  const subject = inflated ? 'the inflated (gzip) body' : 'the request body';
  const size = bytes === undefined ? `is larger than ${max} bytes` : `is ${bytes} bytes`;
  return new RequestBodyError(413, 'RequestEntityTooLarge', `${subject} ${size}: ${limit.what} take at most ${max} bytes${inflated ? ' once inflated' : ''}`, max, bytes);
}

/** The content codings of a request, outermost last, without `identity`. */
function contentCodings(req: http.IncomingMessage): string[] {
  const header = req.headers['content-encoding'];
  if (!header) return [];
  return header.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c && c !== 'identity');
}

/**
 * The body of a request, inflated when it is gzip (the only content coding
 * AWS's SDKs send), within `limit` (by default the limit set for the request).
 * Rejects with a RequestBodyError: 413 past a limit, 415 for another coding,
 * 400 for a gzip body that does not inflate.
 */
export function readBody(req: http.IncomingMessage, limit: BodyLimit = limits.get(req) ?? DEFAULT_BODY_LIMIT): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const codings = contentCodings(req);
    if (codings.length > 1 || (codings.length === 1 && codings[0] !== 'gzip' && codings[0] !== 'x-gzip')) {
      req.resume();
      reject(new RequestBodyError(415, 'UnsupportedMediaType', `Content-Encoding ${req.headers['content-encoding']} is not supported: send gzip or no encoding`));
      return;
    }
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && declared > limit.maxBytes) {
      req.resume();
      reject(tooLarge(limit, declared, limit.maxBytes, false));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let failed = false;
    const onData = (c: Buffer) => {
      received += c.length;
      if (received > limit.maxBytes) {
        failed = true;
        chunks.length = 0;
        req.off('data', onData);
        // The rest is read and dropped, so that the answer reaches the client.
        req.resume();
        reject(tooLarge(limit, undefined, limit.maxBytes, false));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (failed) return;
      const raw = Buffer.concat(chunks, received);
      if (codings.length === 0) {
        resolve(raw);
        return;
      }
      const maxInflated = limit.maxInflatedBytes ?? limit.maxBytes;
      try {
        // zlib stops inflating as soon as the output would pass maxOutputLength.
        resolve(gunzipSync(raw, { maxOutputLength: maxInflated }));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) reject(tooLarge(limit, undefined, maxInflated, true));
        else reject(new RequestBodyError(400, 'InvalidContentEncoding', `the body is not valid gzip (${(err as Error).message})`));
      }
    });
    req.on('error', reject);
  });
}
