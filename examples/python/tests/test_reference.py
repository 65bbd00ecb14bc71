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

HANDLERS = ("processor", "archiver", "query")


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


def test_has_every_resource_of_the_reference(template):
    # EventStream, SensorDataTable + ConfigTable, ArchiveBucket
    template.resource_count_is("AWS::Kinesis::Stream", 1)
    template.resource_count_is("AWS::DynamoDB::Table", 2)
    template.resource_count_is("AWS::S3::Bucket", 1)
    # ApiFunction, DdbCloudWatchEventProcessorFunction, EventArchiverFunction and their
    # roles, and the function (and role) that empties the archive bucket on delete
    template.resource_count_is("AWS::Lambda::Function", 4)
    template.resource_count_is("AWS::IAM::Role", 4)
    template.resource_count_is("Custom::S3AutoDeleteObjects", 1)
    # DdbCloudWatchProcessorSourceMapping, EventArchiverSourceMapping
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 2)
    # TestClientUser, TestClientPolicy (the user's policy), TestClientKeys
    template.resource_count_is("AWS::IAM::User", 1)
    template.resource_count_is("AWS::IAM::AccessKey", 1)
    template.resource_count_is("AWS::SecretsManager::Secret", 1)
    # ConfigHelperStack
    template.resource_count_is("AWS::CloudFormation::Stack", 1)


def handler_functions(template):
    """The functions running a bundled handler (they, and only they, carry its settings)."""
    return {
        logical_id: function
        for logical_id, function in template.find_resources("AWS::Lambda::Function").items()
        if "POWERTOOLS_SERVICE_NAME" in function["Properties"].get("Environment", {}).get("Variables", {})
    }


def test_functions_run_the_bundled_handlers_on_node24_arm64(template):
    functions = handler_functions(template)
    assert len(functions) == 3
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "nodejs24.x"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == "index.handler"
    services = sorted(f["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] for f in functions.values())
    assert services == ["sensor-archiver", "sensor-processor", "sensor-query"]


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


def test_the_test_client_may_put_records_and_invoke_the_query_function_nothing_else(template):
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Users": Match.any_value()}})
    actions = []
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions.extend(action if isinstance(action, list) else [action])
    assert sorted(actions) == ["kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords", "lambda:InvokeFunction"]


def test_outputs_the_reference_outputs_but_never_the_secret_key_in_plain_text(template):
    outputs = template.to_json()["Outputs"]
    assert sorted(outputs) == [
        "AccessKeyId", "ArchiveBucket", "KinesisStream", "LambdaAPIFunction", "Region",
        "SecretAccessKeySecretArn", "SensorDataTable",
    ]
    assert 'SecretAccessKey"]' not in json.dumps(outputs, separators=(",", ":"))
    template.has_resource_properties("AWS::SecretsManager::Secret", {
        "SecretString": {"Fn::GetAtt": [Match.string_like_regexp("^TestClientKeys"), "SecretAccessKey"]},
    })


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
    assert len(set(expected.values())) == 3, "the three bundled handlers should differ"

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
