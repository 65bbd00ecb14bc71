package io.github.cdkiotingest.examples;

import java.util.List;

import io.github.cdkiotingest.QueryEndpointBinding;
import io.github.cdkiotingest.SensorIngestPipeline;
import software.amazon.awscdk.CfnResource;
import software.amazon.awscdk.services.cognito.identitypool.IdentityPool;
import software.amazon.awscdk.services.cognito.identitypool.IdentityPoolProps;
import software.amazon.awscdk.services.iam.IRole;
import software.amazon.awscdk.services.iam.PolicyStatement;
import software.amazon.awscdk.services.sqs.IQueue;
import software.constructs.Construct;

/**
 * The test page's identity: the Java twin of ../test-client-identity.ts. Instead of
 * an IAM user with an access key (a long-lived secret), a Cognito identity pool
 * hands the page temporary credentials of its guest role. The page has no sign-in,
 * so anyone holding it can do what this role allows, and it allows only what the
 * page does: put records on the pipeline's stream, query it, peek at its
 * dead-letter queue and read CloudWatch metric data.
 *
 * <p>It is the identity pool itself rather than a construct holding one, so that
 * the pool, its roles and their policies keep the construct paths (and so the
 * logical ids) of a pool created directly in the stack.
 */
public class TestClientIdentity extends IdentityPool {
    private final IRole guestRole;

    /**
     * @param pipeline the pipeline the test page feeds and reads; it must have a
     *                 dead-letter queue (the page shows it)
     */
    public TestClientIdentity(final Construct scope, final String id, final SensorIngestPipeline pipeline) {
        super(scope, id, IdentityPoolProps.builder()
                .allowUnauthenticatedIdentities(true)
                // The enhanced flow only (GetId, GetCredentialsForIdentity): Cognito
                // then also caps guest sessions with its own scope-down policy.
                .allowClassicFlow(false)
                .build());
        IQueue deadLetterQueue = pipeline.getDeadLetterQueue();
        if (deadLetterQueue == null) {
            throw new IllegalArgumentException("TestClientIdentity: pipeline must have a dead-letter queue, which the "
                    + "test page shows; got a pipeline whose processor has another dead-letter destination");
        }
        guestRole = getUnauthenticatedRole();
        pipeline.grantPutRecords(guestRole);
        // The Lambda API, and the query endpoint's own permission when it has one.
        pipeline.grantQuery(guestRole);
        // The page shows dead letters without consuming them (VisibilityTimeout 0),
        // so no DeleteMessage.
        deadLetterQueue.grant(guestRole, "sqs:ReceiveMessage", "sqs:GetQueueAttributes");
        // ReceiveMessage on a queue under a KMS key needs kms:Decrypt on that key.
        if (deadLetterQueue.getEncryptionMasterKey() != null) {
            deadLetterQueue.getEncryptionMasterKey().grantDecrypt(guestRole);
        }
        // GetMetricData and ListMetrics have no resource-level permissions (and no
        // condition key naming a namespace): their resource can only be "*". They
        // read metric values, and the metrics' names (the page lists the sensors seen).
        guestRole.addToPrincipalPolicy(PolicyStatement.Builder.create()
                .actions(List.of("cloudwatch:GetMetricData", "cloudwatch:ListMetrics"))
                .resources(List.of("*"))
                .build());

        NagMetadata.addSuppressions((CfnResource) getNode().getDefaultChild(), NagMetadata.rule(
                "AwsSolutions-COG7",
                "The test page has no sign-in, so it takes guest (unauthenticated) identities. Their role may only put "
                        + "records on this pipeline's stream, " + queryPermission(pipeline) + ", read its dead-letter "
                        + "queue without deleting and read CloudWatch metric data; the classic flow is off, so Cognito "
                        + "also caps guest sessions with its enhanced-flow session policy. A page for real users would "
                        + "use authenticated identities."));
        NagMetadata.addSuppressions(
                (CfnResource) guestRole.getNode().findChild("DefaultPolicy").getNode().getDefaultChild(),
                NagMetadata.rule("AwsSolutions-IAM5",
                        "cloudwatch:GetMetricData and cloudwatch:ListMetrics support no resource-level permissions, "
                                + "so their resource must be \"*\"; they only read metric values and names (the page "
                                + "shows the processor's Sensors/SensorData metric and lists its sensors).",
                        "Resource::*"));
    }

    /** The pool's guest (unauthenticated) role: the page's permissions. */
    public IRole getGuestRole() {
        return guestRole;
    }

    /** What grantQuery allowed, in the words of the COG7 reason: the Lambda API, and the query endpoint it authorized. */
    private static String queryPermission(final SensorIngestPipeline pipeline) {
        QueryEndpointBinding endpoint = pipeline.getQueryEndpointBinding();
        if (endpoint.getHttpApi() != null && endpoint.getInvokeArns() != null && !endpoint.getInvokeArns().isEmpty()) {
            return "call its query function and HTTP API";
        }
        if (endpoint.getFunctionUrl() != null) {
            return "call its query function and Function URL";
        }
        return "invoke its query function";
    }
}
