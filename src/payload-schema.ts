import { compilePayloadSchema, MAX_PAYLOAD_SCHEMA_BYTES } from './private/payload-schema';

/**
 * A JSON Schema (draft 2020-12) that every reading must meet, beside the
 * payload mapping's own checks: bounds on a value, required fields, enums,
 * patterns for ids. A reading it refuses goes to the dead-letter destination,
 * the reason naming the JSON pointer and the keyword that failed.
 *
 * The schema applies to each reading as an object: a record's JSON object,
 * an element of an array, or an element of a gateway's batch with the
 * batch's shared fields under it. Schemas of up to 64 KiB are taken; the
 * processor reads its schema from a file beside its code, not from its
 * environment (Lambda's environment variables hold 4 KiB in all).
 *
 * @example
 * import { PayloadSchema, SensorIngestPipeline } from 'cdk-iot-ingest';
 *
 * new SensorIngestPipeline(this, 'Pipeline', {
 *   payloadSchema: PayloadSchema.fromObject({
 *     type: 'object',
 *     required: ['sensorid', 'value', 'timestamp'],
 *     properties: {
 *       sensorid: { type: 'string', pattern: "^[a-z0-9-]{1,64}$" },
 *       value: { type: 'number', minimum: -40, maximum: 125 },
 *     },
 *   }),
 * });
 */
export class PayloadSchema {
  /**
   * A schema given as an object (a dict in Python, a Map in Java).
   *
   * @param schema the JSON Schema
   */
  public static fromObject(schema: { [key: string]: any }): PayloadSchema {
    return new PayloadSchema(JSON.stringify(schema));
  }

  /**
   * A schema given as JSON text.
   *
   * @param json the JSON Schema as text
   */
  public static fromJson(json: string): PayloadSchema {
    try {
      JSON.parse(json);
    } catch (err) {
      throw new Error(`PayloadSchema.fromJson: the text is not JSON (${(err as Error).message})`);
    }
    return new PayloadSchema(json);
  }

  /** The schema as JSON text, as the processor reads it. */
  public readonly json: string;

  private constructor(json: string) {
    this.json = json;
  }

  /**
   * Checks the schema, naming `prop` when it is too large or not a valid
   * draft 2020-12 schema.
   *
   * @internal
   */
  public _validate(prop: string): void {
    const bytes = Buffer.byteLength(this.json, 'utf8');
    if (bytes > MAX_PAYLOAD_SCHEMA_BYTES) {
      throw new Error(`${prop} must be at most ${MAX_PAYLOAD_SCHEMA_BYTES.toLocaleString('en-US')} bytes of JSON, got ${bytes.toLocaleString('en-US')}`);
    }
    try {
      compilePayloadSchema(JSON.parse(this.json));
    } catch (err) {
      throw new Error(`${prop} is not a valid JSON Schema (draft 2020-12): ${(err as Error).message}`);
    }
  }
}
