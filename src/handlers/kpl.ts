/**
 * KPL aggregates, read with the Kinesis Producer Library's own deaggregation
 * module (npm aws-kinesis-agg, by AWS): the magic number, the protobuf
 * message and its MD5 digest are the library's to know.
 */
interface Deaggregation {
  deaggregateSync(
    record: { data: string; partitionKey: string; sequenceNumber: string },
    computeChecksums: boolean,
    done: (err: Error | undefined | null, userRecords?: Array<{ data: string; subSequenceNumber?: number }>) => void,
  ): void;
}

let library: Deaggregation | undefined;

/**
 * The deaggregation module alone (the package's index also loads its
 * aggregator and that one's dependencies), loaded at the first aggregate:
 * it builds its protobuf types when loaded, which a pipeline that receives
 * no aggregate need not pay for at each cold start.
 */
function deaggregation(): Deaggregation {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  library ??= require('aws-kinesis-agg/lib/kpl-deagg') as Deaggregation;
  return library;
}

/** The first four bytes of every KPL aggregate (aggregation format 0.9.0). */
export const KPL_MAGIC = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);

/** Whether a record's bytes begin as a KPL aggregate. Such bytes are never UTF-8 (0xf3 0x89 0x9a is not followed by a continuation byte). */
export function isAggregate(bytes: Buffer): boolean {
  return bytes.length >= KPL_MAGIC.length && KPL_MAGIC.every((byte, i) => bytes[i] === byte);
}

export type Deaggregated = { readonly ok: true; readonly records: Buffer[] } | { readonly ok: false; readonly reason: string };

/** The user records of an aggregate, in order (index = sub-sequence number), its MD5 digest checked. */
export function deaggregate(bytes: Buffer): Deaggregated {
  let result: Deaggregated | undefined;
  try {
    deaggregation().deaggregateSync({ data: bytes.toString('base64'), partitionKey: '', sequenceNumber: '' }, true, (err, userRecords) => {
      // The library reports a user record it cannot read, then the end: the first word stands.
      if (result) return;
      if (err) {
        result = { ok: false, reason: `KPL aggregate not readable: ${err.message === 'Invalid record checksum' ? 'its MD5 digest does not match its contents' : err.message}` };
        return;
      }
      result = { ok: true, records: (userRecords ?? []).map((r) => Buffer.from(r.data, 'base64')) };
    });
  } catch (err) {
    result = { ok: false, reason: `KPL aggregate not readable: ${(err as Error).message}` };
  }
  if (!result) return { ok: false, reason: 'KPL aggregate not readable' };
  if (result.ok && result.records.length === 0) return { ok: false, reason: 'KPL aggregate holds no user record' };
  return result;
}
