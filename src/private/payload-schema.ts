/**
 * The user's JSON Schema of a reading, compiled the same way at synth (to
 * refuse an invalid schema with the prop named) and in the processor (to
 * judge each reading). Imported by both sides, like the handler contract.
 *
 * Ajv, draft 2020-12. `format` is an annotation, as the draft makes it by
 * default, and unknown keywords are allowed (strict mode off), so that a
 * schema written for another validator compiles as the draft reads it.
 */
import Ajv2020 from 'ajv/dist/2020';

/** The largest schema taken, in bytes of its JSON: far above the 4 KiB of all Lambda environment variables, hence a file beside the code. */
export const MAX_PAYLOAD_SCHEMA_BYTES = 64 * 1_024;

/** The name of the schema's file beside the processor's code, in its asset. */
export const PAYLOAD_SCHEMA_FILE_NAME = 'payload-schema.json';

/** The longest reason a schema failure gives: a pointer into a reading is short, a schema path need not be. */
const MAX_REASON_LENGTH = 1_000;

/** Judges one reading: undefined when the schema accepts it, else the reason, naming the JSON pointer and the keyword that failed. */
export type ReadingCheck = (reading: unknown) => string | undefined;

/** Compiles a schema; throws with Ajv's own words when it is not a valid draft 2020-12 schema. */
export function compilePayloadSchema(schema: unknown): ReadingCheck {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new Error(`a JSON Schema is an object (or true or false), got ${Array.isArray(schema) ? 'an array' : typeof schema}`);
  }
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  const validate = ajv.compile(schema);
  return (reading) => {
    if (validate(reading)) return undefined;
    const e = validate.errors![0];
    const reason = `payload schema: ${e.instancePath === '' ? '(the reading)' : e.instancePath} ${e.message ?? 'is invalid'} (keyword "${e.keyword}" at ${e.schemaPath})`;
    return reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH)}...` : reason;
  };
}
