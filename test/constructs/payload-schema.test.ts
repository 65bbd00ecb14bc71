import { existsSync, readFileSync } from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { environmentOf, synth } from './util';
import { PayloadSchema, SensorIngestPipeline } from '../../src';

const SCHEMA = { type: 'object', required: ['unit'], properties: { value: { type: 'number', maximum: 125 }, unit: { enum: ['C', 'F'] } } };

/** The directory of the processor's code asset in the cloud assembly. */
function processorCode(app: App, template: Template): string {
  const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((r) => String(r.Properties.Description).startsWith('Stores sensor readings'))!;
  const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
  return path.join(app.outdir, `asset.${hash}`);
}

describe('payloadSchema', () => {
  test('the schema travels beside the processor\'s code, named by its setting; no schema, no file and an empty setting', () => {
    const app = new App();
    const stack = new Stack(app, 'Test');
    new SensorIngestPipeline(stack, 'Pipeline', { payloadSchema: PayloadSchema.fromObject(SCHEMA) });
    const template = Template.fromStack(stack);
    app.synth();
    expect(environmentOf(template, 'PipelineProcessorFunction').PAYLOAD_SCHEMA_FILE).toBe('payload-schema.json');
    const dir = processorCode(app, template);
    expect(JSON.parse(readFileSync(path.join(dir, 'payload-schema.json'), 'utf8'))).toEqual(SCHEMA);
    expect(existsSync(path.join(dir, 'index.js'))).toBe(true);

    const plain = synth({});
    expect(environmentOf(plain.template, 'PipelineProcessorFunction').PAYLOAD_SCHEMA_FILE).toBe('');
  });

  test('a schema of 64 KiB is taken: far above what the 4 KiB of Lambda environment variables hold', () => {
    const properties: Record<string, unknown> = {};
    for (let i = 0; JSON.stringify({ properties }).length < 64 * 1024 - 200; i++) properties[`f${i}`] = { type: 'number', maximum: i };
    const { template } = synth({ payloadSchema: PayloadSchema.fromObject({ properties }) });
    expect(environmentOf(template, 'PipelineProcessorFunction').PAYLOAD_SCHEMA_FILE).toBe('payload-schema.json');
  });

  test('Python and Java users pass a plain object or JSON text: both make the same schema', () => {
    expect(PayloadSchema.fromJson(JSON.stringify(SCHEMA)).json).toBe(PayloadSchema.fromObject(SCHEMA).json);
  });

  test.each([
    ['an invalid schema, at synth, naming the prop', () => synth({ payloadSchema: PayloadSchema.fromObject({ type: 'numbr' }) }),
      /^SensorIngestPipelineProps\.payloadSchema is not a valid JSON Schema \(draft 2020-12\): schema is invalid: data\/type must be equal to one of the allowed values/],
    ['a bound that is not a number', () => synth({ payloadSchema: PayloadSchema.fromJson('{"properties": {"value": {"maximum": "125"}}}') }),
      /SensorIngestPipelineProps\.payloadSchema is not a valid JSON Schema .*maximum must be number/],
    ['a schema over 64 KiB', () => synth({ payloadSchema: PayloadSchema.fromObject({ description: 'x'.repeat(64 * 1024) }) }),
      /^SensorIngestPipelineProps\.payloadSchema must be at most 65,536 bytes of JSON, got 65,554$/],
    ['text that is not JSON', () => PayloadSchema.fromJson('{"type": '), /^PayloadSchema\.fromJson: the text is not JSON/],
  ])('%s is refused', (_what, make, error) => {
    expect(make).toThrow(error);
  });
});
