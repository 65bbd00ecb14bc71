import { App } from 'aws-cdk-lib';
import { FullDeploymentStack } from './full-stack';
import { ReferenceDeploymentStack } from './reference-stack';

const app = new App();
// No account or region: the templates are environment-agnostic and synthesize offline.
new ReferenceDeploymentStack(app, 'IotBackendReference');
new FullDeploymentStack(app, 'IotBackendFull');
app.synth();
