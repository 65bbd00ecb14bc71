package io.github.cdkiotingest.examples;

import static io.github.cdkiotingest.examples.TemplateHelpers.census;
import static io.github.cdkiotingest.examples.TemplateHelpers.logicalId;
import static io.github.cdkiotingest.examples.TemplateHelpers.map;
import static io.github.cdkiotingest.examples.TemplateHelpers.nagSuppressions;
import static io.github.cdkiotingest.examples.TemplateHelpers.only;
import static io.github.cdkiotingest.examples.TemplateHelpers.roleId;
import static io.github.cdkiotingest.examples.TemplateHelpers.roleStatements;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.zip.GZIPInputStream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.cdkiotingest.SensorIngestPipeline;
import io.github.cdkiotingest.examples.TemplateHelpers.NagSuppression;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awscdk.App;
import software.amazon.awscdk.AppProps;
import software.amazon.awscdk.assertions.Match;
import software.amazon.awscdk.assertions.Template;

/**
 * The reference deployment, synthesized from Java with the cdk-iot-ingest jar.
 * Mirrors test/examples/reference-deployment.test.ts, and also proves that the
 * Lambda handlers bundled inside the jar are the code the template deploys.
 */
class ReferenceStackTest {
    private static final List<String> HANDLERS = List.of("archiver", "processor", "query", "replay");

    @TempDir
    static Path outdir;

    private static Template template;
    private static Template nested;

    @BeforeAll
    static void synth() {
        App app = new App(AppProps.builder().outdir(outdir.toString()).build());
        ReferenceStack stack = new ReferenceStack(app, "IotBackendReference");
        app.synth();
        template = Template.fromStack(stack);
        nested = Template.fromStack(stack.getConfigHelper());
    }

    @Test
    void hasEveryResourceOfTheReferenceTheTestClientAsAnIdentityPool() {
        Map<String, Integer> expected = new TreeMap<>();
        // EventStream, SensorDataTable + ConfigTable, ArchiveBucket (+ its TLS-only policy)
        expected.put("AWS::Kinesis::Stream", 1);
        expected.put("AWS::DynamoDB::Table", 2);
        expected.put("AWS::S3::Bucket", 2);
        expected.put("AWS::S3::BucketPolicy", 2);
        // ApiFunction, DdbCloudWatchEventProcessorFunction, EventArchiverFunction, the
        // replay function of each event source mapping, their log groups, and the
        // function that empties the archive bucket on delete
        expected.put("AWS::Lambda::Function", 6);
        expected.put("AWS::Logs::LogGroup", 5);
        expected.put("Custom::S3AutoDeleteObjects", 2);
        // the pipeline's alarms, the composite one, the dashboard and the metric
        // filters counting readings stored and archive objects
        expected.put("AWS::CloudWatch::Alarm", 16);
        expected.put("AWS::CloudWatch::CompositeAlarm", 1);
        expected.put("AWS::CloudWatch::Dashboard", 1);
        expected.put("AWS::Logs::MetricFilter", 2);
        // DdbCloudWatchProcessorSourceMapping, EventArchiverSourceMapping, and the
        // dead-letter and failed-batches queues
        expected.put("AWS::Lambda::EventSourceMapping", 2);
        expected.put("AWS::SQS::Queue", 3);
        expected.put("AWS::SQS::QueuePolicy", 3);
        // TestClientUser, TestClientPolicy, TestClientKeys: the identity pool and its roles
        expected.put("AWS::Cognito::IdentityPool", 1);
        expected.put("AWS::Cognito::IdentityPoolRoleAttachment", 1);
        // 5 functions, auto-delete provider, guest, authenticated
        expected.put("AWS::IAM::Role", 8);
        // 5 functions, guest
        expected.put("AWS::IAM::Policy", 6);
        // ConfigHelperStack
        expected.put("AWS::CloudFormation::Stack", 1);
        assertEquals(expected, census(template));

        Map<String, Integer> expectedNested = new TreeMap<>();
        expectedNested.put("Custom::AWS", 1);
        // the custom resource's provider function, with a role and log group of its own
        expectedNested.put("AWS::Lambda::Function", 1);
        expectedNested.put("AWS::IAM::Role", 1);
        expectedNested.put("AWS::IAM::Policy", 2);
        expectedNested.put("AWS::Logs::LogGroup", 1);
        assertEquals(expectedNested, census(nested));
    }

