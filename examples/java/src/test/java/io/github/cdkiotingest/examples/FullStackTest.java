package io.github.cdkiotingest.examples;

import static io.github.cdkiotingest.examples.TemplateHelpers.census;
import static io.github.cdkiotingest.examples.TemplateHelpers.logicalId;
import static io.github.cdkiotingest.examples.TemplateHelpers.map;
import static io.github.cdkiotingest.examples.TemplateHelpers.nagSuppressions;
import static io.github.cdkiotingest.examples.TemplateHelpers.only;
import static io.github.cdkiotingest.examples.TemplateHelpers.roleStatements;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.cdkiotingest.examples.TemplateHelpers.NagSuppression;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awscdk.App;
import software.amazon.awscdk.AppProps;
import software.amazon.awscdk.assertions.Match;
import software.amazon.awscdk.assertions.Template;

/**
 * The full deployment, synthesized from Java with the cdk-iot-ingest jar.
 * Mirrors test/examples/full-deployment.test.ts: the same census, the same
 * wiring of the topic rule, the enhanced fan-out consumer, the Firehose
 * archive and the query API, and the same guest role.
 */
class FullStackTest {
    @TempDir
    static Path outdir;

    private static Template template;

    @BeforeAll
    static void synth() {
        App app = new App(AppProps.builder().outdir(outdir.toString()).build());
        FullStack stack = new FullStack(app, "IotBackendFull");
        app.synth();
        template = Template.fromStack(stack);
    }

    @Test
    void hasEveryPartAndNoArchiverFunction() {
        Map<String, Integer> expected = new TreeMap<>();
        expected.put("AWS::Kinesis::Stream", 1);
        expected.put("AWS::Kinesis::StreamConsumer", 1);
        expected.put("AWS::DynamoDB::Table", 1);
        expected.put("AWS::IoT::TopicRule", 1);
        // the processor, its replay function, the query function and the function that empties the buckets on delete
        expected.put("AWS::Lambda::Function", 4);
        expected.put("AWS::Lambda::EventSourceMapping", 1);
        expected.put("AWS::ApiGatewayV2::Api", 1);
        expected.put("AWS::ApiGatewayV2::Route", 2);
        expected.put("AWS::ApiGatewayV2::Integration", 1);
        expected.put("AWS::ApiGatewayV2::Stage", 1);
        expected.put("AWS::Lambda::Permission", 2);
        expected.put("AWS::KinesisFirehose::DeliveryStream", 1);
        expected.put("AWS::S3::Bucket", 2);
        expected.put("AWS::S3::BucketPolicy", 2);
        expected.put("Custom::S3AutoDeleteObjects", 2);
        expected.put("AWS::Glue::Database", 1);
        expected.put("AWS::Glue::Table", 1);
        expected.put("AWS::Logs::LogGroup", 6);
        expected.put("AWS::Logs::LogStream", 1);
        expected.put("AWS::Logs::MetricFilter", 2);
        expected.put("AWS::SQS::Queue", 2);
        expected.put("AWS::SQS::QueuePolicy", 2);
        expected.put("AWS::CloudWatch::Alarm", 17);
        expected.put("AWS::CloudWatch::CompositeAlarm", 1);
        expected.put("AWS::CloudWatch::Dashboard", 1);
        expected.put("AWS::Cognito::IdentityPool", 1);
        expected.put("AWS::Cognito::IdentityPoolRoleAttachment", 1);
        expected.put("AWS::IAM::Role", 9);
        expected.put("AWS::IAM::Policy", 7);
        assertEquals(expected, census(template));
    }

