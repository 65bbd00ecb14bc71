package io.github.cdkiotingest.examples;

import static io.github.cdkiotingest.examples.TemplateHelpers.map;
import static io.github.cdkiotingest.examples.TemplateHelpers.only;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.github.cdkiotingest.DeadLetterDestination;
import io.github.cdkiotingest.DynamoDbProcessorProps;
import io.github.cdkiotingest.IQueryEndpoint;
import io.github.cdkiotingest.IngestProcessor;
import io.github.cdkiotingest.QueryEndpoint;
import io.github.cdkiotingest.SensorIngestPipeline;
import org.junit.jupiter.api.Test;
import software.amazon.awscdk.App;
import software.amazon.awscdk.Stack;
import software.amazon.awscdk.assertions.Template;
import software.amazon.awscdk.services.s3.Bucket;

/** TestClientIdentity's own choices, from Java: mirrors test/examples/test-client-identity.test.ts. */
class TestClientIdentityTest {
    private static Template identityFor(final IQueryEndpoint queryEndpoint) {
        Stack stack = new Stack(new App(), "Identity");
        SensorIngestPipeline pipeline = SensorIngestPipeline.Builder.create(stack, "Pipeline")
                .queryEndpoint(queryEndpoint)
                .build();
        new TestClientIdentity(stack, "TestClientIdentityPool", pipeline);
        return Template.fromStack(stack);
    }

    private static String cog7Reason(final Template template) {
        Object metadata = only(template, "AWS::Cognito::IdentityPool").getValue().get("Metadata");
        List<?> rules = (List<?>) map(map(metadata).get("cdk_nag")).get("rules_to_suppress");
        assertEquals(List.of("AwsSolutions-COG7"), rules.stream().map(r -> map(r).get("id")).toList());
        return (String) map(rules.get(0)).get("reason");
    }

    @Test
    void theCog7ReasonNamesTheQueryPermissionGrantQueryGave() {
        String none = cog7Reason(identityFor(null));
        assertTrue(none.contains("put records on this pipeline's stream, invoke its query function, read its "
                + "dead-letter queue"), none);
        String httpApi = cog7Reason(identityFor(QueryEndpoint.httpApi()));
        assertTrue(httpApi.contains("put records on this pipeline's stream, call its query function and HTTP API, read its "
                + "dead-letter queue"), httpApi);
        String functionUrl = cog7Reason(identityFor(QueryEndpoint.functionUrl()));
        assertTrue(functionUrl.contains("put records on this pipeline's stream, call its query function and Function "
                + "URL, read its dead-letter queue"), functionUrl);
    }

    @Test
    void refusesAPipelineWithoutADeadLetterQueueNamingTheParameter() {
        Stack stack = new Stack(new App(), "Identity");
        SensorIngestPipeline pipeline = SensorIngestPipeline.Builder.create(stack, "Pipeline")
                .processor(IngestProcessor.dynamoDb(DynamoDbProcessorProps.builder()
                        .deadLetterDestination(DeadLetterDestination.bucket(new Bucket(stack, "DeadLetters")))
                        .build()))
                .build();
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> new TestClientIdentity(stack, "TestClientIdentityPool", pipeline));
        assertEquals("TestClientIdentity: pipeline must have a dead-letter queue, which the test page shows; got a pipeline "
                + "whose processor has another dead-letter destination", error.getMessage());
    }
}
