import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { ArchiveAccessLogs } from './archive-access-logs';

/** Where an archiver writes: the bucket, and how a bucket it creates is kept. */
export interface ArchiveBucketOptions {
  /**
   * The bucket to archive to.
   *
   * @default - a new bucket: S3-managed encryption (the pipeline's `encryptionKey` when it has one), TLS only, public access blocked, objects owned by the bucket owner
   */
  readonly bucket?: s3.IBucket;

  /**
   * What happens to a bucket the archiver creates when it leaves the stack.
   *
   * @default - the pipeline's `removalPolicy`
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Where the server access logs of a bucket the archiver creates go.
   *
   * @default ArchiveAccessLogs.newBucket() - a log bucket of the archiver's own
   */
  readonly accessLogs?: ArchiveAccessLogs;

  /**
   * Delete every object of a bucket the archiver creates when the bucket
   * leaves the stack, so that the stack can be deleted once the archive holds
   * objects (CloudFormation cannot delete a bucket that is not empty). Only
   * with `RemovalPolicy.DESTROY`, whether set here or on the pipeline. Adds a
   * custom resource and its function to the stack.
   *
   * @default false
   */
  readonly autoDeleteObjects?: boolean;

  /**
   * The key prefix of archive objects; empty, or ending in "/".
   *
   * @default "raw/"
   */
  readonly prefix?: string;

  /**
   * Move archive objects to S3 Glacier Instant Retrieval after this long
   * (only for a bucket the archiver creates); whole days, at least one.
   *
   * @default Duration.days(90)
   */
  readonly transitionToGlacierAfter?: Duration;
}