    @Test
    void theRulePutsEachMessageOnTheStreamKeyedByItsSensorid() {
        assertEquals("sensors/+/readings", FullStack.READINGS_TOPIC_FILTER);
        String stream = only(template, "AWS::Kinesis::Stream").getKey();
        Map<String, Object> payload = map(map(only(template, "AWS::IoT::TopicRule").getValue().get("Properties")).get("TopicRulePayload"));
        assertEquals("SELECT * FROM 'sensors/+/readings'", payload.get("Sql"));
        assertEquals(List.of(Map.of("Kinesis", Map.of(
                "StreamName", Map.of("Ref", stream),
                "PartitionKey", "${sensorid}",
                "RoleArn", Map.of("Fn::GetAtt", List.of(logicalId(template, "AWS::IAM::Role", "PipelineIngressPutRole"), "Arn"))))),
                payload.get("Actions"));
        assertEquals(Map.of("Ref", logicalId(template, "AWS::Logs::LogGroup", "PipelineIngressErrorLogs")),
                map(map(payload.get("ErrorAction")).get("CloudwatchLogs")).get("LogGroupName"));
    }

    @Test
    void theProcessorReadsThroughItsOwnStreamConsumer() {
        template.hasResourceProperties("AWS::Lambda::EventSourceMapping", Map.of(
                "FunctionName", Map.of("Ref", logicalId(template, "AWS::Lambda::Function", "PipelineProcessorFunction")),
                "EventSourceArn", Map.of("Fn::GetAtt", List.of(only(template, "AWS::Kinesis::StreamConsumer").getKey(), "ConsumerARN")),
                "FunctionResponseTypes", List.of("ReportBatchItemFailures")));
    }

    @Test
    void firehoseWritesParquetByHourAndSensorForTheGlueTable() {
        Map<String, Object> props = map(only(template, "AWS::KinesisFirehose::DeliveryStream").getValue().get("Properties"));
        assertEquals(Map.of("Fn::GetAtt", List.of(only(template, "AWS::Kinesis::Stream").getKey(), "Arn")),
                map(props.get("KinesisStreamSourceConfiguration")).get("KinesisStreamARN"));
        Map<String, Object> destination = map(props.get("ExtendedS3DestinationConfiguration"));
        assertEquals(Map.of("Fn::GetAtt", List.of(logicalId(template, "AWS::S3::Bucket", "PipelineArchiverBucket"), "Arn")),
                destination.get("BucketARN"));
        assertEquals(Map.of("IntervalInSeconds", 60, "SizeInMBs", 64), destination.get("BufferingHints"));
        String prefix = (String) destination.get("Prefix");
        assertTrue(prefix.startsWith("raw/year=") && prefix.endsWith("/sensor=!{partitionKeyFromQuery:sensor}/"), prefix);
        assertEquals(true, map(destination.get("DataFormatConversionConfiguration")).get("Enabled"));
        template.hasResourceProperties("AWS::Glue::Database", Map.of("DatabaseInput", Map.of("Name", "iot_backend_full")));
        template.hasResourceProperties("AWS::Glue::Table", Map.of("TableInput", Match.objectLike(Map.of("Name", "readings"))));
    }

    @Test
    void theQueryApiIsIamAuthorizedThrottledWithCorsForTheLocalPage() {
        template.hasResourceProperties("AWS::ApiGatewayV2::Api", Map.of("CorsConfiguration", Match.objectLike(Map.of(
                "AllowOrigins", List.of("http://localhost:3000", "http://127.0.0.1:3000"),
                "AllowMethods", List.of("GET", "POST", "OPTIONS")))));
        List<String> routes = new ArrayList<>();
        for (Map<String, Object> route : template.findResources("AWS::ApiGatewayV2::Route").values()) {
            Map<String, Object> props = map(route.get("Properties"));
            routes.add(props.get("RouteKey") + " " + props.get("AuthorizationType"));
        }
        routes.sort(null);
        assertEquals(List.of("GET /readings AWS_IAM", "POST /readings AWS_IAM"), routes);
        template.hasResourceProperties("AWS::ApiGatewayV2::Stage", Map.of(
                "StageName", "$default",
                "DefaultRouteSettings", Map.of("ThrottlingRateLimit", 50, "ThrottlingBurstLimit", 100)));
    }

