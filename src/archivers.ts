import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { HandlerFunctionOptions, StreamConsumerOptions } from './options';
import { ArchiverBinding, IArchiver, ISensorIngestPipeline } from './pipeline-interfaces';
import { LOG_METRICS } from './private/handler-contract';
import { createBundledFunction, validateHandlerOptions } from './private/handler-function';
import { logMetric } from './private/monitoring';
import { suppressNag } from './private/nag';
import { withDefaults } from './private/payload';
import { grantPutObjects } from './private/resources';
import { attachToStream, validateConsumerOptions } from './private/stream-consumer';
import { validateDuration } from './private/validation';

/**
 * Where the S3 server access logs of an archive bucket go: every request to
 * the archive, for audits and investigations.
 */
export class ArchiveAccessLogs {
  /**
   * A log bucket of the archiver's own: S3-managed encryption (log delivery
   * does not take a KMS key), TLS only, private, logs kept one year. It
   * follows the archive bucket's removal policy and `autoDeleteObjects`.
   */
  public static newBucket(): ArchiveAccessLogs {
    return new ArchiveAccessLogs(undefined, 'archive-access-logs/', undefined);
  }

  /**
   * A log bucket of your own, under a prefix. Its policy must let
   * `logging.s3.amazonaws.com` put objects under the prefix; the archiver
   * adds that statement when the bucket is defined in the same app.
   *
   * @param bucket the log bucket
   * @param prefix the key prefix of the logs, empty or ending in "/"; default "archive-access-logs/"
   */
  public static toBucket(bucket: s3.IBucket, prefix?: string): ArchiveAccessLogs {
    const p = prefix ?? 'archive-access-logs/';
    if (!Token.isUnresolved(p) && p.length > 0 && !p.endsWith('/')) {
      throw new Error(`ArchiveAccessLogs.toBucket: prefix must be empty or end with "/", got "${p}"`);
    }
    return new ArchiveAccessLogs(bucket, p, undefined);
  }

  /**
   * No access logs. The reason is written into the template beside the
   * bucket, where reviewers and cdk-nag (rule AwsSolutions-S1) read it.
   *
   * @param reason why the archive needs no access logs, at least 10 characters
   */
  public static disabled(reason: string): ArchiveAccessLogs {
    if (!Token.isUnresolved(reason) && reason.trim().length < 10) {
      throw new Error(`ArchiveAccessLogs.disabled: reason must say why, in at least 10 characters, got "${reason}"`);
    }
    return new ArchiveAccessLogs(undefined, undefined, reason);
  }

  private constructor(
    private readonly bucket: s3.IBucket | undefined,
    private readonly prefix: string | undefined,
    private readonly disabledReason: string | undefined,
  ) {}

  /**
   * Sends the access logs of `archive` where this says, creating a log
   * bucket in `scope` when it is the archiver's own.
   *
   * @internal
   */
  public _bind(scope: Construct, archive: s3.Bucket, removalPolicy: RemovalPolicy, autoDeleteObjects: boolean | undefined): s3.IBucket | undefined {
    if (this.disabledReason !== undefined) {
      suppressNag(archive, [{ id: 'AwsSolutions-S1', reason: `Server access logs are turned off: ${this.disabledReason}` }]);
      return undefined;
    }
    const prefix = this.prefix ?? '';
    const logs = this.bucket ?? new s3.Bucket(scope, 'AccessLogsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      autoDeleteObjects,
      lifecycleRules: [{ expiration: Duration.days(365), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });
    if (!this.bucket) {
      suppressNag(logs, [{
        id: 'AwsSolutions-S1',
        reason: 'This is the access-log bucket of the archive; logging its own requests would log every log delivery into itself.',
      }]);
    }
    // Log delivery by bucket policy, whatever the app's feature flags (the
    // Bucket prop would fall back to an ACL without one of them).
    logs.addToResourcePolicy(new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('logging.s3.amazonaws.com')],
      actions: ['s3:PutObject'],
      resources: [logs.arnForObjects(`${prefix}*`)],
      conditions: {
        ArnLike: { 'aws:SourceArn': archive.bucketArn },
        StringEquals: { 'aws:SourceAccount': Stack.of(archive).account },
      },
    }));
    (archive.node.defaultChild as s3.CfnBucket).loggingConfiguration = { destinationBucketName: logs.bucketName, logFilePrefix: prefix };
    return logs;
  }
}

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
    for (const p of ['transitionToGlacierAfter', 'removalPolicy', 'autoDeleteObjects', 'accessLogs'] as const) {
      if (props.bucket && props[p] !== undefined) {
        throw new Error(`${name}.${p} applies only to a bucket the archiver creates; it must not be set together with ${name}.bucket`);
      }
    }
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): ArchiverBinding {
    const props = this.props;
    const prefix = props.prefix ?? 'raw/';
    const bucket = props.bucket ?? this.createBucket(scope, pipeline);
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
    grantPutObjects(bucket, prefix, fn, 'The archiver writes one object per batch and hour of event time');
    const failedBatchesQueue = attachToStream(scope, fn, pipeline.stream, props, {
      batchSize: 1_000,
      maxBatchingWindow: Duration.seconds(60),
      encryptionKey: pipeline.encryptionKey,
    });
    return { lambdaFunction: fn, bucket, failedBatchesQueue, archiveObjectsMetric: logMetric(fn, 'ArchiveObjects', LOG_METRICS.archiveObjects) };
  }

  private createBucket(scope: Construct, pipeline: ISensorIngestPipeline): s3.Bucket {
    const props = this.props;
    const removalPolicy = props.removalPolicy ?? pipeline.removalPolicy;
    if (props.autoDeleteObjects && removalPolicy !== RemovalPolicy.DESTROY) {
      throw new Error(`S3ArchiverProps.autoDeleteObjects needs RemovalPolicy.DESTROY (on the archiver or the pipeline), got ${removalPolicy}`);
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
