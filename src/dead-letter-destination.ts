import { Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DeadLetterTarget } from './private/handler-contract';
import { suppressKeyGrants } from './private/nag';
import { createFailureQueue, FailureQueueKind, grantPutObjects } from './private/resources';

/**
 * A dead-letter destination bound to a processor.
 *
 * @internal
 */
export interface DeadLetterBinding {
  /** Where the handler sends dead letters. */
  readonly target: DeadLetterTarget;
  /** The queue, when the destination is one. */
  readonly queue?: sqs.IQueue;
  /** Lets the processor's function write to the destination. */
  grant(grantee: iam.IGrantable): void;
}

/**
 * The dead-letter destination: where records that fail validation go, each
 * with its raw payload, the reason, and its shard and sequence number.
 *
 * - `DeadLetterDestination.queue()`: one SQS message per record; easy to
 *   alarm on and redrive. A record whose message would pass SQS's 256 KiB
 *   limit has its payload cut to fit (the message says `truncated: true`);
 *   messages are kept at most 14 days.
 * - `DeadLetterDestination.bucket()`: one NDJSON object per batch under a
 *   prefix; keeps payloads of any size for as long as the bucket keeps them.
 */
export class DeadLetterDestination {
  /**
   * An SQS queue.
   *
   * @param queue the queue to use; by default a new SQS-encrypted, TLS-only queue that keeps messages 14 days
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
    if (!Token.isUnresolved(p) && p.length > 0 && !p.endsWith('/')) {
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
   * Creates what the destination needs in `scope`; a queue it creates is
   * encrypted with `key` when one is given.
   *
   * @internal
   */
  public _bind(scope: Construct, key?: kms.IKey): DeadLetterBinding {
    if (this.bucket) {
      const bucket = this.bucket;
      const prefix = this.prefix ?? '';
      return {
        target: { bucket: bucket.bucketName, prefix },
        grant: (grantee) => grantPutObjects(bucket, prefix, grantee, 'The processor writes one dead-letter object per batch'),
      };
    }
    const queue = this.existingQueue ?? createFailureQueue(scope, 'DeadLetterQueue', FailureQueueKind.DEAD_LETTERS, key);
    return {
      target: { queueUrl: queue.queueUrl },
      queue,
      grant: (grantee) => {
        queue.grantSendMessages(grantee);
        if (queue.encryptionMasterKey) suppressKeyGrants(grantee);
      },
    };
  }
}
