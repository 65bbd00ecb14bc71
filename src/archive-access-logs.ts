import { Aspects, Duration, IAspect, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, IConstruct } from 'constructs';
import { suppressNag } from './private/nag';

/**
 * Where the S3 server access logs of an archive bucket go: every request to
 * the archive, for audits and investigations.
 */
export class ArchiveAccessLogs {
  /**
   * A log bucket of the archiver's own: S3-managed encryption (log delivery
   * does not take a KMS key), TLS only, private, ACLs disabled, logs kept one
   * year. It follows the archive bucket's removal policy and
   * `autoDeleteObjects`; when both buckets empty themselves on delete, the
   * archive is emptied first, so that the stack's deletion does not refill
   * the log bucket after it was emptied.
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
    // Read when the app is synthesized: a bucket may be made to empty itself
    // on delete after this (autoDeleteObjects, or the mixin applied later).
    Aspects.of(archive).add(new EmptyArchiveBeforeItsLogs(archive, logs));
    return logs;
  }
}

/** The id aws-cdk-lib gives the custom resource that empties a bucket on delete (the prop and the mixin alike). */
const EMPTY_ON_DELETE_ID = 'AutoDeleteObjectsCustomResource';

/**
 * Stack deletion, when both buckets empty themselves: S3 delivers server
 * access logs late (best effort, minutes to hours after the request), so a
 * log bucket emptied while the archive is still being emptied, each
 * deletion a logged request, can be refilled before CloudFormation deletes
 * it, and the deletion fails with BucketNotEmpty. The
 * archive's emptying depends on the log bucket's, so CloudFormation runs it
 * first (it deletes a resource before those it depends on). The log
 * bucket's emptying then denies s3:PutObject to every principal, the
 * logging service included, before it deletes the objects, and once its
 * policy is gone no grant is left (ACLs are disabled), so the deliveries
 * still on their way are refused. The archive bucket itself cannot go
 * before the log bucket's emptying: the log bucket's policy names the
 * archive (its log delivery grant), and the emptying needs that policy.
 */
class EmptyArchiveBeforeItsLogs implements IAspect {
  constructor(private readonly archive: s3.Bucket, private readonly logs: s3.IBucket) {}

  public visit(node: IConstruct): void {
    if (node !== this.archive) return;
    const archiveEmptying = this.archive.node.tryFindChild(EMPTY_ON_DELETE_ID);
    const logsEmptying = this.logs.node.tryFindChild(EMPTY_ON_DELETE_ID);
    if (archiveEmptying && logsEmptying) archiveEmptying.node.addDependency(logsEmptying);
  }
}
