import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { createFailureQueue, grantPutObjects } from './resources';

/**
 * What a bound dead-letter destination gives the processor.
 *
 * @internal
 */
export interface DeadLetterBinding {
  /** Environment variables naming the destination for the handler. */
  readonly environment: Record<string, string>;
  /** The queue, when the destination is one. */
  readonly queue?: sqs.IQueue;
}

/**
 * Where records that fail validation go, each with its raw payload, the
 * reason, and its shard and sequence number.
 *
 * - `DeadLetterDestination.queue()`: one SQS message per record; easy to
 *   alarm on and redrive. A payload over about 200 KiB is cut (the message
 *   says `truncated: true`); messages are kept at most 14 days.
 * - `DeadLetterDestination.bucket()`: one NDJSON object per batch under a
 *   prefix; keeps payloads of any size for as long as the bucket keeps them.
 */
export class DeadLetterDestination {
  /**
   * An SQS queue.
   *
   * @param queue the queue to use; by default an SQS-encrypted, TLS-only queue that keeps messages 14 days is created
   */
  public static queue(queue?: sqs.IQueue): DeadLetterDestination {
    return new DeadLetterDestination(queue, undefined, undefined);
  }

  /**
   * A prefix in an S3 bucket.
   *
   * @param bucket the bucket to write to
   * @param prefix the key prefix, ending in "/"; default "dead-letter/"
   */
  public static bucket(bucket: s3.IBucket, prefix?: string): DeadLetterDestination {
    const p = prefix ?? 'dead-letter/';
    if (p.length > 0 && !p.endsWith('/')) {
      throw new Error(`DeadLetterDestination.bucket: prefix must end with "/", got "${p}"`);
    }
    return new DeadLetterDestination(undefined, bucket, p);
  }

  private constructor(
    private readonly existingQueue: sqs.IQueue | undefined,
    private readonly bucket: s3.IBucket | undefined,
    private readonly prefix: string | undefined,
  ) {}

  /**
   * Creates what the destination needs in `scope` and lets `grantee` write to it.
   *
   * @internal
   */
  public _bind(scope: Construct, grantee: iam.IGrantable): DeadLetterBinding {
    if (this.bucket) {
      const prefix = this.prefix ?? '';
      grantPutObjects(this.bucket, prefix, grantee);
      return { environment: { DEAD_LETTER_BUCKET: this.bucket.bucketName, DEAD_LETTER_PREFIX: prefix } };
    }
    const queue = this.existingQueue ?? createFailureQueue(scope, 'InvalidRecords');
    queue.grantSendMessages(grantee);
    return { environment: { DEAD_LETTER_QUEUE_URL: queue.queueUrl }, queue };
  }
}
