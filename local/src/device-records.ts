/** Synthetic device records: valid readings in every shape devices send, and malformed ones of known kinds. */

/**
 * A seeded PRNG in [0, 1): the Park-Miller "minimal standard" generator
 * (exact in doubles, so no bit operations), enough for repeatable test data and faults.
 */
export function seededRandom(seed: number): () => number {
  const M = 2_147_483_647;
  let state = Math.abs(Math.floor(seed)) % M || 1;
  return () => {
    state = (state * 48_271) % M;
    return (state - 1) / (M - 1);
  };
}

export type MalformedKind = 'bad JSON' | 'missing sensorid' | 'non-numeric value' | 'bad timestamp';
export const MALFORMED_KINDS: readonly MalformedKind[] = ['bad JSON', 'missing sensorid', 'non-numeric value', 'bad timestamp'];

/** The reason the processor gives for each kind (a fragment of it). */
export const MALFORMED_REASONS: Record<MalformedKind, string> = {
  'bad JSON': 'payload is not valid JSON',
  'missing sensorid': 'missing field "sensorid"',
  'non-numeric value': 'invalid field "value"',
  'bad timestamp': 'invalid field "timestamp"',
};

/** The fields of a payload: the pipeline's payload mapping. */
export interface PayloadFields {
  readonly sensorId: string;
  readonly timestamp: string;
  /** The value's field, when there are no measurement fields. */
  readonly value: string;
  /** A reading per field, each stored as `<sensor id><separator><field>`; none: one reading, of `value`. */
  readonly measurements: readonly string[];
  readonly separator: string;
}

/** The pipeline's default payload mapping: {"sensorid", "timestamp", "value"}. */
export const DEFAULT_PAYLOAD_FIELDS: PayloadFields = { sensorId: 'sensorid', timestamp: 'timestamp', value: 'value', measurements: [], separator: '#' };

/** A valid payload in the mapping's fields: each measurement gets the value plus its position, so that they differ. */
export function validPayload(fields: PayloadFields, sensorId: string, iso: string, value: number): Record<string, unknown> {
  const payload: Record<string, unknown> = { [fields.sensorId]: sensorId, [fields.timestamp]: iso };
  if (fields.measurements.length === 0) payload[fields.value] = value;
  fields.measurements.forEach((m, i) => (payload[m] = Math.round((value + i) * 100) / 100));
  return payload;
}

/** The payload of a malformed record of one kind, for a sensor, time and value (in the default mapping's fields unless told others). */
export function malformedPayload(
  kind: MalformedKind, sensorId: string, iso: string, value: number, fields: PayloadFields = DEFAULT_PAYLOAD_FIELDS,
): string {
  const valid = validPayload(fields, sensorId, iso, value);
  const valueField = fields.measurements[0] ?? fields.value;
  switch (kind) {
    case 'bad JSON': return JSON.stringify(valid).slice(0, -1);
    case 'missing sensorid': {
      delete valid[fields.sensorId];
      return JSON.stringify(valid);
    }
    case 'non-numeric value': return JSON.stringify({ ...valid, [valueField]: 'n/a' });
    case 'bad timestamp': return JSON.stringify({ ...valid, [fields.timestamp]: '2024-02-30T10:00:00Z' });
  }
}

export interface DeviceRecord {
  /** The payload as the device sends it. */
  readonly data: string;
  readonly partitionKey: string;
  /** What the table must hold for it; absent for a malformed record. */
  readonly expected?: { readonly sensorId: string; readonly timestamp: string; readonly value: number };
  readonly malformed?: MalformedKind;
}

export interface ReadingSetOptions {
  readonly count: number;
  /** Every `malformedEvery`-th record is malformed (100 = 1 %); 0 for none. */
  readonly malformedEvery: number;
  readonly sensors: number;
  readonly seed: number;
  /** Epoch milliseconds of the first reading. */
  readonly start?: number;
  /** Milliseconds between readings. */
  readonly stepMs?: number;
}

/**
 * Device records with distinct table keys: each reading has its own timestamp.
 * Timestamps and values come in the shapes devices send (ISO-8601 with or
 * without an offset, epoch seconds or milliseconds, numbers or numeric
 * strings); malformed records rotate through the four kinds.
 */
export function makeDeviceRecords(options: ReadingSetOptions): DeviceRecord[] {
  const random = seededRandom(options.seed);
  const start = options.start ?? Date.UTC(2024, 4, 14, 9, 0, 0);
  const step = options.stepMs ?? 1_000;
  const sensorIds = Array.from({ length: options.sensors }, (_, i) => (i % 10 === 9 ? `capteur-température-${i}` : `sensor-${String(i).padStart(3, '0')}`));
  const out: DeviceRecord[] = [];
  let malformed = 0;
  for (let i = 0; i < options.count; i++) {
    const sensorId = sensorIds[i % sensorIds.length];
    const millis = start + i * step + Math.floor(random() * step);
    const value = Math.round((random() * 200 - 50) * 100) / 100;
    if (options.malformedEvery > 0 && i % options.malformedEvery === options.malformedEvery - 1) {
      const kind = MALFORMED_KINDS[malformed++ % MALFORMED_KINDS.length];
      const data = malformedPayload(kind, sensorId, new Date(millis).toISOString(), value);
      out.push({ data, partitionKey: sensorId, malformed: kind });
      continue;
    }
    let timestamp: unknown;
    switch (i % 4) {
      case 0: timestamp = new Date(millis).toISOString(); break;
      case 1: timestamp = millis; break;
      case 2: timestamp = new Date(millis + 2 * 3_600_000).toISOString().replace('Z', '+02:00'); break;
      default: timestamp = new Date(millis).toISOString().replace('T', ' ').replace('Z', ''); break;
    }
    const payload = { sensorid: sensorId, timestamp, value: i % 3 === 0 ? String(value) : value };
    out.push({ data: JSON.stringify(payload), partitionKey: sensorId, expected: { sensorId, timestamp: new Date(millis).toISOString(), value } });
  }
  return out;
}

