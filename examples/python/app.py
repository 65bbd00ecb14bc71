#!/usr/bin/env python3
"""The reference deployment, in Python: the same stack as ../app.ts."""
import aws_cdk as cdk

from reference_stack import ReferenceDeploymentStack

app = cdk.App()
# No account or region: the template is environment-agnostic and synthesizes offline.
ReferenceDeploymentStack(app, "IotBackendReference")
app.synth()
