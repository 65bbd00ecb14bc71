/** config.json for a deployed stack, from `cdk deploy --outputs-file`. */
import { mkdtempSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { writePageConfig } from '../../examples/page-config';
import { readCloudAssembly } from '../../local/src/runner/assembly';
import { planDeployment } from '../../local/src/runner/deployment';
import { DEFAULT_PAYLOAD, guessPageResources, pageConfigFromOutputs, pageTargets, payloadConfig } from '../../local/src/runner/page-config';
import { SensorIngestPipeline } from '../../src';

const SAMPLE = path.join(__dirname, 'fixtures', 'cdk-outputs.json');

test('maps the stack outputs to the page config, with the identity pool and no key', () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'page-config-')), 'config.json');
  const config = writePageConfig(SAMPLE, file);
  expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
    region: 'eu-west-1',
    streamName: 'IotBackendReference-PipelineStreamDD609695-Xy12AbCdEf34',
    queryFunctionName: 'IotBackendReference-PipelineQueryFunction3FDE5116-Gh56IjKlMn78',
    identityPoolId: 'eu-west-1:0d5b0c3e-1c2a-4f6b-9f39-6a1e2b3c4d5e',
    deadLetterQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/IotBackendReference-PipelineProcessorDeadLetterQueue1EE7342D-Op90QrSt',
    metric: { namespace: 'Sensors', name: 'SensorData', dimension: 'SensorId' },
    label: 'IotBackendReference in eu-west-1',
  });
  expect(config).not.toHaveProperty('credentials');
  expect(config).not.toHaveProperty('endpoint');
});

test('missing outputs are named', () => {
  const outputs = JSON.parse(readFileSync(SAMPLE, 'utf8'));
  delete outputs.IotBackendReference.IdentityPoolId;
  expect(() => pageConfigFromOutputs(outputs)).toThrow('stack IotBackendReference has no IdentityPoolId output, which the page needs');
  expect(() => pageConfigFromOutputs({ A: { BucketName: 'x' } })).toThrow('no stack in the outputs file has a KinesisStream output');
  expect(() => pageConfigFromOutputs(outputs, { stack: 'Nope' })).toThrow('the outputs file has no stack named Nope');
  const both = { A: { KinesisStream: 's' }, B: { KinesisStream: 't' } };
  expect(() => pageConfigFromOutputs(both)).toThrow('several stacks have a KinesisStream output (A, B): name one');
});

test('the dead-letter queue is optional; the metric can be renamed', () => {
  const outputs = JSON.parse(readFileSync(SAMPLE, 'utf8'));
  delete outputs.IotBackendReference.DeadLetterQueueUrl;
  const config = pageConfigFromOutputs(outputs, { metric: { dimension: 'DeviceId' } });
  expect(config.deadLetterQueueUrl).toBeUndefined();
  expect(config.metric).toEqual({ namespace: 'Sensors', name: 'SensorData', dimension: 'DeviceId' });
});

test('without outputs, the local run finds the query function and the dead-letter queue among the replay functions and failed-batches queues', () => {
  const outdir = mkdtempSync(path.join(tmpdir(), 'no-outputs-'));
  const app = new App({ outdir });
  new SensorIngestPipeline(new Stack(app, 'Plain'), 'Pipeline');
  app.synth();
  const queueUrl = (name: string) => `http://127.0.0.1:3000/123456789012/${name}`;
  const plan = planDeployment(readCloudAssembly(outdir), { region: 'eu-west-1', account: '123456789012', queueUrl });
  const consumers = new Set(plan.mappings.map((m) => m.functionName));
  // Outside the mappings: the query function and the two replay functions, each told a queue URL.
  expect(plan.functions.filter((f) => !consumers.has(f.name)).map((f) => f.path.split('/')[1].replace(/[0-9A-F]{8}$/, '')).sort())
    .toEqual(['PipelineArchiverReplayFunction', 'PipelineProcessorReplayFunction', 'PipelineQueryFunction']);
  const guess = guessPageResources(plan.functions, consumers, new Set(plan.tables.map((t) => t.name)), plan.queues.map((q) => queueUrl(q.name)));
  expect(guess).toEqual({
    queryFunctionName: plan.functions.find((f) => f.path.includes('PipelineQueryFunction'))!.name,
    deadLetterQueueUrl: queueUrl(plan.queues.find((q) => q.path.includes('DeadLetterQueue'))!.name),
  });
});

test('a user app with no outputs: the page\'s stream, query function, dead-letter queue and payload mapping come from the pipeline the run finds', () => {
  const outdir = mkdtempSync(path.join(tmpdir(), 'user-app-'));
  const app = new App({ outdir });
  new SensorIngestPipeline(new Stack(app, 'Defaults'), 'Pipeline');
  new SensorIngestPipeline(new Stack(app, 'Mapped'), 'Readings', {
    payloadMapping: { sensorIdField: 'device', timestampField: 'at', valueField: 'v', acceptArrays: true, readingsField: 'batch' },
  });
  app.synth();
  const queueUrl = (name: string) => `http://127.0.0.1:3000/123456789012/${name}`;
  const planOf = (stack: string) => planDeployment(
    readCloudAssembly(outdir).filter((s) => s.stackName === stack), { region: 'eu-west-1', account: '123456789012', queueUrl });

  const defaults = planOf('Defaults');
  expect(defaults.outputs).toEqual([]);
  expect(pageTargets(defaults, queueUrl)).toEqual({
    streamName: defaults.streams[0].name,
    queryFunctionName: defaults.functions.find((f) => f.path.startsWith('Defaults/PipelineQueryFunction'))!.name,
    deadLetterQueueUrl: queueUrl(defaults.queues.find((q) => q.path.includes('DeadLetterQueue'))!.name),
  });
  expect(payloadConfig(defaults, defaults.streams[0].name)).toEqual(DEFAULT_PAYLOAD);

  const mapped = planOf('Mapped');
  expect(pageTargets(mapped, queueUrl).queryFunctionName).toBe(mapped.functions.find((f) => f.path.startsWith('Mapped/ReadingsQueryFunction'))!.name);
  expect(payloadConfig(mapped, mapped.streams[0].name)).toEqual({
    sensorIdField: 'device', timestampField: 'at', valueField: 'v', acceptArrays: true, readingsField: 'batch',
  });
  // Another stream than the page's: no processor, the defaults.
  expect(payloadConfig(mapped, 'another-stream')).toEqual(DEFAULT_PAYLOAD);
});