    @Test
    void noIamUserAccessKeyOrSecretAnywhere() throws IOException {
        for (Template t : List.of(template, nested)) {
            Map<String, Integer> types = census(t);
            for (String type : List.of("AWS::IAM::User", "AWS::IAM::AccessKey", "AWS::IAM::Group",
                    "AWS::SecretsManager::Secret")) {
                assertFalse(types.containsKey(type), type);
            }
            String json = new ObjectMapper().writeValueAsString(t.toJSON());
            assertFalse(json.contains("SecretAccessKey"));
            assertFalse(json.contains("AccessKeyId"));
        }
    }

    @Test
    void functionsRunTheBundledHandlersOnNode24Arm64() {
        Collection<Map<String, Object>> functions = handlerFunctions();
        // the processor, the archiver, the query function, and a replay function for each event source mapping
        assertEquals(5, functions.size());
        List<String> services = new ArrayList<>();
        for (Map<String, Object> function : functions) {
            Map<String, Object> props = map(function.get("Properties"));
            assertEquals("nodejs24.x", props.get("Runtime"));
            assertEquals(List.of("arm64"), props.get("Architectures"));
            assertEquals("index.handler", props.get("Handler"));
            services.add(handlerName(props));
        }
        services.sort(null);
        assertEquals(List.of("archiver", "processor", "query", "replay", "replay"), services);
    }

    @Test
    void eventSourceMappingsAtTheReferenceBatchSizesFromTheTrimHorizon() {
        for (int batchSize : new int[] {25, 100}) {
            template.hasResourceProperties("AWS::Lambda::EventSourceMapping", Map.of(
                    "BatchSize", batchSize,
                    "StartingPosition", "TRIM_HORIZON",
                    "FunctionResponseTypes", List.of("ReportBatchItemFailures")));
        }
        List<Integer> sizes = new ArrayList<>();
        for (Map<String, Object> mapping : template.findResources("AWS::Lambda::EventSourceMapping").values()) {
            sizes.add(((Number) map(mapping.get("Properties")).get("BatchSize")).intValue());
        }
        sizes.sort(null);
        assertEquals(List.of(25, 100), sizes);
        template.hasResourceProperties("AWS::Kinesis::Stream", Map.of("ShardCount", 1));
    }

    @Test
    void processorPublishesWithPutMetricData() {
        template.hasResourceProperties("AWS::Lambda::Function", Map.of(
                "Environment", Map.of("Variables", Match.objectLike(Map.of("METRICS_MODE", "PUT_METRIC_DATA")))));
    }

    @Test
    void theIdentityPoolGivesGuestIdentitiesThroughTheEnhancedFlowOnly() {
        Map<String, Object> props = map(only(template, "AWS::Cognito::IdentityPool").getValue().get("Properties"));
        assertEquals(true, props.get("AllowUnauthenticatedIdentities"));
        assertEquals(false, props.get("AllowClassicFlow"));
    }

    @Test
    void theGuestRoleMayPutRecordsInvokeTheQueryPeekAtDeadLettersAndReadMetricsNothingElse() {
        Map<String, Object> roles = map(map(only(template, "AWS::Cognito::IdentityPoolRoleAttachment").getValue()
                .get("Properties")).get("Roles"));
        String guest = roleId(roles.get("unauthenticated"));
        String authenticated = roleId(roles.get("authenticated"));
        String stream = only(template, "AWS::Kinesis::Stream").getKey();
        String query = logicalId(template, "AWS::Lambda::Function", "PipelineQueryFunction");
        String deadLetters = logicalId(template, "AWS::SQS::Queue", "PipelineProcessorDeadLetterQueue");
        Map<String, Object> resources = map(template.toJSON().get("Resources"));
        for (String role : List.of(guest, authenticated)) {
            Map<String, Object> props = map(map(resources.get(role)).get("Properties"));
            assertFalse(props.containsKey("ManagedPolicyArns"), role);
            assertFalse(props.containsKey("Policies"), role);
        }
        Map<String, Object> queryArn = Map.of("Fn::GetAtt", List.of(query, "Arn"));
        assertEquals(List.of(
                Map.of("Effect", "Allow",
                        "Action", List.of("kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"),
                        "Resource", Map.of("Fn::GetAtt", List.of(stream, "Arn"))),
                Map.of("Effect", "Allow",
                        "Action", "lambda:InvokeFunction",
                        "Resource", queryArn),
                // no sqs:DeleteMessage: the page shows dead letters without consuming them
                Map.of("Effect", "Allow",
                        "Action", List.of("sqs:ReceiveMessage", "sqs:GetQueueAttributes"),
                        "Resource", Map.of("Fn::GetAtt", List.of(deadLetters, "Arn"))),
                Map.of("Effect", "Allow", "Action", List.of("cloudwatch:GetMetricData", "cloudwatch:ListMetrics"), "Resource", "*")),
                roleStatements(template, guest));
        assertEquals(List.of(), roleStatements(template, authenticated));
    }

