/**
 * The limits of every AWS service a reading meets on its way, with their
 * sources: the one table that validation, the writers and the docs are
 * derived from. A value a service would refuse must be caught before the
 * request that carries it, because the service refuses the whole request,
 * and with it every other reading in it.
 *
 * Dependency-free, like the handler contract: the handlers and the
 * constructs both import it. `docs/limits.md` is written from `LIMITS`
 * (`npx projen docs:limits`), and a test keeps it current.
 *
 * Where a limit's documentation has changed over time, the stricter figure
 * is kept, since a pipeline must not depend on which one a region applies.
 */

/** DynamoDB's number type (`N`), as a sort key or any attribute. */
export const DYNAMODB_NUMBER = {
  /** Significant decimal digits. */
  maxDigits: 38,
  /** The smallest magnitude other than 0: 1E-130. */
  minMagnitude: 1e-130,
  /** Magnitudes must stay below 1E+126 (the largest is 9.99...9E+125, 38 nines). */
  maxMagnitudeExclusive: 1e126,
} as const;

/** DynamoDB's key and item sizes, in bytes of UTF-8. */
export const DYNAMODB_KEYS = {
  maxPartitionKeyBytes: 2_048,
  maxSortKeyBytes: 1_024,
  maxItemBytes: 400 * 1_024,
} as const;

/** BatchWriteItem: put requests per call. */
export const DYNAMODB_BATCH_WRITE_ITEMS = 25;

/** SQS message bodies. */
export const SQS_MESSAGE = {
  /** The stricter of the two documented sizes: 256 KiB (queues made before 2025 keep it; 1 MiB since). */
  maxBytes: 256 * 1_024,
  /** Messages per SendMessageBatch. */
  maxBatchEntries: 10,
} as const;

/**
 * The characters SQS accepts in a message body (the XML character set):
 * `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
 * Anything else (other control characters, U+FFFE, U+FFFF, a lone surrogate)
 * is refused (InvalidMessageContents) or replaced, as the docs have said both.
 */
export const SQS_REFUSED_CHARACTER = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

/** CloudWatch metrics (PutMetricData and Embedded Metric Format). */
export const CLOUDWATCH = {
  /** Dimension values: 1 to 1,024 characters, ASCII only, no control characters, at least one that is not whitespace. */
  maxDimensionValueLength: 1_024,
  /** The narrower of the documented value ranges: magnitudes 8.515920e-109 to 1.174271e+108, or 0 (the newer docs say -2^360 to 2^360). */
  minValueMagnitude: 8.515920e-109,
  maxValueMagnitude: 1.174271e+108,
  /** Timestamps: at most two weeks old and two hours ahead. */
  maxPastMs: 14 * 24 * 3_600_000,
  maxFutureMs: 2 * 3_600_000,
  /** PutMetricData: data per request, distinct values per datum, bytes per request. */
  maxDataPerRequest: 1_000,
  maxValuesPerDatum: 150,
  maxRequestBytes: 1_000_000,
  /** EMF: values of one metric in one log line. */
  maxEmfValuesPerLine: 100,
} as const;

/** Kinesis Data Streams records. */
export const KINESIS_RECORD = {
  /** Data bytes before base64. */
  maxDataBytes: 1_048_576,
  /** Partition keys: 1 to 256 Unicode characters. */
  maxPartitionKeyLength: 256,
} as const;

/** S3 object keys, in bytes of UTF-8. */
export const S3_KEY = { maxBytes: 1_024 } as const;

/** Lambda: all of a function's environment variables together. */
export const LAMBDA_ENVIRONMENT_BYTES = 4 * 1_024;

/** Firehose dynamic partitioning: active partitions per delivery stream, by default (raisable to 5,000). */
export const FIREHOSE_ACTIVE_PARTITIONS = 500;

/** One row of the table of limits. */
export interface LimitRow {
  readonly service: string;
  readonly limit: string;
  /** What the service does past it. */
  readonly pastIt: string;
  /** What the pipeline does so that no other reading pays for it. */
  readonly pipeline: string;
  /** Where it is documented. */
  readonly source: string;
}

const n = (x: number) => x.toLocaleString('en-US');

