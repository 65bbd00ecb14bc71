"""cdk-nag suppressions written as template metadata: the Python twin of ../nag-metadata.ts."""
from typing import Any, List, Mapping

from aws_cdk import CfnResource


def add_nag_suppressions(resource: CfnResource, rules: List[Mapping[str, Any]]) -> None:
    """Writes cdk-nag suppressions into the resource's template metadata, beside any already there.

    A cdk-nag run over this app reads them without the app depending on cdk-nag.
    """
    existing = (resource.get_metadata("cdk_nag") or {}).get("rules_to_suppress", [])
    resource.add_metadata("cdk_nag", {"rules_to_suppress": [*existing, *rules]})