    @Test
    void outputsTheReferenceOutputsThePageNeedsTheIdentityPoolInsteadOfAKey() {
        Map<String, Object> outputs = map(template.toJSON().get("Outputs"));
        assertEquals(List.of("ArchiveBucket", "DeadLetterQueueUrl", "IdentityPoolId", "KinesisStream",
                "LambdaAPIFunction", "Region", "SensorDataTable"), new ArrayList<>(new TreeMap<>(outputs).keySet()));
        assertEquals(Map.of("Ref", only(template, "AWS::Cognito::IdentityPool").getKey()),
                map(outputs.get("IdentityPoolId")).get("Value"));
        assertEquals(Map.of("Ref", logicalId(template, "AWS::SQS::Queue", "PipelineProcessorDeadLetterQueue")),
                map(outputs.get("DeadLetterQueueUrl")).get("Value"));
    }

    @Test
    void theAcceptedCdkNagFindingsAreSuppressedInTheTemplateWithReasons() {
        List<String> suppressed = new ArrayList<>();
        for (Template t : List.of(template, nested)) {
            for (NagSuppression suppression : nagSuppressions(t)) {
                // The example's own resources; the pipeline's carry the library's suppressions.
                if (suppression.logicalId().startsWith("Pipeline")) {
                    continue;
                }
                Map<String, Object> rule = suppression.rule();
                assertTrue(((String) rule.get("reason")).length() > 80, rule.toString());
                suppressed.add(suppression.resourceType() + " " + rule.get("id") + " "
                        + rule.getOrDefault("applies_to", List.of()));
            }
        }
        suppressed.sort(null);
        List<String> expected = new ArrayList<>(List.of(
                "AWS::Cognito::IdentityPool AwsSolutions-COG7 []",
                "AWS::IAM::Policy AwsSolutions-IAM5 [Resource::*]",
                "AWS::Lambda::Function AwsSolutions-L1 []"));
        expected.sort(null);
        assertEquals(expected, suppressed);
    }

    @Test
    void theConfigTableIsIoTRefArchConfigAndTheHelperWritesBothEntries() throws IOException {
        template.hasResourceProperties("AWS::DynamoDB::Table", Map.of(
                "TableName", "IoTRefArchConfig",
                "KeySchema", List.of(Map.of("AttributeName", "Environment", "KeyType", "HASH"))));
        nested.resourceCountIs("Custom::AWS", 1);
        Map<String, Object> resource = nested.findResources("Custom::AWS").values().iterator().next();
        String create = new ObjectMapper().writeValueAsString(map(resource.get("Properties")).get("Create"));
        for (String fragment : List.of("updateItem", "demo", "SensorDataTable", "ArchiveBucket")) {
            assertTrue(create.contains(fragment), fragment + " not in " + create);
        }
    }

