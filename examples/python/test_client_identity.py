"""The test page's identity: the Python twin of ../test-client-identity.ts."""
from aws_cdk import aws_cognito_identitypool as identitypool, aws_iam as iam
from constructs import Construct

from cdk_iot_ingest import SensorIngestPipeline
from nag_metadata import add_nag_suppressions


class TestClientIdentity(identitypool.IdentityPool):
    """A Cognito identity pool whose guest role is the test page's identity.

    Instead of an IAM user with an access key (a long-lived secret), the pool
    hands the page temporary credentials of its guest role. The page has no
    sign-in, so anyone holding it can do what this role allows, and it allows
    only what the page does: put records on the pipeline's stream, query it,
    peek at its dead-letter queue and read CloudWatch metric data.

    It is the identity pool itself rather than a construct holding one, so that
    the pool, its roles and their policies keep the construct paths (and so the
    logical ids) of a pool created directly in the stack.
    """

    # Not a test class, whatever pytest's naming rule (Test*) says.
    __test__ = False

    def __init__(self, scope: Construct, construct_id: str, *, pipeline: SensorIngestPipeline) -> None:
        dead_letter_queue = pipeline.dead_letter_queue
        if dead_letter_queue is None:
            raise ValueError(
                "TestClientIdentity: pipeline must have a dead-letter queue, which the test page shows; "
                "got a pipeline whose processor has another dead-letter destination"
            )
        super().__init__(
            scope,
            construct_id,
            allow_unauthenticated_identities=True,
            # The enhanced flow only (GetId, GetCredentialsForIdentity): Cognito
            # then also caps guest sessions with its own scope-down policy.
            allow_classic_flow=False,
        )
        # The pool's guest (unauthenticated) role: the page's permissions.
        self.guest_role = self.unauthenticated_role
        pipeline.grant_put_records(self.guest_role)
        # The Lambda API, and the query endpoint's own permission when it has one.
        pipeline.grant_query(self.guest_role)
        # The page shows dead letters without consuming them (VisibilityTimeout 0),
        # so no DeleteMessage.
        dead_letter_queue.grant(self.guest_role, "sqs:ReceiveMessage", "sqs:GetQueueAttributes")
        # ReceiveMessage on a queue under a KMS key needs kms:Decrypt on that key.
        if dead_letter_queue.encryption_master_key is not None:
            dead_letter_queue.encryption_master_key.grant_decrypt(self.guest_role)
        # GetMetricData and ListMetrics have no resource-level permissions (and no
        # condition key naming a namespace): their resource can only be "*". They
        # read metric values, and the metrics' names (the page lists the sensors seen).
        self.guest_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"],
            resources=["*"],
        ))

        add_nag_suppressions(self.node.default_child, [{
            "id": "AwsSolutions-COG7",
            "reason": "The test page has no sign-in, so it takes guest (unauthenticated) identities. Their role may only put "
            f"records on this pipeline's stream, {_query_permission(pipeline)}, read its dead-letter queue without deleting "
            "and read CloudWatch metric data; the classic flow is off, so Cognito also caps guest sessions with its "
            "enhanced-flow session policy. A page for real users would use authenticated identities.",
        }])
        add_nag_suppressions(self.guest_role.node.find_child("DefaultPolicy").node.default_child, [{
            "id": "AwsSolutions-IAM5",
            "reason": 'cloudwatch:GetMetricData and cloudwatch:ListMetrics support no resource-level permissions, so their '
            'resource must be "*"; they only read metric values and names (the page shows the processor\'s '
            "Sensors/SensorData metric and lists its sensors).",
            "applies_to": ["Resource::*"],
        }])


def _query_permission(pipeline: SensorIngestPipeline) -> str:
    """What grant_query allowed, in the words of the COG7 reason: the Lambda API, and the query endpoint it authorized."""
    endpoint = pipeline.query_endpoint_binding
    if endpoint.http_api is not None and endpoint.invoke_arns:
        return "call its query function and HTTP API"
    if endpoint.function_url is not None:
        return "call its query function and Function URL"
    return "invoke its query function"
