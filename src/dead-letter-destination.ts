import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { grantPutObjects } from './handler-function';

/** What a dead-letter destination tells the function that writes to it. */
export interface DeadLetterDestinationConfig {
  /** Environment variables naming the destination for the handler. */
  readonly environment: Record<string, string>;
  /** The queue, when the destination is one. */
  readonly queue?: sqs.IQueue;
  /** The bucket, when the destination is one. */
  readonly bucket?: s3.IBucket;
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
export abstract class DeadLetterDestination {
  /**
   * An SQS queue.
   *
   * @param queue the queue to use; by default an SQS-encrypted, TLS-only queue that keeps messages 14 days is created
   */
  public static queue(queue?: sqs.IQueue): DeadLetterDestination {
    return new QueueDestination(queue);
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
    return new BucketDestination(bucket, p);
  }

  /** Creates what the destination needs and grants `grantee` the right to write to it. */
  public abstract bind(scope: Construct, grantee: iam.IGrantable): DeadLetterDestinationConfig;
}

class QueueDestination extends DeadLetterDestination {
  constructor(private readonly queue?: sqs.IQueue) {
    super();
  }

  public bind(scope: Construct, grantee: iam.IGrantable): DeadLetterDestinationConfig {
    const queue = this.queue ?? new sqs.Queue(scope, 'InvalidRecords', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    queue.grantSendMessages(grantee);
    return { environment: { DEAD_LETTER_QUEUE_URL: queue.queueUrl }, queue };
  }
}

class BucketDestination extends DeadLetterDestination {
  constructor(private readonly bucket: s3.IBucket, private readonly prefix: string) {
    super();
  }

  public bind(_scope: Construct, grantee: iam.IGrantable): DeadLetterDestinationConfig {
    grantPutObjects(this.bucket, this.prefix, grantee);
    return {
      environment: { DEAD_LETTER_BUCKET: this.bucket.bucketName, DEAD_LETTER_PREFIX: this.prefix },
      bucket: this.bucket,
    };
  }
}
