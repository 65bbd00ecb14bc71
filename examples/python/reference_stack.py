"""The Serverless IoT Backend reference deployment, built on cdk-iot-ingest.

The Python twin of ../reference-stack.ts: the same constructs, ids and
settings, so that both synthesize the same resources (see ../README.md for
which construct creates each reference resource).
"""
from typing import Any, Mapping

from aws_cdk import (
    CfnOutput,
    Duration,
    NestedStack,
    RemovalPolicy,
    Stack,
    aws_dynamodb as dynamodb,
    aws_iam as iam,
    aws_lambda as lambda_,
    aws_secretsmanager as secretsmanager,
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

        # TestClientUser, TestClientPolicy, TestClientKeys: the test page's
        # identity, allowed to put records and invoke the query function,
        # nothing else. The grants write the user's policy.
        user = iam.User(self, "TestClientUser")
        self.pipeline.grant_put_records(user)
        self.pipeline.grant_query(user)
        keys = iam.AccessKey(self, "TestClientKeys", user=user)
        # The secret key goes to Secrets Manager, never to a stack output.
        key_secret = secretsmanager.Secret(
            self,
            "TestClientSecret",
            description="Secret access key of the IoT backend test client user",
            secret_string_value=keys.secret_access_key,
        )

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

        CfnOutput(self, "AccessKeyId", value=keys.access_key_id, description="Access key id of the test client user")
        CfnOutput(
            self,
            "SecretAccessKeySecretArn",
            value=key_secret.secret_arn,
            description="Secrets Manager secret holding the test client secret access key "
            "(aws secretsmanager get-secret-value --secret-id <arn>)",
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
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[config_table.table_arn]),
            ]),
        )
