package io.github.cdkiotingest.examples;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.github.cdkiotingest.Archiver;
import io.github.cdkiotingest.DynamoDbProcessorProps;
import io.github.cdkiotingest.IngestProcessor;
import io.github.cdkiotingest.MetricsMode;
import io.github.cdkiotingest.S3ArchiverProps;
import io.github.cdkiotingest.SensorIngestPipeline;
import software.amazon.awscdk.CfnOutput;
import software.amazon.awscdk.CfnResource;
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
import software.amazon.awscdk.services.cognito.identitypool.IdentityPool;
import software.amazon.awscdk.services.iam.IRole;
import software.amazon.awscdk.services.iam.PolicyStatement;
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

        // TestClientUser, TestClientPolicy, TestClientKeys: the test page's identity.
        // Instead of an IAM user with an access key (a long-lived secret), a Cognito
        // identity pool hands the page temporary credentials of its guest role: the
        // page has no sign-in, so anyone holding it can do what this role allows, and
        // it allows only what the page does.
        IdentityPool identityPool = IdentityPool.Builder.create(this, "TestClientIdentityPool")
                .allowUnauthenticatedIdentities(true)
                // The enhanced flow only (GetId, GetCredentialsForIdentity): Cognito
                // then also caps guest sessions with its own scope-down policy.
                .allowClassicFlow(false)
                .build();
        IRole guestRole = identityPool.getUnauthenticatedRole();
        pipeline.grantPutRecords(guestRole);
        pipeline.grantQuery(guestRole);
        // The page shows dead letters without consuming them (VisibilityTimeout 0),
        // so no DeleteMessage.
        deadLetterQueue.grant(guestRole, "sqs:ReceiveMessage", "sqs:GetQueueAttributes");
        // ReceiveMessage on a queue under a KMS key needs kms:Decrypt on that key.
        if (deadLetterQueue.getEncryptionMasterKey() != null) {
            deadLetterQueue.getEncryptionMasterKey().grantDecrypt(guestRole);
        }
        // GetMetricData has no resource-level permissions (and no condition key
        // naming a namespace): its resource can only be "*". It reads metric values.
        guestRole.addToPrincipalPolicy(PolicyStatement.Builder.create()
                .actions(List.of("cloudwatch:GetMetricData"))
                .resources(List.of("*"))
                .build());
        NagMetadata.addSuppressions((CfnResource) identityPool.getNode().getDefaultChild(), NagMetadata.rule(
                "AwsSolutions-COG7",
                "The test page has no sign-in, so it takes guest (unauthenticated) identities. Their role may only put "
                        + "records on this pipeline's stream, invoke its query function, read its dead-letter queue "
                        + "without deleting and read CloudWatch metric data; the classic flow is off, so Cognito also "
                        + "caps guest sessions with its enhanced-flow session policy. A page for real users would use "
                        + "authenticated identities."));
        NagMetadata.addSuppressions(
                (CfnResource) guestRole.getNode().findChild("DefaultPolicy").getNode().getDefaultChild(),
                NagMetadata.rule("AwsSolutions-IAM5",
                        "cloudwatch:GetMetricData supports no resource-level permissions, so its resource must be "
                                + "\"*\"; it only reads metric values (the page shows the processor's "
                                + "Sensors/SensorData metric).",
                        "Resource::*"));

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
