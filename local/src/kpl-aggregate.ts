/**
 * KPL aggregation for devices and tests: user records packed into one
 * Kinesis record as the Kinesis Producer Library does, with AWS's own
 * aggregation library (npm aws-kinesis-agg).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RecordAggregator } = require('aws-kinesis-agg') as {
  RecordAggregator: new () => {
    aggregateRecords(
      records: ReadonlyArray<{ partitionKey: string; data: Buffer }>,
      forceFlush: boolean,
      onReady: (err: Error | null, encoded?: { partitionKey: string; data: Buffer }) => void,
    ): void;
  };
};

export interface UserRecord {
  readonly partitionKey: string;
  readonly data: Buffer;
}

/**
 * The user records as one KPL aggregate (magic number, protobuf message, MD5
 * digest), or an error when they do not fit in one Kinesis record (1 MiB).
 */
export function aggregate(records: readonly UserRecord[]): Buffer {
  if (records.length === 0) throw new Error('an aggregate needs at least one user record');
  const out: Buffer[] = [];
  let error: Error | undefined;
  new RecordAggregator().aggregateRecords(records, true, (err, encoded) => {
    if (err) error = err;
    else if (encoded) out.push(encoded.data);
  });
  if (error) throw error;
  if (out.length !== 1) throw new Error(`the user records take ${out.length} Kinesis records, not one`);
  return out[0];
}
