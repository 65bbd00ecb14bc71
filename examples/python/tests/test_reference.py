"""The reference deployment, synthesized from Python with the installed cdk-iot-ingest wheel.

Mirrors ../../test/examples/reference-deployment.test.ts, and also proves that
the Lambda handlers bundled inside the wheel are the code the template deploys.
"""
import glob
import hashlib
import json
import os
import tarfile
from importlib import resources

import aws_cdk as cdk
import cdk_iot_ingest
import pytest
from aws_cdk.assertions import Match, Template

from reference_stack import ReferenceDeploymentStack
from template_helpers import census, logical_id, nag_suppressions, only, role_statements

HANDLERS = ("processor", "archiver", "query", "replay")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """Synthesizes the app once, to a temporary cloud assembly."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir))
    stack = ReferenceDeploymentStack(app, "IotBackendReference")
    app.synth()
    return {
        "outdir": outdir,
        "template": Template.from_stack(stack),
        "nested": Template.from_stack(stack.config_helper),
    }


@pytest.fixture(scope="module")
def template(synth):
    return synth["template"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def packaged_handlers() -> dict:
    """sha256 of assets/handlers/<name>.lambda/index.js in the wheel's embedded jsii tarball."""
    tarballs = [p for p in resources.files("cdk_iot_ingest._jsii").iterdir() if p.name.endswith(".jsii.tgz")]
    assert len(tarballs) == 1, f"one jsii tarball expected in the installed package, got {tarballs}"
    digests = {}
    with tarfile.open(str(tarballs[0]), "r:gz") as tar:
        for name in HANDLERS:
            member = tar.extractfile(f"package/assets/handlers/{name}.lambda/index.js")
            assert member is not None, f"{name} handler missing from the jsii tarball"
            digests[name] = sha256(member.read())
    return digests


def test_uses_the_installed_wheel_not_the_source_tree():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "..", "..", ".."))
    package_dir = os.path.dirname(os.path.abspath(cdk_iot_ingest.__file__))
    assert "site-packages" in package_dir
    assert not package_dir.startswith(os.path.join(repo, "src"))


def test_has_every_resource_of_the_reference_the_test_client_as_an_identity_pool(synth):
    assert census(synth["template"]) == {
        # EventStream, SensorDataTable + ConfigTable, ArchiveBucket and its access-log
        # bucket (+ their policies)
        "AWS::Kinesis::Stream": 1,
        "AWS::DynamoDB::Table": 2,
        "AWS::S3::Bucket": 2,
        "AWS::S3::BucketPolicy": 2,
        # ApiFunction, DdbCloudWatchEventProcessorFunction, EventArchiverFunction, the
        # replay function of each event source mapping, their log groups, and the
        # function that empties the archive bucket on delete
        "AWS::Lambda::Function": 6,
        "AWS::Logs::LogGroup": 5,
        "Custom::S3AutoDeleteObjects": 2,
        # the pipeline's alarms, the composite one, the dashboard and the metric
        # filters counting readings stored and archive objects
        "AWS::CloudWatch::Alarm": 16,
        "AWS::CloudWatch::CompositeAlarm": 1,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::Logs::MetricFilter": 2,
        # DdbCloudWatchProcessorSourceMapping, EventArchiverSourceMapping, and the
        # dead-letter and failed-batches queues
        "AWS::Lambda::EventSourceMapping": 2,
        "AWS::SQS::Queue": 3,
        "AWS::SQS::QueuePolicy": 3,
        # TestClientUser, TestClientPolicy, TestClientKeys: the identity pool and its roles
        "AWS::Cognito::IdentityPool": 1,
        "AWS::Cognito::IdentityPoolRoleAttachment": 1,
        # 5 functions, auto-delete provider, guest, authenticated
        "AWS::IAM::Role": 8,
        # 5 functions, guest
        "AWS::IAM::Policy": 6,
        # ConfigHelperStack
        "AWS::CloudFormation::Stack": 1,
    }
    assert census(synth["nested"]) == {
        "Custom::AWS": 1,
        # the custom resource's provider function, with a role and log group of its own
        "AWS::Lambda::Function": 1,
        "AWS::IAM::Role": 1,
        "AWS::IAM::Policy": 2,
        "AWS::Logs::LogGroup": 1,
    }


def test_no_iam_user_access_key_or_secret_anywhere(synth):
    for template in (synth["template"], synth["nested"]):
        types = {r["Type"] for r in template.to_json()["Resources"].values()}
        assert not types & {"AWS::IAM::User", "AWS::IAM::AccessKey", "AWS::IAM::Group", "AWS::SecretsManager::Secret"}
        assert "SecretAccessKey" not in json.dumps(template.to_json())
        assert "AccessKeyId" not in json.dumps(template.to_json())


def handler_functions(template):
    """The functions running a bundled handler (they, and only they, carry its settings)."""
    return {
        logical_id: function
        for logical_id, function in template.find_resources("AWS::Lambda::Function").items()
        if "POWERTOOLS_SERVICE_NAME" in function["Properties"].get("Environment", {}).get("Variables", {})
    }


def test_functions_run_the_bundled_handlers_on_node24_arm64(template):
    functions = handler_functions(template)
    # the processor, the archiver, the query function, and a replay function for each event source mapping
    assert len(functions) == 5
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "nodejs24.x"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == "index.handler"
    services = sorted(f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] for f in functions.values())
    assert services == ["sensor-archiver", "sensor-processor", "sensor-query", "sensor-replay", "sensor-replay"]


