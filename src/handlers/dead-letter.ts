import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { decodeUtf8 } from './reading';

/** A record that could not be processed, and why. */
export interface DeadLetter {
  readonly reason: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly approximateArrivalTimestamp: number;
  /** The raw payload as the device sent it, base64. */
  readonly data: string;
}

/** The message body of a dead letter: the raw payload, as UTF-8 text where it is valid UTF-8. */
export function deadLetterBody(letter: DeadLetter): Record<string, unknown> {
  const text = decodeUtf8(letter.data);
  return {
    reason: letter.reason,
    shardId: letter.shardId,
    sequenceNumber: letter.sequenceNumber,
    partitionKey: letter.partitionKey,
    approximateArrivalTimestamp: new Date(letter.approximateArrivalTimestamp * 1000).toISOString(),
    ...(text !== undefined ? { payload: text } : { payloadBase64: letter.data }),
  };
}

/** Where dead letters go. `send` resolves with the letters it could not deliver. */
export interface DeadLetterSink {
  send(letters: readonly DeadLetter[]): Promise<DeadLetter[]>;
}

/** SQS takes at most 10 messages and 256 KiB per SendMessageBatch. */
const SQS_BATCH = 10;
const SQS_MAX_BYTES = 256 * 1024;

/**
 * An SQS queue: one message per record. A payload too large for one message
 * (over about 250 KiB) is cut, and the message says so (`truncated: true`);
 * choose the S3 destination to keep payloads of any size.
 */
export class QueueDeadLetterSink implements DeadLetterSink {
  constructor(private readonly client: SQSClient, private readonly queueUrl: string) {}

  async send(letters: readonly DeadLetter[]): Promise<DeadLetter[]> {
    const failed: DeadLetter[] = [];
    const bodies = letters.map((letter) => fitMessage(deadLetterBody(letter)));
    let group: number[] = [];
    let groupBytes = 0;
    const flush = async () => {
      if (group.length === 0) return;
      const indexes = group;
      group = [];
      groupBytes = 0;
      try {
        const out = await this.client.send(new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: indexes.map((i) => ({ Id: String(i), MessageBody: bodies[i] })),
        }));
        for (const f of out.Failed ?? []) failed.push(letters[Number(f.Id)]);
      } catch {
        for (const i of indexes) failed.push(letters[i]);
      }
    };
    for (let i = 0; i < bodies.length; i++) {
      const bytes = Buffer.byteLength(bodies[i]);
      if (group.length === SQS_BATCH || groupBytes + bytes > SQS_MAX_BYTES) await flush();
      group.push(i);
      groupBytes += bytes;
    }
    await flush();
    return failed;
  }
}

function fitMessage(body: Record<string, unknown>): string {
  const limit = SQS_MAX_BYTES - 1024;
  const full = JSON.stringify(body);
  if (Buffer.byteLength(full) <= limit) return full;
  const key = 'payload' in body ? 'payload' : 'payloadBase64';
  const value = String(body[key]);
  // Multi-byte characters and JSON escapes make the message longer in bytes
  // than the payload is in characters: shrink the cut until the message fits.
  let length = Math.min(value.length, 200 * 1024);
  for (;;) {
    let cut = value.slice(0, length);
    if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1); // do not split a surrogate pair
    const message = JSON.stringify({ ...body, [key]: cut, truncated: true });
    const bytes = Buffer.byteLength(message);
    if (bytes <= limit || length === 0) return message;
    length = Math.floor((length * limit) / bytes);
  }
}

/**
 * An S3 prefix: one gzip-free NDJSON object per batch, keyed by shard and the
 * first sequence number so that a retried batch overwrites its earlier object.
 * Keeps payloads of any size.
 */
export class BucketDeadLetterSink implements DeadLetterSink {
  constructor(private readonly client: S3Client, private readonly bucket: string, private readonly prefix: string) {}

  async send(letters: readonly DeadLetter[]): Promise<DeadLetter[]> {
    if (letters.length === 0) return [];
    const first = letters[0];
    const key = `${this.prefix}${first.shardId}/${first.sequenceNumber}.ndjson`;
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: letters.map((l) => JSON.stringify(deadLetterBody(l))).join('\n') + '\n',
        ContentType: 'application/x-ndjson',
      }));
      return [];
    } catch {
      return [...letters];
    }
  }
}
