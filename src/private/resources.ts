import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * s3:PutObject under `prefix` and nothing else (bucket.grantPut adds tagging,
 * legal-hold, retention and s3:Abort* actions that the handlers never use).
 */
export function grantPutObjects(bucket: s3.IBucket, prefix: string, grantee: iam.IGrantable): void {
  iam.Grant.addToPrincipalOrResource({
    grantee,
    actions: ['s3:PutObject'],
    resourceArns: [bucket.arnForObjects(`${prefix}*`)],
    resource: bucket,
  });
  bucket.encryptionKey?.grantEncrypt(grantee);
}

/** A queue for what the pipeline gives up on (the dead-letter queue, the failed-batches queues): encrypted, TLS only, 14 days. */
export function createFailureQueue(scope: Construct, id: string): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
}
