"""The Serverless IoT Backend reference deployment, built on cdk-iot-ingest.

The Python twin of ../reference-stack.ts: the same constructs, ids and
settings, so that both synthesize the same resources (see ../README.md for
which construct creates each reference resource).
"""
from typing import Any, List, Mapping

from aws_cdk import (
    CfnOutput,
    CfnResource,
    Duration,
    NestedStack,
    RemovalPolicy,
    Stack,
    aws_cognito_identitypool as identitypool,
    aws_dynamodb as dynamodb,
    aws_iam as iam,
    aws_lambda as lambda_,
    aws_logs as logs,
    custom_resources as cr,
)
from constructs import Construct

from cdk_iot_ingest import Archiver, IngestProcessor, MetricsMode, SensorIngestPipeline


class ReferenceDeploymentStack(Stack):
    """Every resource of the reference, with SensorIngestPipeline at its heart."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        # kwargs: the StackProps (env, description, ...), as the CDK's own Python template passes them.
        super().__init__(scope, construct_id, **kwargs)

        # EventStream, SensorDataTable, ArchiveBucket and the three functions
        # with their roles and event source mappings.
        self.pipeline = SensorIngestPipeline(
            self,
            "Pipeline",
            shard_count=1,
            # The pipeline's CloudWatch dashboard, beside its alarms.
            dashboard=True,
            # A demo: everything goes when the stack is deleted, the archive
            # bucket with its objects (below).
            removal_policy=RemovalPolicy.DESTROY,
            # The reference's batch size and starting position, and its metric
            # published with PutMetricData (aggregated per sensor and minute).
            processor=IngestProcessor.dynamo_db(
                batch_size=25,
                max_batching_window=Duration.seconds(0),
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                metrics_mode=MetricsMode.PUT_METRIC_DATA,
            ),
            archiver=Archiver.s3(
                batch_size=100,
                max_batching_window=Duration.seconds(0),
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                # CloudFormation deletes only an empty bucket.
                auto_delete_objects=True,
            ),
        )
        archive_bucket = self.pipeline.archive_bucket
        assert archive_bucket is not None  # Archiver.s3() always has a bucket
        dead_letter_queue = self.pipeline.dead_letter_queue
        assert dead_letter_queue is not None  # IngestProcessor.dynamo_db() defaults to a queue

        # TestClientUser, TestClientPolicy, TestClientKeys: the test page's
        # identity. Instead of an IAM user with an access key (a long-lived
        # secret), a Cognito identity pool hands the page temporary
        # credentials of its guest role: the page has no sign-in, so anyone
        # holding it can do what this role allows, and it allows only what
        # the page does.
        identity_pool = identitypool.IdentityPool(
            self,
            "TestClientIdentityPool",
            allow_unauthenticated_identities=True,
            # The enhanced flow only (GetId, GetCredentialsForIdentity): Cognito
            # then also caps guest sessions with its own scope-down policy.
            allow_classic_flow=False,
        )
        guest_role = identity_pool.unauthenticated_role
        self.pipeline.grant_put_records(guest_role)
        self.pipeline.grant_query(guest_role)
        # The page shows dead letters without consuming them (VisibilityTimeout 0),
        # so no DeleteMessage.
        dead_letter_queue.grant(guest_role, "sqs:ReceiveMessage", "sqs:GetQueueAttributes")
        # ReceiveMessage on a queue under a KMS key needs kms:Decrypt on that key.
        if dead_letter_queue.encryption_master_key is not None:
            dead_letter_queue.encryption_master_key.grant_decrypt(guest_role)
        # GetMetricData has no resource-level permissions (and no condition key
        # naming a namespace): its resource can only be "*". It reads metric values.
        guest_role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:GetMetricData"],
            resources=["*"],
        ))
        add_nag_suppressions(identity_pool.node.default_child, [{
            "id": "AwsSolutions-COG7",
            "reason": "The test page has no sign-in, so it takes guest (unauthenticated) identities. Their role may only put "
            "records on this pipeline's stream, invoke its query function, read its dead-letter queue without deleting and "
            "read CloudWatch metric data; the classic flow is off, so Cognito also caps guest sessions with its "
            "enhanced-flow session policy. A page for real users would use authenticated identities.",
        }])
        add_nag_suppressions(guest_role.node.find_child("DefaultPolicy").node.default_child, [
            {
                "id": "AwsSolutions-IAM5",
                "reason": 'cloudwatch:GetMetricData supports no resource-level permissions, so its resource must be "*"; it '
                "only reads metric values (the page shows the processor's Sensors/SensorData metric).",
                "applies_to": ["Resource::*"],
            },
        ])

        # ConfigTable and ConfigHelperStack: the reference's fixed-name
        # configuration table, its entries written at deploy time by a custom
        # resource in a nested stack.
        config_table = dynamodb.Table(
            self,
            "ConfigTable",
            table_name="IoTRefArchConfig",
            partition_key=dynamodb.Attribute(name="Environment", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True,
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.config_helper = ConfigHelperStack(
            self,
            "ConfigHelperStack",
            config_table=config_table,
            entries={
                "SensorDataTable": self.pipeline.table.table_name,
                "ArchiveBucket": archive_bucket.bucket_name,
            },
        )

        CfnOutput(
            self,
            "IdentityPoolId",
            value=identity_pool.identity_pool_id,
            description="Cognito identity pool giving the test page temporary credentials (its config.json's identityPoolId)",
        )
        CfnOutput(
            self,
            "DeadLetterQueueUrl",
            value=dead_letter_queue.queue_url,
            description="Queue of records that failed validation",
        )
        CfnOutput(self, "LambdaAPIFunction", value=self.pipeline.query_function.function_name)
        CfnOutput(self, "KinesisStream", value=self.pipeline.stream.stream_name)
        CfnOutput(self, "Region", value=self.region)
        CfnOutput(self, "ArchiveBucket", value=archive_bucket.bucket_name)
        CfnOutput(self, "SensorDataTable", value=self.pipeline.table.table_name)


class ConfigHelperStack(NestedStack):
    """The reference's ConfigHelperStack: writes the configuration entries, and removes them on delete."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config_table: dynamodb.ITable,
        entries: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        names = list(entries)
        key = {"Environment": {"S": "demo"}}
        attr_names = {f"#a{i}": n for i, n in enumerate(names)}
        table = config_table.table_name
        # The provider function's own role and log group: it may write its logs
        # to that group only, where the default role would bring the managed
        # AWSLambdaBasicExecutionRole (logs on every log group).
        role = iam.Role(
            self,
            "ConfigEntriesRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Writes and removes the IoTRefArchConfig entries at deploy time",
        )
        log_group = logs.LogGroup(
            self,
            "ConfigEntriesLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        log_group.grant_write(role)
        cr.AwsCustomResource(
            self,
            "ConfigEntries",
            on_create=cr.AwsSdkCall(
                service="DynamoDB",
                action="updateItem",
                parameters={
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(names))),
                    "ExpressionAttributeNames": attr_names,
                    "ExpressionAttributeValues": {f":v{i}": {"S": entries[n]} for i, n in enumerate(names)},
                },
                physical_resource_id=cr.PhysicalResourceId.of("IoTRefArchConfig-demo"),
            ),
            on_delete=cr.AwsSdkCall(
                service="DynamoDB",
                action="updateItem",
                parameters={
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "REMOVE " + ", ".join(f"#a{i}" for i in range(len(names))),
                    "ExpressionAttributeNames": attr_names,
                },
            ),
            install_latest_aws_sdk=False,
            role=role,
            log_group=log_group,
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[config_table.table_arn]),
            ]),
        )
        # The provider is one function per stack (a SingletonFunction); this
        # nested stack holds no other.
        for construct in self.node.find_all():
            if CfnResource.is_cfn_resource(construct) and construct.cfn_resource_type == "AWS::Lambda::Function":
                add_nag_suppressions(construct, [{
                    "id": "AwsSolutions-L1",
                    "reason": "aws-cdk-lib's AwsCustomResource provider: aws-cdk-lib chooses its runtime (the newest Node.js "
                    "it ships the provider for) and moves it with aws-cdk-lib upgrades; overriding it would run the "
                    "provider on a runtime it was not released for. It runs only when CloudFormation creates or deletes "
                    "this resource.",
                }])


def add_nag_suppressions(resource: CfnResource, rules: List[Mapping[str, Any]]) -> None:
    """Writes cdk-nag suppressions into the resource's template metadata, beside any already there.

    A cdk-nag run over this app reads them without the app depending on cdk-nag.
    """
    existing = (resource.get_metadata("cdk_nag") or {}).get("rules_to_suppress", [])
    resource.add_metadata("cdk_nag", {"rules_to_suppress": [*existing, *rules]})
