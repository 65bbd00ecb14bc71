/** config.json for a deployed stack, from `cdk deploy --outputs-file`. */
import { mkdtempSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { writePageConfig } from '../../examples/page-config';
import { pageConfigFromOutputs } from '../../local/src/runner/page-config';

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
