import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import * as fc from 'fast-check';
import { b64json } from './helpers';
import { depsFromEnv } from '../../src/handlers/processor.lambda';
import { decodeRecord, DEFAULT_MAPPING } from '../../src/handlers/reading';
import { compilePayloadSchema, MAX_PAYLOAD_SCHEMA_BYTES } from '../../src/private/payload-schema';

/** A realistic schema of a reading: ten fields, bounds, enums, patterns. */
export const TEN_FIELD_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['sensorid', 'value', 'timestamp', 'unit'],
  properties: {
    sensorid: { type: 'string', pattern: '^[a-z]+-[0-9]{3}$' },
    value: { type: 'number', minimum: -40, maximum: 125 },
    timestamp: { type: ['string', 'integer'] },
    unit: { enum: ['C', 'F', 'K'] },
    battery: { type: 'number', minimum: 0, maximum: 100 },
    rssi: { type: 'integer', minimum: -120, maximum: 0 },
    firmware: { type: 'string', pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$' },
    site: { type: 'string', minLength: 1, maxLength: 64 },
    status: { enum: ['ok', 'degraded', 'fault'] },
    sequence: { type: 'integer', minimum: 0 },
  },
};

const at = '2024-01-02T03:04:05Z';
const reading = (fields: Record<string, unknown>) => ({ sensorid: 'temp-001', value: 21.5, timestamp: at, unit: 'C', ...fields });

describe('the payload schema', () => {
  const check = compilePayloadSchema(TEN_FIELD_SCHEMA);
  const mapping = { ...DEFAULT_MAPPING, schema: check, acceptArrays: true, readingsField: 'readings' };

  test('an out-of-range reading is refused, the reason naming the JSON pointer and the keyword', () => {
    expect(decodeRecord(b64json(reading({ value: 130 })), mapping)).toEqual({
      ok: false, reason: 'payload schema: /value must be <= 125 (keyword "maximum" at #/properties/value/maximum)',
    });
    expect(decodeRecord(b64json(reading({ sensorid: 'Temp 1' })), mapping)).toMatchObject({ reason: expect.stringMatching(/^payload schema: \/sensorid must match pattern .* \(keyword "pattern"/) });
    expect(decodeRecord(b64json(reading({ unit: 'X' })), mapping)).toMatchObject({ reason: expect.stringMatching(/\/unit must be equal to one of the allowed values \(keyword "enum"/) });
    const { unit: _unit, ...noUnit } = reading({});
    expect(decodeRecord(b64json(noUnit), mapping)).toMatchObject({ reason: expect.stringMatching(/^payload schema: \(the reading\) must have required property 'unit' \(keyword "required"/) });
    expect(decodeRecord(b64json(reading({ battery: 99, rssi: -70, firmware: '1.2.3', status: 'ok', sequence: 7 })), mapping)).toMatchObject({ ok: true });
  });

  test('the mapping\'s own checks come first: a value that is not a number is refused as such', () => {
    expect(decodeRecord(b64json(reading({ value: 'n/a' })), mapping)).toMatchObject({ reason: expect.stringMatching(/^invalid field "value"/) });
  });

  test('each reading of a record of many alone; a batch\'s element with the shared fields under it', () => {
    expect(decodeRecord(b64json([reading({}), reading({ value: -41 }), reading({ unit: 'F' })]), mapping)).toMatchObject({
      readings: [{ value: 21.5 }, { value: 21.5 }],
      invalid: [{ index: 1, reason: 'payload schema: /value must be >= -40 (keyword "minimum" at #/properties/value/minimum)' }],
    });
    // unit is shared; the element's own unit wins; the readings field is not part of a reading
    const batch = { unit: 'C', timestamp: at, site: 'north', readings: [{ sensorid: 'temp-001', value: 1 }, { sensorid: 'temp-002', value: 2, unit: 'kelvin' }] };
    const closed = { ...mapping, schema: compilePayloadSchema({ ...TEN_FIELD_SCHEMA, additionalProperties: false }) };
    expect(decodeRecord(b64json(batch), closed)).toMatchObject({
      readings: [{ sensorId: 'temp-001' }],
      invalid: [{ index: 1, reason: expect.stringMatching(/^payload schema: \/unit /) }],
    });
  });

  test('property: the schema decides exactly the readings the mapping accepts', () => {
    // Hundredths: a double too small for DynamoDB would be refused by the mapping first.
    fc.assert(fc.property(fc.integer({ min: -10_000, max: 20_000 }).map((n) => n / 100), fc.constantFrom('C', 'F', 'X'), (value, unit) => {
      const result = decodeRecord(b64json(reading({ value, unit })), mapping);
      expect(result.ok).toBe(value >= -40 && value <= 125 && unit !== 'X');
    }));
  });

  test('an invalid schema is refused with the validator\'s words', () => {
    expect(() => compilePayloadSchema({ type: 'numbr' })).toThrow(/schema is invalid: data\/type must be equal to one of the allowed values/);
    expect(() => compilePayloadSchema({ minimum: 'ten' })).toThrow(/must be number/);
    expect(() => compilePayloadSchema([1])).toThrow('a JSON Schema is an object (or true or false), got an array');
  });

  test('a schema of 64 KiB compiles, and compiles fast enough for a cold start', () => {
    const properties: Record<string, unknown> = {};
    for (let i = 0; JSON.stringify(properties).length < MAX_PAYLOAD_SCHEMA_BYTES - 300; i++) {
      properties[`field_${i}`] = { type: 'number', minimum: -i, maximum: i * 10, description: `the ${i}th measurement` };
    }
    const schema = { type: 'object', properties };
    const bytes = Buffer.byteLength(JSON.stringify(schema));
    expect(bytes).toBeGreaterThan(MAX_PAYLOAD_SCHEMA_BYTES - 400);
    expect(bytes).toBeLessThanOrEqual(MAX_PAYLOAD_SCHEMA_BYTES);
    const started = performance.now();
    const big = compilePayloadSchema(schema);
    const took = performance.now() - started;
    expect(big({ field_3: 31 })).toBe('payload schema: /field_3 must be <= 30 (keyword "maximum" at #/properties/field_3/maximum)');
    // Measured at about 100-300 ms on this machine; the bound is for a regression, not the figure.
    expect(took).toBeLessThan(3_000);
  });

  test('the processor reads its schema from the file its setting names, at the cold start', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'schema-'));
    const file = path.join(dir, 'payload-schema.json');
    writeFileSync(file, JSON.stringify(TEN_FIELD_SCHEMA));
    const env = { TABLE_NAME: 't', DEAD_LETTER_DESTINATION: 's3://b/p/', AWS_REGION: 'eu-west-1' };
    const deps = depsFromEnv({ ...env, PAYLOAD_SCHEMA_FILE: file });
    expect(decodeRecord(b64json(reading({ value: 130 })), deps.mapping)).toMatchObject({ ok: false, reason: expect.stringMatching(/^payload schema: \/value/) });
    expect(depsFromEnv(env).mapping.schema).toBeUndefined();
    expect(() => depsFromEnv({ ...env, PAYLOAD_SCHEMA_FILE: path.join(dir, 'missing.json') })).toThrow(/ENOENT/);
  });
});
