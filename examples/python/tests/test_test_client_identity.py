"""TestClientIdentity's own choices, from Python: mirrors ../../../test/examples/test-client-identity.test.ts."""
import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from cdk_iot_ingest import DeadLetterDestination, IngestProcessor, QueryEndpoint, SensorIngestPipeline
from template_helpers import only
from test_client_identity import TestClientIdentity


def identity_for(**pipeline_props):
    stack = cdk.Stack(cdk.App(), "Identity")
    pipeline = SensorIngestPipeline(stack, "Pipeline", **pipeline_props)
    TestClientIdentity(stack, "TestClientIdentityPool", pipeline=pipeline)
    return Template.from_stack(stack)


def cog7_reason(template):
    _, pool = only(template, "AWS::Cognito::IdentityPool")
    rules = pool["Metadata"]["cdk_nag"]["rules_to_suppress"]
    assert [r["id"] for r in rules] == ["AwsSolutions-COG7"]
    return rules[0]["reason"]


def test_the_cog7_reason_names_the_query_permission_grant_query_gave():
    assert "put records on this pipeline's stream, invoke its query function, read its dead-letter queue" in cog7_reason(
        identity_for())
    assert "put records on this pipeline's stream, call its query function and HTTP API, read its dead-letter queue" in (
        cog7_reason(identity_for(query_endpoint=QueryEndpoint.http_api())))
    assert "put records on this pipeline's stream, call its query function and Function URL, read its dead-letter queue" in (
        cog7_reason(identity_for(query_endpoint=QueryEndpoint.function_url())))


def test_refuses_a_pipeline_without_a_dead_letter_queue_naming_the_prop():
    stack = cdk.Stack(cdk.App(), "Identity")
    pipeline = SensorIngestPipeline(stack, "Pipeline", processor=IngestProcessor.dynamo_db(
        dead_letter_destination=DeadLetterDestination.bucket(s3.Bucket(stack, "DeadLetters")),
    ))
    with pytest.raises(ValueError, match=r"^TestClientIdentity: pipeline must have a dead-letter queue, which the test "
                       r"page shows; got a pipeline whose processor has another dead-letter destination$"):
        TestClientIdentity(stack, "TestClientIdentityPool", pipeline=pipeline)
