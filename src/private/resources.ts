import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { escapeRegex, findingPattern, suppressKeyGrants, suppressNag, suppressOnPrincipalPolicy } from './nag';

/**
 * s3:PutObject under `prefix` and nothing else (bucket.grantPut adds tagging,
 * legal-hold, retention and s3:Abort* actions that the handlers never use).
 */
export function grantPutObjects(bucket: s3.IBucket, prefix: string, grantee: iam.IGrantable, why: string): void {
  iam.Grant.addToPrincipalOrResource({
    grantee,
    actions: ['s3:PutObject'],
    resourceArns: [bucket.arnForObjects(`${prefix}*`)],
    resource: bucket,
  });
  suppressOnPrincipalPolicy(grantee, [{
    id: 'AwsSolutions-IAM5',
    reason: `${why}; object keys are made at run time, so s3:PutObject is granted under the prefix and nowhere else.`,
    appliesTo: [findingPattern(`^Resource::.*/${escapeRegex(prefix)}\\*$`)],
  }]);
  if (bucket.encryptionKey) {
    bucket.encryptionKey.grantEncrypt(grantee);
    suppressKeyGrants(grantee);
  }
}

/** What a failure queue holds, which is why it has no dead-letter queue of its own. */
export enum FailureQueueKind {
  DEAD_LETTERS = 'the dead-letter queue of the records that fail validation',
  FAILED_BATCHES = 'the failed-batches queue of an event source mapping, which receives the batches it gives up on',
}

/**
 * A queue for what the pipeline gives up on (the dead-letter queue, the
 * failed-batches queues): encrypted (with `key` when one is given), TLS
 * only, messages kept 14 days.
 */
export function createFailureQueue(scope: Construct, id: string, kind: FailureQueueKind, key?: kms.IKey): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: key ? sqs.QueueEncryption.KMS : sqs.QueueEncryption.SQS_MANAGED,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  suppressNag(queue, [{
    id: 'AwsSolutions-SQS3',
    reason: `This queue is ${kind}: it is itself where failures end, and its messages are kept 14 days for a person or a redrive to handle.`,
  }]);
  return queue;
}
