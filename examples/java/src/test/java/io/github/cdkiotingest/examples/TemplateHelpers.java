package io.github.cdkiotingest.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import software.amazon.awscdk.assertions.Template;

/** Template helpers shared by the example tests: the Java twin of test/examples/template-helpers.ts. */
final class TemplateHelpers {
    private TemplateHelpers() {
    }

    /** One cdk-nag suppression written in a resource's template metadata. */
    record NagSuppression(String logicalId, String resourceType, Map<String, Object> rule) {
    }

    /** Resource types and how many of each, in one template. */
    static Map<String, Integer> census(final Template t) {
        Map<String, Integer> counts = new TreeMap<>();
        for (Object resource : map(t.toJSON().get("Resources")).values()) {
            counts.merge((String) map(resource).get("Type"), 1, Integer::sum);
        }
        return counts;
    }

    /** The only resource of the type, by logical id. */
    static Map.Entry<String, Map<String, Object>> only(final Template t, final String type) {
        Map<String, Map<String, Object>> found = t.findResources(type);
        assertEquals(1, found.size(), "one " + type + " expected");
        return found.entrySet().iterator().next();
    }

    /** The logical id of the only resource of the type whose id starts with the prefix. */
    static String logicalId(final Template t, final String type, final String prefix) {
        List<String> ids = t.findResources(type).keySet().stream().filter(id -> id.startsWith(prefix)).toList();
        assertEquals(1, ids.size(), "one " + type + " starting with " + prefix + " expected, got " + ids);
        return ids.get(0);
    }

    /** The logical id of a role from its {"Fn::GetAtt": [id, "Arn"]}. */
    static String roleId(final Object getAtt) {
        return (String) ((List<?>) map(getAtt).get("Fn::GetAtt")).get(0);
    }

    /** The statements of every AWS::IAM::Policy attached to the role. */
    static List<Object> roleStatements(final Template t, final String roleId) {
        List<Object> statements = new ArrayList<>();
        for (Map<String, Object> policy : t.findResources("AWS::IAM::Policy").values()) {
            Map<String, Object> props = map(policy.get("Properties"));
            if (((List<?>) props.getOrDefault("Roles", List.of())).contains(Map.of("Ref", roleId))) {
                statements.addAll((List<?>) map(props.get("PolicyDocument")).get("Statement"));
            }
        }
        return statements;
    }

    /** Every cdk-nag suppression written in the template's metadata. */
    static List<NagSuppression> nagSuppressions(final Template t) {
        List<NagSuppression> suppressions = new ArrayList<>();
        for (Map.Entry<String, Object> entry : map(t.toJSON().get("Resources")).entrySet()) {
            Object metadata = map(entry.getValue()).get("Metadata");
            if (metadata == null || map(metadata).get("cdk_nag") == null) {
                continue;
            }
            for (Object rule : (List<?>) map(map(metadata).get("cdk_nag")).get("rules_to_suppress")) {
                suppressions.add(new NagSuppression(entry.getKey(), (String) map(entry.getValue()).get("Type"), map(rule)));
            }
        }
        return suppressions;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(final Object value) {
        return (Map<String, Object>) value;
    }
}
