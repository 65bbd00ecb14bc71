import { Token } from 'aws-cdk-lib';
import { defaultOf, PAYLOAD_SETTINGS } from './handler-contract';
import { validateNonEmpty } from './validation';
import { PayloadMapping } from '../payload-mapping';

/** Every field of a payload mapping, defaults filled in from the contract. */
export type FullPayloadMapping = Required<PayloadMapping>;

export function withDefaults(mapping: PayloadMapping = {}): FullPayloadMapping {
  return {
    sensorIdField: mapping.sensorIdField ?? defaultOf(PAYLOAD_SETTINGS.sensorIdField),
    timestampField: mapping.timestampField ?? defaultOf(PAYLOAD_SETTINGS.timestampField),
    valueField: mapping.valueField ?? defaultOf(PAYLOAD_SETTINGS.valueField),
    measurementFields: mapping.measurementFields ?? defaultOf(PAYLOAD_SETTINGS.measurementFields),
    measurementSeparator: mapping.measurementSeparator ?? defaultOf(PAYLOAD_SETTINGS.measurementSeparator),
    readingsField: mapping.readingsField ?? defaultOf(PAYLOAD_SETTINGS.readingsField),
    acceptArrays: mapping.acceptArrays ?? defaultOf(PAYLOAD_SETTINGS.acceptArrays),
    aggregated: mapping.aggregated ?? defaultOf(PAYLOAD_SETTINGS.aggregated),
  };
}

/** Validates a mapping, naming the prop as `<prop>.<field>`. */
export function validatePayloadMapping(prop: string, mapping: PayloadMapping = {}): void {
  for (const field of ['sensorIdField', 'timestampField', 'valueField', 'measurementSeparator'] as const) {
    validateNonEmpty(`${prop}.${field}`, mapping[field]);
  }
  for (const field of mapping.measurementFields ?? []) {
    if (Token.isUnresolved(field)) continue;
    // The handler reads the list from one comma-separated variable.
    if (field.trim().length === 0 || field.includes(',')) {
      throw new Error(`${prop}.measurementFields must hold non-empty names without commas, got "${field}"`);
    }
  }
  validateNonEmpty(`${prop}.readingsField`, mapping.readingsField);
  const readings = mapping.readingsField;
  if (readings !== undefined && !Token.isUnresolved(readings)) {
    // The batch's array cannot also be a field of each reading.
    const full = withDefaults(mapping);
    const clash = [full.sensorIdField, full.timestampField, full.valueField, ...full.measurementFields].includes(readings);
    if (clash) {
      throw new Error(`${prop}.readingsField must differ from the fields a reading is read from (sensor id, timestamp, value, measurements), got "${readings}"`);
    }
  }
}
