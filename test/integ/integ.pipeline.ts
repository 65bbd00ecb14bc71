import { IntegTest } from '@aws-cdk/integ-tests-alpha';
import { RemovalPolicies, Stack } from 'aws-cdk-lib';
import { assertReadingsFlowThrough, assertReplayFunctionsAnswer, emptyOnDelete, newIntegApp } from './pipeline-assertions';
import { SensorIngestPipeline } from '../../src';

// A pipeline with every prop at its default, deployed, fed and checked.
const app = newIntegApp();
const stack = new Stack(app, 'IotIngestIntegDefaultPipeline');
const pipeline = new SensorIngestPipeline(stack, 'Pipeline');

// The defaults retain the stream, table and bucket; a test deployment must
// leave nothing behind once it is destroyed.
RemovalPolicies.of(stack).destroy();
emptyOnDelete(pipeline);

const integ = new IntegTest(app, 'DefaultPipeline', {
  testCases: [stack],
  // No update workflow (deploying the committed snapshot first): the snapshot
  // then keeps no copy of the handler bundles.
  stackUpdateWorkflow: false,
});
assertReadingsFlowThrough(integ, pipeline, 'integ-default-1');
assertReplayFunctionsAnswer(integ, pipeline);
