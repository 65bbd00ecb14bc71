package io.github.cdkiotingest.examples;

import java.util.LinkedHashMap;
import java.util.Map;

import io.github.cdkiotingest.Archiver;
import io.github.cdkiotingest.DynamoDbProcessorProps;
import io.github.cdkiotingest.IngestProcessor;
import io.github.cdkiotingest.MetricsMode;
import io.github.cdkiotingest.S3ArchiverProps;
import io.github.cdkiotingest.SensorIngestPipeline;
import software.amazon.awscdk.CfnOutput;
import software.amazon.awscdk.Duration;
import software.amazon.awscdk.RemovalPolicy;
import software.amazon.awscdk.Stack;
import software.amazon.awscdk.StackProps;
import software.amazon.awscdk.services.dynamodb.Attribute;
import software.amazon.awscdk.services.dynamodb.AttributeType;
import software.amazon.awscdk.services.dynamodb.BillingMode;
import software.amazon.awscdk.services.dynamodb.PointInTimeRecoverySpecification;
import software.amazon.awscdk.services.dynamodb.Table;
import software.amazon.awscdk.services.dynamodb.TableEncryption;
import software.amazon.awscdk.services.lambda.StartingPosition;
import software.amazon.awscdk.services.s3.IBucket;
import software.amazon.awscdk.services.sqs.IQueue;
import software.constructs.Construct;

/**
 * The Serverless IoT Backend reference deployment, built on SensorIngestPipeline.
 * The Java twin of ../reference-stack.ts: the same constructs, ids and settings.
 */
public class ReferenceStack extends Stack {
    private final SensorIngestPipeline pipeline;
    private final ConfigHelperStack configHelper;

    public ReferenceStack(final Construct scope, final String id) {
        this(scope, id, null);
    }

    public ReferenceStack(final Construct scope, final String id, final StackProps props) {
        super(scope, id, props);

        // EventStream, SensorDataTable, ArchiveBucket and the three functions with
        // their roles and event source mappings.
        pipeline = SensorIngestPipeline.Builder.create(this, "Pipeline")
                .shardCount(1)
                // The pipeline's CloudWatch dashboard, beside its alarms.
                .dashboard(true)
                // A demo: everything goes when the stack is deleted.
                .removalPolicy(RemovalPolicy.DESTROY)
                // The reference's batch size and starting position, and its metric
                // published with PutMetricData (aggregated per sensor and minute).
                .processor(IngestProcessor.dynamoDb(DynamoDbProcessorProps.builder()
                        .batchSize(25)
                        .maxBatchingWindow(Duration.seconds(0))
                        .startingPosition(StartingPosition.TRIM_HORIZON)
                        .metricsMode(MetricsMode.PUT_METRIC_DATA)
                        .build()))
                .archiver(Archiver.s3(S3ArchiverProps.builder()
                        .batchSize(100)
                        .maxBatchingWindow(Duration.seconds(0))
                        .startingPosition(StartingPosition.TRIM_HORIZON)
                        // CloudFormation deletes only an empty bucket.
                        .autoDeleteObjects(true)
                        .build()))
                .build();
        IBucket archiveBucket = pipeline.getArchiveBucket(); // never null with Archiver.s3()

        IQueue deadLetterQueue = pipeline.getDeadLetterQueue(); // IngestProcessor.dynamoDb() defaults to a queue

        // TestClientUser, TestClientPolicy, TestClientKeys: the test page's identity, a
        // Cognito identity pool's guest role instead of an IAM user with an access key
        // (a long-lived secret).
        TestClientIdentity identityPool = new TestClientIdentity(this, "TestClientIdentityPool", pipeline);

        // ConfigTable and ConfigHelperStack: the reference's fixed-name configuration
        // table, its entries written at deploy time by a custom resource in a nested stack.
        Table configTable = Table.Builder.create(this, "ConfigTable")
                .tableName("IoTRefArchConfig")
                .partitionKey(Attribute.builder().name("Environment").type(AttributeType.STRING).build())
                .billingMode(BillingMode.PAY_PER_REQUEST)
                .encryption(TableEncryption.AWS_MANAGED)
                .pointInTimeRecoverySpecification(PointInTimeRecoverySpecification.builder()
                        .pointInTimeRecoveryEnabled(true)
                        .build())
                .removalPolicy(RemovalPolicy.DESTROY)
                .build();
        Map<String, String> entries = new LinkedHashMap<>();
        entries.put("SensorDataTable", pipeline.getTable().getTableName());
        entries.put("ArchiveBucket", archiveBucket.getBucketName());
        configHelper = new ConfigHelperStack(this, "ConfigHelperStack", configTable, entries);

        CfnOutput.Builder.create(this, "IdentityPoolId")
                .value(identityPool.getIdentityPoolId())
                .description("Cognito identity pool giving the test page temporary credentials "
                        + "(its config.json's identityPoolId)")
                .build();
        CfnOutput.Builder.create(this, "DeadLetterQueueUrl")
                .value(deadLetterQueue.getQueueUrl())
                .description("Queue of records that failed validation")
                .build();
        CfnOutput.Builder.create(this, "LambdaAPIFunction").value(pipeline.getQueryFunction().getFunctionName()).build();
        CfnOutput.Builder.create(this, "KinesisStream").value(pipeline.getStream().getStreamName()).build();
        CfnOutput.Builder.create(this, "Region").value(getRegion()).build();
        CfnOutput.Builder.create(this, "ArchiveBucket").value(archiveBucket.getBucketName()).build();
        CfnOutput.Builder.create(this, "SensorDataTable").value(pipeline.getTable().getTableName()).build();
    }

    public SensorIngestPipeline getPipeline() {
        return pipeline;
    }

    public ConfigHelperStack getConfigHelper() {
        return configHelper;
    }
}
