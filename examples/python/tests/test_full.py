"""The full deployment, synthesized from Python with the installed cdk-iot-ingest wheel.

Mirrors ../../test/examples/full-deployment.test.ts: the same census, the same
wiring of the topic rule, the enhanced fan-out consumer, the Firehose archive
and the query API, and the same guest role.
"""
import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from full_stack import READINGS_TOPIC_FILTER, FullDeploymentStack
from template_helpers import census, logical_id, nag_suppressions, only, role_statements


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = FullDeploymentStack(app, "IotBackendFull")
    app.synth()
    return Template.from_stack(stack)


def test_has_every_part_and_no_archiver_function(template):
    assert census(template) == {
        "AWS::Kinesis::Stream": 1,
        "AWS::Kinesis::StreamConsumer": 1,
        "AWS::DynamoDB::Table": 1,
        "AWS::IoT::TopicRule": 1,
        # the processor, its replay function, the query function and the function that empties the buckets on delete
        "AWS::Lambda::Function": 4,
        "AWS::Lambda::EventSourceMapping": 1,
        "AWS::ApiGatewayV2::Api": 1,
        "AWS::ApiGatewayV2::Route": 2,
        "AWS::ApiGatewayV2::Integration": 1,
        "AWS::ApiGatewayV2::Stage": 1,
        "AWS::Lambda::Permission": 2,
        "AWS::KinesisFirehose::DeliveryStream": 1,
        "AWS::S3::Bucket": 2,
        "AWS::S3::BucketPolicy": 2,
        "Custom::S3AutoDeleteObjects": 2,
        "AWS::Glue::Database": 1,
        "AWS::Glue::Table": 1,
        "AWS::Logs::LogGroup": 6,
        "AWS::Logs::LogStream": 1,
        "AWS::Logs::MetricFilter": 2,
        "AWS::SQS::Queue": 2,
        "AWS::SQS::QueuePolicy": 2,
        "AWS::CloudWatch::Alarm": 17,
        "AWS::CloudWatch::CompositeAlarm": 1,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::Cognito::IdentityPool": 1,
        "AWS::Cognito::IdentityPoolRoleAttachment": 1,
        "AWS::IAM::Role": 9,
        "AWS::IAM::Policy": 7,
    }


def test_the_rule_puts_each_message_on_the_stream_keyed_by_its_sensorid(template):
    assert READINGS_TOPIC_FILTER == "sensors/+/readings"
    stream = only(template, "AWS::Kinesis::Stream")[0]
    _, rule = only(template, "AWS::IoT::TopicRule")
    payload = rule["Properties"]["TopicRulePayload"]
    assert payload["Sql"] == "SELECT * FROM 'sensors/+/readings'"
    assert payload["Actions"] == [{"Kinesis": {
        "StreamName": {"Ref": stream},
        "PartitionKey": "${sensorid}",
        "RoleArn": {"Fn::GetAtt": [logical_id(template, "AWS::IAM::Role", "PipelineIngressPutRole"), "Arn"]},
    }}]
    assert payload["ErrorAction"]["CloudwatchLogs"]["LogGroupName"] == {
        "Ref": logical_id(template, "AWS::Logs::LogGroup", "PipelineIngressErrorLogs"),
    }


def test_the_processor_reads_through_its_own_stream_consumer(template):
    consumer = only(template, "AWS::Kinesis::StreamConsumer")[0]
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "FunctionName": {"Ref": logical_id(template, "AWS::Lambda::Function", "PipelineProcessorFunction")},
        "EventSourceArn": {"Fn::GetAtt": [consumer, "ConsumerARN"]},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    })


