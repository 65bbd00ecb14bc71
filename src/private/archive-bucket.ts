import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { validateDuration } from './validation';
import { ArchiveAccessLogs } from '../archive-access-logs';
import { ArchiveBucketOptions } from '../archive-bucket-options';
import { ISensorIngestPipeline } from '../pipeline-interfaces';

/** The archive prefix when none is given. */
export const DEFAULT_ARCHIVE_PREFIX = 'raw/';

/** Validates the bucket options of an archiver, naming each prop as `<propsName>.<prop>`. */
export function validateArchiveBucketOptions(propsName: string, props: ArchiveBucketOptions): void {
  validateDuration(`${propsName}.transitionToGlacierAfter`, props.transitionToGlacierAfter, Duration.days(1), Duration.days(36_500));
  const transition = props.transitionToGlacierAfter;
  if (transition && !transition.isUnresolved() && !Number.isInteger(transition.toDays({ integral: false }))) {
    throw new Error(`${propsName}.transitionToGlacierAfter must be whole days, got ${transition.toHumanString()}`);
  }
  if (props.prefix && !Token.isUnresolved(props.prefix) && !props.prefix.endsWith('/')) {
    throw new Error(`${propsName}.prefix must be empty or end with "/", got "${props.prefix}"`);
  }
  for (const p of ['transitionToGlacierAfter', 'removalPolicy', 'autoDeleteObjects', 'accessLogs'] as const) {
    if (props.bucket && props[p] !== undefined) {
      throw new Error(`${propsName}.${p} applies only to a bucket the archiver creates; it must not be set together with ${propsName}.bucket`);
    }
  }
}

/**
 * The archive bucket: the one given, or a new one in `scope` (id `Bucket`),
 * encrypted with the pipeline's key when it has one, TLS only, private, with
 * its access logs and lifecycle rules.
 */
export function archiveBucket(scope: Construct, pipeline: ISensorIngestPipeline, props: ArchiveBucketOptions, propsName: string): s3.IBucket {
  if (props.bucket) return props.bucket;
  const removalPolicy = props.removalPolicy ?? pipeline.removalPolicy;
  if (props.autoDeleteObjects && removalPolicy !== RemovalPolicy.DESTROY) {
    throw new Error(`${propsName}.autoDeleteObjects needs RemovalPolicy.DESTROY (on the archiver or the pipeline), got ${removalPolicy}`);
  }
  const key = pipeline.encryptionKey;
  const bucket = new s3.Bucket(scope, 'Bucket', {
    encryption: key ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
    encryptionKey: key,
    // One data key per bucket, not per object: fewer KMS calls.
    bucketKeyEnabled: key ? true : undefined,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy,
    autoDeleteObjects: props.autoDeleteObjects,
    lifecycleRules: [{
      abortIncompleteMultipartUploadAfter: Duration.days(1),
      transitions: [{
        storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
        transitionAfter: props.transitionToGlacierAfter ?? Duration.days(90),
      }],
    }],
  });
  (props.accessLogs ?? ArchiveAccessLogs.newBucket())._bind(scope, bucket, removalPolicy, props.autoDeleteObjects);
  return bucket;
}
