import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { HandlerFunctionOptions, StreamConsumerOptions } from './options';
import { ArchiverBinding, IArchiver, ISensorIngestPipeline } from './pipeline-interfaces';
import { createBundledFunction, validateHandlerOptions } from './private/handler-function';
import { withDefaults } from './private/payload';
import { grantPutObjects } from './private/resources';
import { attachToStream, validateConsumerOptions } from './private/stream-consumer';
import { validateDuration } from './private/validation';

/** Props of the built-in S3 archiver. */
export interface S3ArchiverProps extends StreamConsumerOptions, HandlerFunctionOptions {
  /**
   * The bucket to archive to.
   *
   * @default - a new bucket: S3-managed encryption, TLS only, public access blocked, objects owned by the bucket owner
   */
  readonly bucket?: s3.IBucket;

  /**
   * What happens to a bucket the archiver creates when it leaves the stack.
   *
   * @default - the pipeline's `removalPolicy`
   */
  readonly removalPolicy?: RemovalPolicy;

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

/**
 * The built-in archiver: a function that writes each batch as gzip-compressed
 * NDJSON to S3, one object per hour of event time (the pipeline's payload
 * mapping names the timestamp field) under
 * `<prefix>year=YYYY/month=MM/day=DD/hour=HH/`, named after the shard and the
 * first sequence number so that a retried batch overwrites, never duplicates.
 */
export class S3Archiver implements IArchiver {
  constructor(private readonly props: S3ArchiverProps = {}) {
    const name = 'S3ArchiverProps';
    validateConsumerOptions(name, props, true);
    validateHandlerOptions(name, props);
    validateDuration(`${name}.transitionToGlacierAfter`, props.transitionToGlacierAfter, Duration.days(1), Duration.days(36_500));
    const transition = props.transitionToGlacierAfter;
    if (transition && !transition.isUnresolved() && !Number.isInteger(transition.toDays({ integral: false }))) {
      throw new Error(`${name}.transitionToGlacierAfter must be whole days, got ${transition.toHumanString()}`);
    }
    if (props.prefix && !Token.isUnresolved(props.prefix) && !props.prefix.endsWith('/')) {
      throw new Error(`${name}.prefix must be empty or end with "/", got "${props.prefix}"`);
    }
    for (const p of ['transitionToGlacierAfter', 'removalPolicy', 'autoDeleteObjects'] as const) {
      if (props.bucket && props[p] !== undefined) {
        throw new Error(`${name}.${p} applies only to a bucket the archiver creates; it must not be set together with ${name}.bucket`);
      }
    }
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): ArchiverBinding {
    const props = this.props;
    const prefix = props.prefix ?? 'raw/';
    const removalPolicy = props.removalPolicy ?? pipeline.removalPolicy;
    if (props.autoDeleteObjects && removalPolicy !== RemovalPolicy.DESTROY) {
      throw new Error(`S3ArchiverProps.autoDeleteObjects needs RemovalPolicy.DESTROY (on the archiver or the pipeline), got ${removalPolicy}`);
    }
    const bucket = props.bucket ?? new s3.Bucket(scope, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
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
    const fn = createBundledFunction(scope, 'Function', {
      ...props,
      handler: 'archiver',
      description: 'Archives the raw sensor records of the stream to S3 as gzip NDJSON',
      defaultTimeout: Duration.seconds(60),
      settings: {
        archiveBucket: bucket.bucketName,
        archivePrefix: prefix,
        timestampField: withDefaults(pipeline.payloadMapping).timestampField,
      },
    });
    grantPutObjects(bucket, prefix, fn);
    const failedBatchesQueue = attachToStream(scope, fn, pipeline.stream, props, {
      batchSize: 1_000,
      maxBatchingWindow: Duration.seconds(60),
    });
    return { lambdaFunction: fn, bucket, failedBatchesQueue };
  }
}

class NoArchiver implements IArchiver {
  public bind(): ArchiverBinding {
    return {};
  }
}

/** The built-in archivers. */
export abstract class Archiver {
  /** The S3 archiver (the pipeline's default). */
  public static s3(props?: S3ArchiverProps): IArchiver {
    return new S3Archiver(props);
  }

  /** No archive. */
  public static none(): IArchiver {
    return new NoArchiver();
  }

  private constructor() {}
}
