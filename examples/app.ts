import { App } from 'aws-cdk-lib';
import { ReferenceDeploymentStack } from './reference-stack';

const app = new App();
// No account or region: the template is environment-agnostic and synthesizes offline.
new ReferenceDeploymentStack(app, 'IotBackendReference');
app.synth();