def test_event_source_mappings_at_the_reference_batch_sizes_from_the_trim_horizon(template):
    for batch_size in (25, 100):
        template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
            "BatchSize": batch_size,
            "StartingPosition": "TRIM_HORIZON",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        })
    sizes = sorted(m["Properties"]["BatchSize"] for m in template.find_resources("AWS::Lambda::EventSourceMapping").values())
    assert sizes == [25, 100]
    template.has_resource_properties("AWS::Kinesis::Stream", {"ShardCount": 1})


def test_processor_publishes_with_put_metric_data(template):
    template.has_resource_properties("AWS::Lambda::Function", {
        "Environment": {"Variables": Match.object_like({"METRICS_MODE": "PUT_METRIC_DATA"})},
    })


def test_the_identity_pool_gives_guest_identities_through_the_enhanced_flow_only(template):
    _, pool = only(template, "AWS::Cognito::IdentityPool")
    assert pool["Properties"]["AllowUnauthenticatedIdentities"] is True
    assert pool["Properties"]["AllowClassicFlow"] is False


def test_the_guest_role_may_put_records_invoke_the_query_peek_at_dead_letters_and_read_metrics_nothing_else(template):
    _, attachment = only(template, "AWS::Cognito::IdentityPoolRoleAttachment")
    guest = attachment["Properties"]["Roles"]["unauthenticated"]["Fn::GetAtt"][0]
    authenticated = attachment["Properties"]["Roles"]["authenticated"]["Fn::GetAtt"][0]
    stream = only(template, "AWS::Kinesis::Stream")[0]
    query = logical_id(template, "AWS::Lambda::Function", "PipelineQueryFunction")
    dead_letters = logical_id(template, "AWS::SQS::Queue", "PipelineProcessorDeadLetterQueue")
    roles = template.to_json()["Resources"]
    for role in (guest, authenticated):
        assert "ManagedPolicyArns" not in roles[role]["Properties"]
        assert "Policies" not in roles[role]["Properties"]
    assert role_statements(template, guest) == [
        {
            "Effect": "Allow",
            "Action": ["kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": {"Fn::GetAtt": [stream, "Arn"]},
        },
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::GetAtt": [query, "Arn"]},
        },
        {
            # no sqs:DeleteMessage: the page shows dead letters without consuming them
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"],
            "Resource": {"Fn::GetAtt": [dead_letters, "Arn"]},
        },
        {"Effect": "Allow", "Action": ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"], "Resource": "*"},
    ]
    assert role_statements(template, authenticated) == []


def test_outputs_the_reference_outputs_the_page_needs_the_identity_pool_instead_of_a_key(template):
    outputs = template.to_json()["Outputs"]
    assert sorted(outputs) == [
        "ArchiveBucket", "DeadLetterQueueUrl", "IdentityPoolId", "KinesisStream", "LambdaAPIFunction", "Region",
        "SensorDataTable",
    ]
    assert outputs["IdentityPoolId"]["Value"] == {"Ref": only(template, "AWS::Cognito::IdentityPool")[0]}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {
        "Ref": logical_id(template, "AWS::SQS::Queue", "PipelineProcessorDeadLetterQueue"),
    }


def test_the_accepted_cdk_nag_findings_are_suppressed_in_the_template_with_reasons(synth):
    template, nested = synth["template"], synth["nested"]
    suppressed = []
    for t in (template, nested):
        for logical_id_, resource_type, rule in nag_suppressions(t):
            # The example's own resources; the pipeline's carry the library's suppressions.
            if logical_id_.startswith("Pipeline"):
                continue
            assert len(rule["reason"]) > 80
            suppressed.append((resource_type, rule["id"], tuple(rule.get("applies_to", []))))
    assert sorted(suppressed) == sorted([
        ("AWS::Cognito::IdentityPool", "AwsSolutions-COG7", ()),
        ("AWS::IAM::Policy", "AwsSolutions-IAM5", ("Resource::*",)),
        ("AWS::Lambda::Function", "AwsSolutions-L1", ()),
    ])


def test_the_config_table_is_iot_ref_arch_config_and_the_helper_writes_both_entries(synth):
    synth["template"].has_resource_properties("AWS::DynamoDB::Table", {
        "TableName": "IoTRefArchConfig",
        "KeySchema": [{"AttributeName": "Environment", "KeyType": "HASH"}],
    })
    nested = synth["nested"]
    nested.resource_count_is("Custom::AWS", 1)
    create = json.dumps(list(nested.find_resources("Custom::AWS").values())[0]["Properties"]["Create"])
    for fragment in ("updateItem", "demo", "SensorDataTable", "ArchiveBucket"):
        assert fragment in create


def test_the_template_deploys_the_handlers_bundled_in_the_wheel(synth):
    expected = packaged_handlers()
    assert len(set(expected.values())) == 4, "the four bundled handlers should differ"

    outdir = synth["outdir"]
    manifests = glob.glob(os.path.join(outdir, "*.assets.json"))
    assert manifests, f"no asset manifest in {outdir}"
    files = {}
    for manifest in manifests:
        with open(manifest, encoding="utf-8") as f:
            files.update(json.load(f)["files"])

    seen = {}
    for function in handler_functions(synth["template"]).values():
        props = function["Properties"]
        name = props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"].removeprefix("sensor-")
        s3_key = props["Code"]["S3Key"]
        assert isinstance(s3_key, str) and s3_key.endswith(".zip"), s3_key
        asset_hash = s3_key[: -len(".zip")]
        assert asset_hash in files, f"{name}: S3Key {s3_key} is no asset of the assembly"
        source = files[asset_hash]["source"]
        assert source["packaging"] == "zip"
        asset_dir = os.path.join(outdir, source["path"])
        with open(os.path.join(asset_dir, "index.js"), "rb") as f:
            seen[name] = sha256(f.read())
        assert sorted(os.listdir(asset_dir)) == ["index.js"], f"{name}: unexpected files in {asset_dir}"

    assert seen == expected