    @Test
    void theGuestRoleMayPutRecordsQueryPeekAtDeadLettersAndReadMetrics() {
        Map<String, Object> attachment = map(only(template, "AWS::Cognito::IdentityPoolRoleAttachment").getValue().get("Properties"));
        String guest = (String) ((List<?>) map(map(map(attachment.get("Roles")).get("unauthenticated"))).get("Fn::GetAtt")).get(0);
        String api = only(template, "AWS::ApiGatewayV2::Api").getKey();
        List<Object> routes = new ArrayList<>();
        for (String method : List.of("GET", "POST")) {
            routes.add(Map.of("Fn::Join", List.of("", List.of(
                    "arn:", Map.of("Ref", "AWS::Partition"), ":execute-api:", Map.of("Ref", "AWS::Region"), ":",
                    Map.of("Ref", "AWS::AccountId"), ":", Map.of("Ref", api), "/$default/" + method + "/readings"))));
        }
        assertEquals(List.of(
                Map.of("Effect", "Allow",
                        "Action", List.of("kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"),
                        "Resource", Map.of("Fn::GetAtt", List.of(only(template, "AWS::Kinesis::Stream").getKey(), "Arn"))),
                Map.of("Effect", "Allow", "Action", "lambda:InvokeFunction",
                        "Resource", Map.of("Fn::GetAtt", List.of(logicalId(template, "AWS::Lambda::Function", "PipelineQueryFunction"), "Arn"))),
                Map.of("Effect", "Allow", "Action", "execute-api:Invoke", "Resource", routes),
                Map.of("Effect", "Allow",
                        "Action", List.of("sqs:ReceiveMessage", "sqs:GetQueueAttributes"),
                        "Resource", Map.of("Fn::GetAtt", List.of(logicalId(template, "AWS::SQS::Queue", "PipelineProcessorDeadLetterQueue"), "Arn"))),
                Map.of("Effect", "Allow", "Action", List.of("cloudwatch:GetMetricData", "cloudwatch:ListMetrics"), "Resource", "*")),
                roleStatements(template, guest));
    }

    @Test
    void outputsWhatThePageADeviceAndAthenaNeed() throws Exception {
        Map<String, Object> outputs = map(template.toJSON().get("Outputs"));
        assertEquals(List.of("ArchiveBucket", "DeadLetterQueueUrl", "DeliveryStreamName", "GlueDatabase", "IdentityPoolId",
                "IngressErrorLogGroup", "KinesisStream", "LambdaAPIFunction", "QueryUrl", "ReadingsTopic", "Region",
                "SensorDataTable", "TopicRuleName"), new ArrayList<>(new TreeMap<>(outputs).keySet()));
        String queryUrl = new ObjectMapper().writeValueAsString(map(outputs.get("QueryUrl")).get("Value"));
        assertTrue(queryUrl.contains(only(template, "AWS::ApiGatewayV2::Api").getKey()), queryUrl);
        assertEquals(Map.of("Ref", only(template, "AWS::IoT::TopicRule").getKey()), map(outputs.get("TopicRuleName")).get("Value"));
    }

    @Test
    void theAcceptedCdkNagFindingsAreSuppressedInTheTemplateWithReasons() {
        List<String> suppressed = new ArrayList<>();
        for (NagSuppression suppression : nagSuppressions(template)) {
            Map<String, Object> rule = suppression.rule();
            assertTrue(((String) rule.get("reason")).length() > 60, rule.toString());
            if (!suppression.logicalId().startsWith("Pipeline")) {
                suppressed.add(suppression.resourceType() + " " + rule.get("id") + " "
                        + rule.getOrDefault("applies_to", List.of()));
            }
        }
        suppressed.sort(null);
        assertEquals(List.of("AWS::Cognito::IdentityPool AwsSolutions-COG7 []", "AWS::IAM::Policy AwsSolutions-IAM5 [Resource::*]"),
                suppressed);
        Map<String, Object> delivery = only(template, "AWS::KinesisFirehose::DeliveryStream").getValue();
        List<?> rules = (List<?>) map(map(delivery.get("Metadata")).get("cdk_nag")).get("rules_to_suppress");
        assertEquals(List.of("AwsSolutions-KDF1"), rules.stream().map(r -> map(r).get("id")).toList());
    }
}
