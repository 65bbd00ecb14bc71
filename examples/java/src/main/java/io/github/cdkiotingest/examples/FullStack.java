package io.github.cdkiotingest.examples;

import java.util.List;

import io.github.cdkiotingest.ArchiverBinding;
import io.github.cdkiotingest.Archiver;
import io.github.cdkiotingest.DynamoDbProcessorProps;
import io.github.cdkiotingest.FirehoseArchiverProps;
import io.github.cdkiotingest.HttpApiQueryEndpointProps;
import io.github.cdkiotingest.IngestProcessor;
import io.github.cdkiotingest.Ingress;
import io.github.cdkiotingest.IngressBinding;
import io.github.cdkiotingest.IotTopicRuleIngressProps;
import io.github.cdkiotingest.ParquetArchiveOptions;
import io.github.cdkiotingest.QueryEndpoint;
import io.github.cdkiotingest.QueryEndpointCors;
import io.github.cdkiotingest.SensorIngestPipeline;
import software.amazon.awscdk.CfnOutput;
import software.amazon.awscdk.Duration;
import software.amazon.awscdk.RemovalPolicy;
import software.amazon.awscdk.Size;
import software.amazon.awscdk.Stack;
import software.amazon.awscdk.StackProps;
import software.amazon.awscdk.services.sqs.IQueue;
import software.constructs.Construct;

/**
 * The IoT backend with every optional part of cdk-iot-ingest at once. The Java
 * twin of ../full-stack.ts: devices publish to AWS IoT Core, a topic rule puts
 * their readings on the stream, the processor reads it through enhanced
 * fan-out, Amazon Data Firehose archives it as Parquet that Athena can query,
 * and the query function answers over an HTTP API with IAM auth.
 */
public class FullStack extends Stack {
    /** The MQTT topics devices publish readings on: sensors/&lt;sensor id&gt;/readings. */
    public static final String READINGS_TOPIC_FILTER = "sensors/+/readings";

    private final SensorIngestPipeline pipeline;

    public FullStack(final Construct scope, final String id) {
        this(scope, id, null, null);
    }

    /**
     * @param testPageOrigins the origins of the test page, allowed to call the query API from a browser;
     *                        null for the local run's page (http://localhost:3000 and http://127.0.0.1:3000)
     */
    public FullStack(final Construct scope, final String id, final StackProps props, final List<String> testPageOrigins) {
        super(scope, id, props);

        pipeline = SensorIngestPipeline.Builder.create(this, "Pipeline")
                // A demo: everything goes when the stack is deleted, the archive with it.
                .removalPolicy(RemovalPolicy.DESTROY)
                .dashboard(true)
                // Each message published on sensors/<id>/readings becomes one record, keyed by its sensorid.
                .ingress(Ingress.iotTopicRule(IotTopicRuleIngressProps.builder()
                        .sql("SELECT * FROM '" + READINGS_TOPIC_FILTER + "'")
                        .build()))
                // 2 MB/s per shard of its own, beside the Firehose archiver's shared reads.
                .processor(IngestProcessor.dynamoDb(DynamoDbProcessorProps.builder().enhancedFanOut(true).build()))
                .archiver(Archiver.firehose(FirehoseArchiverProps.builder()
                        .parquet(ParquetArchiveOptions.builder().databaseName("iot_backend_full").tableName("readings").build())
                        .partitionBySensor(true)
                        // Dynamic partitioning's shortest interval: the archive of a demo shows within minutes.
                        .bufferingInterval(Duration.minutes(1))
                        .bufferingSize(Size.mebibytes(64))
                        .autoDeleteObjects(true)
                        .build()))
                // An HTTP API with the IAM authorizer: the page signs its requests with the guest
                // role's credentials; the stage throttles and logs.
                .queryEndpoint(QueryEndpoint.httpApi(HttpApiQueryEndpointProps.builder()
                        .cors(QueryEndpointCors.builder()
                                .allowOrigins(testPageOrigins != null ? testPageOrigins
                                        : List.of("http://localhost:3000", "http://127.0.0.1:3000"))
                                .build())
                        .build()))
                .build();
        IQueue deadLetterQueue = pipeline.getDeadLetterQueue(); // IngestProcessor.dynamoDb() defaults to a queue
        ArchiverBinding archive = pipeline.getArchiverBinding();
        IngressBinding ingress = pipeline.getIngressBinding();

        // The test page's identity, as in the reference deployment: temporary credentials of a
        // guest role that may do what the page does, and no more.
        TestClientIdentity identityPool = new TestClientIdentity(this, "TestClientIdentityPool", pipeline);

        CfnOutput.Builder.create(this, "QueryUrl")
                .value(pipeline.getQueryUrl())
                .description("The query API (IAM auth: sign requests with SigV4): GET <url>readings?sensorid=... "
                        + "or POST <url>readings")
                .build();
        CfnOutput.Builder.create(this, "ReadingsTopic")
                .value(READINGS_TOPIC_FILTER)
                .description("Devices publish readings on sensors/<sensor id>/readings")
                .build();
        CfnOutput.Builder.create(this, "TopicRuleName").value(ingress.getTopicRule().getRef()).build();
        CfnOutput.Builder.create(this, "IngressErrorLogGroup")
                .value(ingress.getErrorLogGroup().getLogGroupName())
                .description("Messages the topic rule could not put on the stream")
                .build();
        CfnOutput.Builder.create(this, "DeliveryStreamName").value(archive.getDeliveryStream().getDeliveryStreamName()).build();
        CfnOutput.Builder.create(this, "ArchiveBucket").value(pipeline.getArchiveBucket().getBucketName()).build();
        CfnOutput.Builder.create(this, "GlueDatabase")
                .value(archive.getGlueDatabase().getRef())
                .description("Athena: SELECT * FROM <database>.readings WHERE year = ...")
                .build();
        CfnOutput.Builder.create(this, "IdentityPoolId").value(identityPool.getIdentityPoolId()).build();
        CfnOutput.Builder.create(this, "DeadLetterQueueUrl").value(deadLetterQueue.getQueueUrl()).build();
        CfnOutput.Builder.create(this, "LambdaAPIFunction").value(pipeline.getQueryFunction().getFunctionName()).build();
        CfnOutput.Builder.create(this, "KinesisStream").value(pipeline.getStream().getStreamName()).build();
        CfnOutput.Builder.create(this, "SensorDataTable").value(pipeline.getTable().getTableName()).build();
        CfnOutput.Builder.create(this, "Region").value(getRegion()).build();
    }

    public SensorIngestPipeline getPipeline() {
        return pipeline;
    }
}
