import { CfnResource } from 'aws-cdk-lib';
import * as identitypool from 'aws-cdk-lib/aws-cognito-identitypool';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { addNagSuppressions } from './nag-metadata';
import { SensorIngestPipeline } from '../src';

export interface TestClientIdentityProps {
  /** The pipeline the test page feeds and reads; it must have a dead-letter queue (the page shows it). */
  readonly pipeline: SensorIngestPipeline;
}

/**
 * The test page's identity: instead of an IAM user with an access key (a
 * long-lived secret), a Cognito identity pool hands the page temporary
 * credentials of its guest role. The page has no sign-in, so anyone holding
 * it can do what this role allows, and it allows only what the page does: put
 * records on the pipeline's stream, query it, peek at its dead-letter queue
 * and read CloudWatch metric data.
 *
 * It is the identity pool itself rather than a construct holding one, so that
 * the pool, its roles and their policies keep the construct paths (and so the
 * logical ids) of a pool created directly in the stack.
 */
export class TestClientIdentity extends identitypool.IdentityPool {
  /** The pool's guest (unauthenticated) role: the page's permissions. */
  public readonly guestRole: iam.IRole;

  constructor(scope: Construct, id: string, props: TestClientIdentityProps) {
    const deadLetterQueue = deadLetterQueueOf(props.pipeline);
    super(scope, id, {
      allowUnauthenticatedIdentities: true,
      // The enhanced flow only (GetId, GetCredentialsForIdentity): Cognito
      // then also caps guest sessions with its own scope-down policy.
      allowClassicFlow: false,
    });
    const pipeline = props.pipeline;
    this.guestRole = this.unauthenticatedRole;
    pipeline.grantPutRecords(this.guestRole);
    // The Lambda API, and the query endpoint's own permission when it has one.
    pipeline.grantQuery(this.guestRole);
    // The page shows dead letters without consuming them (VisibilityTimeout 0),
    // so no DeleteMessage.
    deadLetterQueue.grant(this.guestRole, 'sqs:ReceiveMessage', 'sqs:GetQueueAttributes');
    // ReceiveMessage on a queue under a KMS key needs kms:Decrypt on that key.
    deadLetterQueue.encryptionMasterKey?.grantDecrypt(this.guestRole);
    // GetMetricData and ListMetrics have no resource-level permissions (and no
    // condition key naming a namespace): their resource can only be "*". They
    // read metric values, and the metrics' names (the page lists the sensors seen).
    this.guestRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'],
      resources: ['*'],
    }));

    addNagSuppressions(this.node.defaultChild as CfnResource, [{
      id: 'AwsSolutions-COG7',
      reason: 'The test page has no sign-in, so it takes guest (unauthenticated) identities. Their role may only put records on '
        + `this pipeline's stream, ${queryPermission(pipeline)}, read its dead-letter queue without deleting and read CloudWatch `
        + 'metric data; the classic flow is off, so Cognito also caps guest sessions with its enhanced-flow session policy. '
        + 'A page for real users would use authenticated identities.',
    }]);
    addNagSuppressions(this.guestRole.node.findChild('DefaultPolicy').node.defaultChild as CfnResource, [{
      id: 'AwsSolutions-IAM5',
      reason: 'cloudwatch:GetMetricData and cloudwatch:ListMetrics support no resource-level permissions, so their resource must be "*"; '
        + "they only read metric values and names (the page shows the processor's Sensors/SensorData metric and lists its sensors).",
      applies_to: ['Resource::*'],
    }]);
  }
}

function deadLetterQueueOf(pipeline: SensorIngestPipeline): sqs.IQueue {
  if (!pipeline.deadLetterQueue) {
    throw new Error('TestClientIdentityProps.pipeline must have a dead-letter queue, which the test page shows; '
      + 'got a pipeline whose processor has another dead-letter destination');
  }
  return pipeline.deadLetterQueue;
}

/** What `grantQuery` allowed, in the words of the COG7 reason: the Lambda API, and the query endpoint it authorized. */
function queryPermission(pipeline: SensorIngestPipeline): string {
  const endpoint = pipeline.queryEndpointBinding;
  if (endpoint.httpApi && (endpoint.invokeArns ?? []).length > 0) return 'call its query function and HTTP API';
  if (endpoint.functionUrl) return 'call its query function and Function URL';
  return 'invoke its query function';
}
