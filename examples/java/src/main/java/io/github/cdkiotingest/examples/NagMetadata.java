package io.github.cdkiotingest.examples;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import software.amazon.awscdk.CfnResource;

/**
 * Writes cdk-nag suppressions into a resource's template metadata, beside any
 * already there, so that a cdk-nag run over this app reads them without the
 * app depending on cdk-nag.
 */
final class NagMetadata {
    private NagMetadata() {
    }

    /** One suppression: the rule, why it is accepted, and optionally the findings it covers. */
    static Map<String, Object> rule(final String id, final String reason, final String... appliesTo) {
        Map<String, Object> rule = new LinkedHashMap<>();
        rule.put("id", id);
        rule.put("reason", reason);
        if (appliesTo.length > 0) {
            rule.put("applies_to", List.of(appliesTo));
        }
        return rule;
    }

    @SafeVarargs
    static void addSuppressions(final CfnResource resource, final Map<String, Object>... rules) {
        List<Object> all = new ArrayList<>();
        Object existing = resource.getMetadata("cdk_nag");
        if (existing instanceof Map<?, ?> metadata && metadata.get("rules_to_suppress") instanceof List<?> list) {
            all.addAll(list);
        }
        all.addAll(List.of(rules));
        resource.addMetadata("cdk_nag", Map.of("rules_to_suppress", all));
    }
}
