package io.github.cdkiotingest.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
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
    private static final List<String> HANDLERS = List.of("archiver", "processor", "query");

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
    void hasEveryResourceOfTheReference() {
        // EventStream, SensorDataTable + ConfigTable, ArchiveBucket
        template.resourceCountIs("AWS::Kinesis::Stream", 1);
        template.resourceCountIs("AWS::DynamoDB::Table", 2);
        template.resourceCountIs("AWS::S3::Bucket", 1);
        // ApiFunction, DdbCloudWatchEventProcessorFunction, EventArchiverFunction and their
        // roles, and the function (and role) that empties the archive bucket on delete
        template.resourceCountIs("AWS::Lambda::Function", 4);
        template.resourceCountIs("AWS::IAM::Role", 4);
        template.resourceCountIs("Custom::S3AutoDeleteObjects", 1);
        // DdbCloudWatchProcessorSourceMapping, EventArchiverSourceMapping
        template.resourceCountIs("AWS::Lambda::EventSourceMapping", 2);
        // TestClientUser, TestClientPolicy (the user's policy), TestClientKeys
        template.resourceCountIs("AWS::IAM::User", 1);
        template.resourceCountIs("AWS::IAM::AccessKey", 1);
        template.resourceCountIs("AWS::SecretsManager::Secret", 1);
        // ConfigHelperStack
        template.resourceCountIs("AWS::CloudFormation::Stack", 1);
    }

    @Test
    void functionsRunTheBundledHandlersOnNode24Arm64() {
        Collection<Map<String, Object>> functions = handlerFunctions();
        assertEquals(3, functions.size());
        List<String> services = new ArrayList<>();
        for (Map<String, Object> function : functions) {
            Map<String, Object> props = map(function.get("Properties"));
            assertEquals("nodejs24.x", props.get("Runtime"));
            assertEquals(List.of("arm64"), props.get("Architectures"));
            assertEquals("index.handler", props.get("Handler"));
            services.add(handlerName(props));
        }
        services.sort(null);
        assertEquals(HANDLERS, services);
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
    void theTestClientMayPutRecordsAndInvokeTheQueryFunctionNothingElse() {
        Map<String, Map<String, Object>> policies = template.findResources("AWS::IAM::Policy",
                Map.of("Properties", Map.of("Users", Match.anyValue())));
        List<String> actions = new ArrayList<>();
        for (Map<String, Object> policy : policies.values()) {
            Map<String, Object> document = map(map(policy.get("Properties")).get("PolicyDocument"));
            for (Object statement : (List<?>) document.get("Statement")) {
                Object action = map(statement).get("Action");
                if (action instanceof List<?> list) {
                    list.forEach(a -> actions.add((String) a));
                } else {
                    actions.add((String) action);
                }
            }
        }
        actions.sort(null);
        assertEquals(List.of("kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords", "lambda:InvokeFunction"),
                actions);
    }

    @Test
    void outputsTheReferenceOutputsButNeverTheSecretKeyInPlainText() throws IOException {
        Map<String, Object> outputs = map(template.toJSON().get("Outputs"));
        assertEquals(List.of("AccessKeyId", "ArchiveBucket", "KinesisStream", "LambdaAPIFunction", "Region",
                "SecretAccessKeySecretArn", "SensorDataTable"), new ArrayList<>(new TreeMap<>(outputs).keySet()));
        String json = new ObjectMapper().writeValueAsString(outputs);
        assertFalse(json.contains("SecretAccessKey\"]"), json);
        template.hasResourceProperties("AWS::SecretsManager::Secret", Map.of(
                "SecretString", Map.of("Fn::GetAtt", List.of(Match.stringLikeRegexp("^TestClientKeys"), "SecretAccessKey"))));
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
        assertEquals(3, new java.util.HashSet<>(expected.values()).size(), "the three bundled handlers should differ");

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

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(final Object value) {
        return (Map<String, Object>) value;
    }
}