/** Every limit a reading crosses on its way, in the order it meets them. */
export const LIMITS: readonly LimitRow[] = [
  {
    service: 'Kinesis',
    limit: `record data up to ${n(KINESIS_RECORD.maxDataBytes)} bytes (1 MiB, before base64); partition key 1 to ${KINESIS_RECORD.maxPartitionKeyLength} characters`,
    pastIt: 'PutRecord(s) refuses the record',
    pipeline: 'the device or the IoT rule sees the error; the largest dead letter a record can make is sized from it',
    source: 'Kinesis Data Streams API Reference, PutRecord',
  },
  {
    service: 'DynamoDB',
    limit: `number: at most ${DYNAMODB_NUMBER.maxDigits} significant digits, magnitude 1E-130 to 9.9999999999999999999999999999999999999E+125, or 0`,
    pastIt: 'ValidationException (number overflow, underflow or precision): BatchWriteItem refuses all 25 items',
    pipeline: 'a value outside the range, or one that reads as 0 though it is not 0, is dead-lettered; values are written as the shortest decimal of a double (at most 17 digits)',
    source: 'DynamoDB Developer Guide, "Supported data types and naming rules"',
  },
  {
    service: 'DynamoDB',
    limit: `partition key up to ${n(DYNAMODB_KEYS.maxPartitionKeyBytes)} bytes, sort key up to ${n(DYNAMODB_KEYS.maxSortKeyBytes)} bytes, of UTF-8; not empty`,
    pastIt: 'ValidationException for the whole request',
    pipeline: 'sensor ids: at most `maxSensorIdLength` bytes (at most 2,048), not blank; the sort key is a 24-character timestamp',
    source: 'DynamoDB Developer Guide, "Quotas" (attributes)',
  },
  {
    service: 'DynamoDB',
    limit: 'strings are Unicode, sent as UTF-8',
    pastIt: 'a lone surrogate cannot be sent as UTF-8: it is refused or stored as U+FFFD, another id',
    pipeline: 'a sensor id that is not well-formed Unicode is dead-lettered',
    source: 'DynamoDB Developer Guide, "Supported data types and naming rules" (String)',
  },
  {
    service: 'DynamoDB',
    limit: `item up to ${n(DYNAMODB_KEYS.maxItemBytes)} bytes; BatchWriteItem ${DYNAMODB_BATCH_WRITE_ITEMS} requests and 16 MB per call`,
    pastIt: 'ValidationException',
    pipeline: 'an item is at most about 2.1 KB (the longest id, a timestamp, a number); requests of 25',
    source: 'DynamoDB API Reference, BatchWriteItem; Developer Guide, "Quotas"',
  },
  {
    service: 'SQS',
    limit: 'message body characters: #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF',
    pastIt: 'InvalidMessageContents (or the character replaced), for the whole SendMessageBatch entry',
    pipeline: 'dead letters are JSON with every other character written as a \\u escape: the message parses back to the exact payload',
    source: 'SQS API Reference, SendMessage (MessageBody)',
  },
  {
    service: 'SQS',
    limit: `message up to ${n(SQS_MESSAGE.maxBytes)} bytes (256 KiB; 1 MiB on queues that allow it); ${SQS_MESSAGE.maxBatchEntries} entries and 256 KiB per batch`,
    pastIt: 'the message or the batch is refused',
    pipeline: 'a dead letter that would not fit has its payload cut (`truncated: true`); its shard and sequence number still name the record',
    source: 'SQS Developer Guide, "Amazon SQS message quotas"',
  },
  {
    service: 'CloudWatch',
    limit: `dimension value: 1 to ${n(CLOUDWATCH.maxDimensionValueLength)} characters, ASCII only, no control characters, not only whitespace`,
    pastIt: 'PutMetricData refuses the request; an EMF line holding it becomes no metric',
    pipeline: 'the metric\'s dimension is the sensor id with `%`, control and non-ASCII characters percent-encoded (UTF-8); an id longer than 1,024 characters so encoded gets no metric, counted',
    source: 'CloudWatch API Reference, Dimension',
  },
  {
    service: 'CloudWatch',
    limit: 'values: magnitude 8.515920e-109 to 1.174271e+108, or 0; no NaN or infinity (newer docs: -2^360 to 2^360)',
    pastIt: 'PutMetricData refuses the request',
    pipeline: 'the reading is stored; its value is left out of the metric, counted',
    source: 'CloudWatch API Reference, MetricDatum',
  },
  {
    service: 'CloudWatch',
    limit: 'timestamps: at most two weeks old, at most two hours ahead',
    pastIt: 'PutMetricData refuses the request; EMF drops the line',
    pipeline: 'the reading is stored; its value is counted in the metric at the time it is processed, counted as restamped',
    source: 'CloudWatch API Reference, PutMetricData; "Embedded metric format specification"',
  },
  {
    service: 'CloudWatch',
    limit: `PutMetricData: ${n(CLOUDWATCH.maxDataPerRequest)} data, ${CLOUDWATCH.maxValuesPerDatum} values per datum, 1 MB per request; EMF: ${CLOUDWATCH.maxEmfValuesPerLine} values per metric per line`,
    pastIt: 'the request or the line is refused',
    pipeline: 'data are split into requests under each limit',
    source: 'CloudWatch API Reference, PutMetricData; "Embedded metric format specification"',
  },
  {
    service: 'S3',
    limit: `object key up to ${n(S3_KEY.maxBytes)} bytes of UTF-8`,
    pastIt: 'the PUT is refused',
    pipeline: 'archive and dead-letter keys hold only the prefix, event hour, shard id and sequence number; the Firehose archiver refuses sensor ids over 512 characters in a prefix',
    source: 'S3 User Guide, "Naming Amazon S3 objects"',
  },
  {
    service: 'Firehose',
    limit: `dynamic partitioning: ${n(FIREHOSE_ACTIVE_PARTITIONS)} active partitions per delivery stream (raisable to 5,000)`,
    pastIt: 'records go to the error prefix (`activePartitionExceeded`)',
    pipeline: 'documented with the Firehose archiver',
    source: 'Firehose Developer Guide, "Dynamic partitioning"',
  },
  {
    service: 'Lambda',
    limit: `environment variables: ${n(LAMBDA_ENVIRONMENT_BYTES)} bytes in all`,
    pastIt: 'the deployment fails',
    pipeline: 'settings are short names and numbers',
    source: 'Lambda Developer Guide, "Lambda quotas"',
  },
];