def test_firehose_writes_parquet_by_hour_and_sensor_for_the_glue_table(template):
    _, delivery = only(template, "AWS::KinesisFirehose::DeliveryStream")
    stream = only(template, "AWS::Kinesis::Stream")[0]
    assert delivery["Properties"]["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == {"Fn::GetAtt": [stream, "Arn"]}
    destination = delivery["Properties"]["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == {"Fn::GetAtt": [logical_id(template, "AWS::S3::Bucket", "PipelineArchiverBucket"), "Arn"]}
    assert destination["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 64}
    assert destination["Prefix"].startswith("raw/year=")
    assert destination["Prefix"].endswith("/sensor=!{partitionKeyFromQuery:sensor}/")
    assert destination["DataFormatConversionConfiguration"]["Enabled"] is True
    template.has_resource_properties("AWS::Glue::Database", {"DatabaseInput": {"Name": "iot_backend_full"}})
    template.has_resource_properties("AWS::Glue::Table", {"TableInput": Match.object_like({"Name": "readings"})})


def test_the_query_api_iam_authorized_throttled_with_cors_for_the_local_page(template):
    template.has_resource_properties("AWS::ApiGatewayV2::Api", {
        "CorsConfiguration": Match.object_like({
            "AllowOrigins": ["http://localhost:3000", "http://127.0.0.1:3000"],
            "AllowMethods": ["GET", "POST", "OPTIONS"],
        }),
    })
    routes = sorted(
        f'{r["Properties"]["RouteKey"]} {r["Properties"]["AuthorizationType"]}'
        for r in template.find_resources("AWS::ApiGatewayV2::Route").values()
    )
    assert routes == ["GET /readings AWS_IAM", "POST /readings AWS_IAM"]
    template.has_resource_properties("AWS::ApiGatewayV2::Stage", {
        "StageName": "$default",
        "DefaultRouteSettings": {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
    })


def test_the_guest_role_may_put_records_query_peek_at_dead_letters_and_read_metrics(template):
    _, attachment = only(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    guest = attachment["Properties"]["Roles"]["unauthenticated"]["Fn::GetAtt"][0]
    api = only(template, "AWS::ApiGatewayV2::Api")[0]

    def route(method):
        return {"Fn::Join": ["", [
            "arn:", {"Ref": "AWS::Partition"}, ":execute-api:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":",
            {"Ref": api}, f"/$default/{method}/readings",
        ]]}

    assert role_statements(template, guest) == [
        {
            "Effect": "Allow",
            "Action": ["kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": {"Fn::GetAtt": [only(template, "AWS::Kinesis::Stream")[0], "Arn"]},
        },
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::GetAtt": [logical_id(template, "AWS::Lambda::Function", "PipelineQueryFunction"), "Arn"]},
        },
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [route("GET"), route("POST")]},
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"],
            "Resource": {"Fn::GetAtt": [logical_id(template, "AWS::SQS::Queue", "PipelineProcessorDeadLetterQueue"), "Arn"]},
        },
        {"Effect": "Allow", "Action": ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"], "Resource": "*"},
    ]


def test_outputs_what_the_page_a_device_and_athena_need(template):
    outputs = template.to_json()["Outputs"]
    assert sorted(outputs) == [
        "ArchiveBucket", "DeadLetterQueueUrl", "DeliveryStreamName", "GlueDatabase", "IdentityPoolId", "IngressErrorLogGroup",
        "KinesisStream", "LambdaAPIFunction", "QueryUrl", "ReadingsTopic", "Region", "SensorDataTable", "TopicRuleName",
    ]
    assert only(template, "AWS::ApiGatewayV2::Api")[0] in json.dumps(outputs["QueryUrl"]["Value"])
    assert outputs["TopicRuleName"]["Value"] == {"Ref": only(template, "AWS::IoT::TopicRule")[0]}


def test_the_accepted_cdk_nag_findings_are_suppressed_in_the_template_with_reasons(template):
    suppressed = []
    for logical_id_, resource_type, rule in nag_suppressions(template):
        assert len(rule["reason"]) > 60
        if not logical_id_.startswith("Pipeline"):
            suppressed.append((resource_type, rule["id"], tuple(rule.get("applies_to", []))))
    assert sorted(suppressed) == sorted([
        ("AWS::Cognito::IdentityPool", "AwsSolutions-COG7", ()),
        ("AWS::IAM::Policy", "AwsSolutions-IAM5", ("Resource::*",)),
    ])
    # The library's, on its delivery stream: Firehose takes no encryption of its own with a Kinesis source.
    _, delivery = only(template, "AWS::KinesisFirehose::DeliveryStream")
    assert [r["id"] for r in delivery["Metadata"]["cdk_nag"]["rules_to_suppress"]] == ["AwsSolutions-KDF1"]
