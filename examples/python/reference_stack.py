"""The Serverless IoT Backend reference deployment, built on cdk-iot-ingest.

The Python twin of ../reference-stack.ts: the same constructs, ids and
settings, so that both synthesize the same resources (see ../README.md for
which construct creates each reference resource).
"""
from typing import Any, Mapping

from aws_cdk import (
    CfnOutput,
    CfnResource,
    Duration,
    NestedStack,
    RemovalPolicy,
    Stack,
    aws_dynamodb as dynamodb,
    aws_iam as iam,
    aws_lambda as lambda_,
    aws_logs as logs,
    custom_resources as cr,
)
from constructs import Construct

from cdk_iot_ingest import Archiver, IngestProcessor, MetricsMode, SensorIngestPipeline
from nag_metadata import add_nag_suppressions
from test_client_identity import TestClientIdentity


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
        # identity, a Cognito identity pool's guest role instead of an IAM user
        # with an access key (a long-lived secret).
        identity_pool = TestClientIdentity(self, "TestClientIdentityPool", pipeline=self.pipeline)

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
