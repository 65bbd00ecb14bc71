import { IntegTest } from '@aws-cdk/integ-tests-alpha';
import { RemovalPolicies } from 'aws-cdk-lib';
import { assertReadingsFlowThrough, assertReplayFunctionsAnswer, emptyOnDelete, newIntegApp } from './pipeline-assertions';
import { ReferenceDeploymentStack } from '../../examples/reference-stack';

// The example app's reference deployment (processor batch size 25 and the
// archiver's 100 without a batching window, metrics with PutMetricData, the
// test client and the nested ConfigHelperStack), deployed, fed and checked.
const app = newIntegApp();
const stack = new ReferenceDeploymentStack(app, 'IotIngestIntegReference');

// The example destroys its resources with the stack, but under the feature
// flags integ-runner synthesizes with (@aws-cdk/aws-lambda:useCdkManagedLogGroup)
// its nested stack's custom resource function gets a log group that is retained;
// and CloudFormation cannot delete a bucket that still holds the objects the
// checks leave in it.
RemovalPolicies.of(stack).destroy();
emptyOnDelete(stack.pipeline);

const integ = new IntegTest(app, 'ReferenceDeployment', {
  testCases: [stack],
  // No update workflow (deploying the committed snapshot first): the snapshot
  // then keeps no copy of the handler bundles.
  stackUpdateWorkflow: false,
});
assertReadingsFlowThrough(integ, stack.pipeline, 'integ-reference-1');
assertReplayFunctionsAnswer(integ, stack.pipeline);
