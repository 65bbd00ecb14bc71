#!/usr/bin/env python3
"""The example deployments, in Python: the same stacks as ../app.ts."""
import aws_cdk as cdk

from full_stack import FullDeploymentStack
from reference_stack import ReferenceDeploymentStack

app = cdk.App()
# No account or region: the templates are environment-agnostic and synthesize offline.
ReferenceDeploymentStack(app, "IotBackendReference")
FullDeploymentStack(app, "IotBackendFull")
app.synth()