    @Test
    void theTemplateDeploysTheHandlersBundledInTheJar() throws Exception {
        Map<String, String> expected = packagedHandlers();
        assertEquals(4, new java.util.HashSet<>(expected.values()).size(), "the four bundled handlers should differ");

        // Every file asset of the assembly, by hash, from its *.assets.json manifests.
        Map<String, JsonNode> files = new HashMap<>();
        try (DirectoryStream<Path> manifests = Files.newDirectoryStream(outdir, "*.assets.json")) {
            for (Path manifest : manifests) {
                new ObjectMapper().readTree(manifest.toFile()).get("files").fields()
                        .forEachRemaining(e -> files.put(e.getKey(), e.getValue()));
            }
        }
        assertFalse(files.isEmpty(), "no asset manifest in " + outdir);

        Map<String, String> seen = new TreeMap<>();
        for (Map<String, Object> function : handlerFunctions()) {
            Map<String, Object> props = map(function.get("Properties"));
            String name = handlerName(props);
            String s3Key = (String) map(props.get("Code")).get("S3Key");
            assertTrue(s3Key.endsWith(".zip"), s3Key);
            String hash = s3Key.substring(0, s3Key.length() - ".zip".length());
            JsonNode asset = files.get(hash);
            assertNotNull(asset, name + ": S3Key " + s3Key + " is no asset of the assembly");
            assertEquals("zip", asset.get("source").get("packaging").asText());
            Path dir = outdir.resolve(asset.get("source").get("path").asText());
            try (var listing = Files.list(dir)) {
                assertEquals(List.of("index.js"), listing.map(p -> p.getFileName().toString()).toList(),
                        name + ": unexpected files in " + dir);
            }
            seen.put(name, sha256(Files.readAllBytes(dir.resolve("index.js"))));
        }
        assertEquals(expected, seen);
    }

    /** The functions running a bundled handler (they, and only they, carry its settings). */
    private static List<Map<String, Object>> handlerFunctions() {
        List<Map<String, Object>> functions = new ArrayList<>();
        for (Map<String, Object> function : template.findResources("AWS::Lambda::Function").values()) {
            Object environment = map(function.get("Properties")).get("Environment");
            if (environment != null && map(map(environment).get("Variables")).containsKey("POWERTOOLS_SERVICE_NAME")) {
                functions.add(function);
            }
        }
        return functions;
    }

    /** The handler a function runs, from its POWERTOOLS_SERVICE_NAME (sensor-<handler>). */
    private static String handlerName(final Map<String, Object> props) {
        Map<String, Object> variables = map(map(props.get("Environment")).get("Variables"));
        return ((String) variables.get("POWERTOOLS_SERVICE_NAME")).replaceFirst("^sensor-", "");
    }

    /** sha256 of assets/handlers/NAME.lambda/index.js in the jsii tarball embedded in the cdk-iot-ingest jar. */
    private static Map<String, String> packagedHandlers() throws IOException, URISyntaxException {
        Path jar = Paths.get(SensorIngestPipeline.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        assertTrue(jar.getFileName().toString().matches("cdk-iot-ingest-.*\\.jar"), "not loaded from the jar: " + jar);
        Map<String, String> digests = new TreeMap<>();
        try (JarFile jarFile = new JarFile(jar.toFile())) {
            List<JarEntry> tarballs = jarFile.stream().filter(e -> e.getName().endsWith(".jsii.tgz")).toList();
            assertEquals(1, tarballs.size(), "one jsii tarball expected in " + jar);
            try (InputStream in = new GZIPInputStream(jarFile.getInputStream(tarballs.get(0)))) {
                Map<String, byte[]> entries = readTar(in);
                for (String name : HANDLERS) {
                    byte[] code = entries.get("package/assets/handlers/" + name + ".lambda/index.js");
                    assertNotNull(code, name + " handler missing from the jsii tarball in " + jar);
                    digests.put(name, sha256(code));
                }
            }
        }
        return digests;
    }

    /** The regular files of a (ustar) tar stream, by path. */
    private static Map<String, byte[]> readTar(final InputStream in) throws IOException {
        Map<String, byte[]> entries = new HashMap<>();
        byte[] header = new byte[512];
        while (in.readNBytes(header, 0, 512) == 512 && header[0] != 0) {
            String name = field(header, 0, 100);
            String prefix = field(header, 345, 155);
            if (!prefix.isEmpty()) {
                name = prefix + "/" + name;
            }
            long size = Long.parseLong(field(header, 124, 12).trim(), 8);
            byte[] data = in.readNBytes((int) size);
            in.readNBytes((int) ((512 - size % 512) % 512));
            char type = (char) header[156];
            if (type == '0' || type == 0) {
                entries.put(name, data);
            }
        }
        return entries;
    }

    private static String field(final byte[] header, final int offset, final int length) {
        int end = offset;
        while (end < offset + length && header[end] != 0) {
            end++;
        }
        return new String(header, offset, end - offset, StandardCharsets.UTF_8);
    }

    private static String sha256(final byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
