"""Template helpers shared by the example tests: the Python twin of ../../../test/examples/template-helpers.ts."""


def census(template):
    """Resource types and how many of each, in one template."""
    counts = {}
    for resource in template.to_json()["Resources"].values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    return counts


def only(template, resource_type):
    """The only resource of the type, as (logical id, resource)."""
    found = list(template.find_resources(resource_type).items())
    assert len(found) == 1, f"one {resource_type} expected, got {len(found)}"
    return found[0]


def logical_id(template, resource_type, prefix):
    """The logical id of the only resource of the type whose logical id starts with the prefix."""
    ids = [i for i in template.find_resources(resource_type) if i.startswith(prefix)]
    assert len(ids) == 1, f"one {resource_type} starting with {prefix} expected, got {ids}"
    return ids[0]


def role_statements(template, role_id):
    """The statements of every AWS::IAM::Policy attached to the role."""
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def nag_suppressions(template):
    """Every cdk-nag suppression written in the template's metadata, as (logical id, resource type, rule)."""
    return [
        (logical_id_, resource["Type"], rule)
        for logical_id_, resource in template.to_json()["Resources"].items()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
