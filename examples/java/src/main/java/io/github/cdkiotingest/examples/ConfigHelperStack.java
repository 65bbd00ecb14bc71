package io.github.cdkiotingest.examples;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import software.amazon.awscdk.CfnResource;
import software.amazon.awscdk.NestedStack;
import software.amazon.awscdk.RemovalPolicy;
import software.amazon.awscdk.customresources.AwsCustomResource;
import software.amazon.awscdk.customresources.AwsCustomResourcePolicy;
import software.amazon.awscdk.customresources.AwsSdkCall;
import software.amazon.awscdk.customresources.PhysicalResourceId;
import software.amazon.awscdk.services.dynamodb.ITable;
import software.amazon.awscdk.services.iam.PolicyStatement;
import software.amazon.awscdk.services.iam.Role;
import software.amazon.awscdk.services.iam.ServicePrincipal;
import software.amazon.awscdk.services.logs.LogGroup;
import software.amazon.awscdk.services.logs.RetentionDays;
import software.constructs.Construct;
import software.constructs.IConstruct;

/** The reference's ConfigHelperStack: writes the configuration entries, and removes them on delete. */
public class ConfigHelperStack extends NestedStack {
    public ConfigHelperStack(final Construct scope, final String id, final ITable configTable,
                             final Map<String, String> entries) {
        super(scope, id);
        List<String> names = new ArrayList<>(entries.keySet());
        Map<String, Object> key = Map.of("Environment", Map.of("S", "demo"));
        Map<String, String> attrNames = new LinkedHashMap<>();
        Map<String, Object> attrValues = new LinkedHashMap<>();
        List<String> sets = new ArrayList<>();
        List<String> removes = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            attrNames.put("#a" + i, names.get(i));
            attrValues.put(":v" + i, Map.of("S", entries.get(names.get(i))));
            sets.add("#a" + i + " = :v" + i);
            removes.add("#a" + i);
        }
        String table = configTable.getTableName();
        // The provider function's own role and log group: it may write its logs to
        // that group only, where the default role would bring the managed
        // AWSLambdaBasicExecutionRole (logs on every log group).
        Role role = Role.Builder.create(this, "ConfigEntriesRole")
                .assumedBy(new ServicePrincipal("lambda.amazonaws.com"))
                .description("Writes and removes the IoTRefArchConfig entries at deploy time")
                .build();
        LogGroup logGroup = LogGroup.Builder.create(this, "ConfigEntriesLogs")
                .retention(RetentionDays.ONE_MONTH)
                .removalPolicy(RemovalPolicy.DESTROY)
                .build();
        logGroup.grantWrite(role);

        Map<String, Object> create = new LinkedHashMap<>();
        create.put("TableName", table);
        create.put("Key", key);
        create.put("UpdateExpression", "SET " + String.join(", ", sets));
        create.put("ExpressionAttributeNames", attrNames);
        create.put("ExpressionAttributeValues", attrValues);

        Map<String, Object> delete = new LinkedHashMap<>();
        delete.put("TableName", table);
        delete.put("Key", key);
        delete.put("UpdateExpression", "REMOVE " + String.join(", ", removes));
        delete.put("ExpressionAttributeNames", attrNames);

        AwsCustomResource.Builder.create(this, "ConfigEntries")
                .onCreate(AwsSdkCall.builder()
                        .service("DynamoDB")
                        .action("updateItem")
                        .parameters(create)
                        .physicalResourceId(PhysicalResourceId.of("IoTRefArchConfig-demo"))
                        .build())
                .onDelete(AwsSdkCall.builder()
                        .service("DynamoDB")
                        .action("updateItem")
                        .parameters(delete)
                        .build())
                .installLatestAwsSdk(false)
                .role(role)
                .logGroup(logGroup)
                .policy(AwsCustomResourcePolicy.fromStatements(List.of(PolicyStatement.Builder.create()
                        .actions(List.of("dynamodb:UpdateItem"))
                        .resources(List.of(configTable.getTableArn()))
                        .build())))
                .build();
        // The provider is one function per stack (a SingletonFunction); this nested
        // stack holds no other.
        for (IConstruct construct : getNode().findAll()) {
            if (CfnResource.isCfnResource(construct)
                    && "AWS::Lambda::Function".equals(((CfnResource) construct).getCfnResourceType())) {
                NagMetadata.addSuppressions((CfnResource) construct, NagMetadata.rule("AwsSolutions-L1",
                        "aws-cdk-lib's AwsCustomResource provider: aws-cdk-lib chooses its runtime (the newest "
                                + "Node.js it ships the provider for) and moves it with aws-cdk-lib upgrades; "
                                + "overriding it would run the provider on a runtime it was not released for. It runs "
                                + "only when CloudFormation creates or deletes this resource."));
            }
        }
    }
}
