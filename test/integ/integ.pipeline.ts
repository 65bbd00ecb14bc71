import { IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, RemovalPolicies, Stack } from 'aws-cdk-lib';
import { SensorIngestPipeline } from '../../src';
import { assertReadingsFlowThrough, emptyOnDelete } from './pipeline-assertions';

// A pipeline with every prop at its default, deployed, fed and checked.
// No stack traces in the snapshot's metadata: they hold this checkout's paths.
const app = new App({ stackTraces: false, context: { 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'IotIngestIntegDefaultPipeline');
const pipeline = new SensorIngestPipeline(stack, 'Pipeline');

// The defaults retain the stream, table and bucket; a test deployment must
// leave nothing behind once it is destroyed.
RemovalPolicies.of(stack).destroy();
emptyOnDelete(pipeline.archiveBucket!);

const integ = new IntegTest(app, 'DefaultPipeline', {
  testCases: [stack],
  // No update workflow (deploying the committed snapshot first): the snapshot
  // then keeps no copy of the handler bundles.
  stackUpdateWorkflow: false,
});
assertReadingsFlowThrough(integ, pipeline, 'integ-default-1');
