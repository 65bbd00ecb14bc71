"""The IoT backend with every optional part of cdk-iot-ingest at once.

The Python twin of ../full-stack.ts: the same constructs, ids and settings.
Devices publish to AWS IoT Core, a topic rule puts their readings on the
stream, the processor reads it through enhanced fan-out, Amazon Data Firehose
archives it as Parquet that Athena can query, and the query function answers
over an HTTP API with IAM auth.
"""
from typing import Any, Optional, Sequence

from aws_cdk import (
    CfnOutput,
    Duration,
    RemovalPolicy,
    Size,
    Stack,
)
from constructs import Construct

from cdk_iot_ingest import (
    Archiver,
    IngestProcessor,
    Ingress,
    ParquetArchiveOptions,
    QueryEndpoint,
    QueryEndpointCors,
    SensorIngestPipeline,
)
from test_client_identity import TestClientIdentity

# The MQTT topics devices publish readings on: sensors/<sensor id>/readings.
READINGS_TOPIC_FILTER = "sensors/+/readings"


class FullDeploymentStack(Stack):
    """Every optional part of the pipeline: IoT ingress, enhanced fan-out, the Firehose archive, an HTTP query API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        test_page_origins: Optional[Sequence[str]] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        self.pipeline = SensorIngestPipeline(
            self,
            "Pipeline",
            # A demo: everything goes when the stack is deleted, the archive with it.
            removal_policy=RemovalPolicy.DESTROY,
            dashboard=True,
            # Each message published on sensors/<id>/readings becomes one record,
            # keyed by its sensorid.
            ingress=Ingress.iot_topic_rule(sql=f"SELECT * FROM '{READINGS_TOPIC_FILTER}'"),
            # 2 MB/s per shard of its own, beside the Firehose archiver's shared reads.
            processor=IngestProcessor.dynamo_db(enhanced_fan_out=True),
            archiver=Archiver.firehose(
                parquet=ParquetArchiveOptions(database_name="iot_backend_full", table_name="readings"),
                partition_by_sensor=True,
                # Dynamic partitioning's shortest interval: the archive of a demo shows within minutes.
                buffering_interval=Duration.minutes(1),
                buffering_size=Size.mebibytes(64),
                auto_delete_objects=True,
            ),
            # An HTTP API with the IAM authorizer: the page signs its requests
            # with the guest role's credentials; the stage throttles and logs.
            query_endpoint=QueryEndpoint.http_api(
                cors=QueryEndpointCors(
                    allow_origins=list(test_page_origins or ["http://localhost:3000", "http://127.0.0.1:3000"]),
                ),
            ),
        )
        dead_letter_queue = self.pipeline.dead_letter_queue
        assert dead_letter_queue is not None  # IngestProcessor.dynamo_db() defaults to a queue
        archive = self.pipeline.archiver_binding
        ingress = self.pipeline.ingress_binding

        # The test page's identity, as in the reference deployment: temporary
        # credentials of a guest role that may do what the page does, and no more.
        identity_pool = TestClientIdentity(self, "TestClientIdentityPool", pipeline=self.pipeline)

        CfnOutput(
            self,
            "QueryUrl",
            value=self.pipeline.query_url,
            description="The query API (IAM auth: sign requests with SigV4): GET <url>readings?sensorid=... or POST <url>readings",
        )
        CfnOutput(self, "ReadingsTopic", value=READINGS_TOPIC_FILTER,
                  description="Devices publish readings on sensors/<sensor id>/readings")
        CfnOutput(self, "TopicRuleName", value=ingress.topic_rule.ref)
        CfnOutput(self, "IngressErrorLogGroup", value=ingress.error_log_group.log_group_name,
                  description="Messages the topic rule could not put on the stream")
        CfnOutput(self, "DeliveryStreamName", value=archive.delivery_stream.delivery_stream_name)
        CfnOutput(self, "ArchiveBucket", value=self.pipeline.archive_bucket.bucket_name)
        CfnOutput(self, "GlueDatabase", value=archive.glue_database.ref,
                  description="Athena: SELECT * FROM <database>.readings WHERE year = ...")
        CfnOutput(self, "IdentityPoolId", value=identity_pool.identity_pool_id)
        CfnOutput(self, "DeadLetterQueueUrl", value=dead_letter_queue.queue_url)
        CfnOutput(self, "LambdaAPIFunction", value=self.pipeline.query_function.function_name)
        CfnOutput(self, "KinesisStream", value=self.pipeline.stream.stream_name)
        CfnOutput(self, "SensorDataTable", value=self.pipeline.table.table_name)
        CfnOutput(self, "Region", value=self.region)
