/**
 * How a device payload maps to readings. The defaults read
 * `{"sensorid": "s1", "value": 21.5, "timestamp": "2024-01-01T00:00:00Z"}`.
 *
 * It is a setting of the pipeline: the processor reads readings with it, the
 * archiver partitions by its timestamp field, and the query function accepts
 * the sensor ids it produces. By default a record is one JSON object, one
 * reading; `acceptArrays`, `readingsField` and `aggregated` let one record
 * carry many (a JSON array, a gateway's batch, a KPL aggregate).
 */
export interface PayloadMapping {
  /**
   * The field holding the sensor (or device) id.
   *
   * @default "sensorid"
   */
  readonly sensorIdField?: string;

  /**
   * The field holding the time of the reading: ISO-8601, or epoch seconds or
   * milliseconds.
   *
   * @default "timestamp"
   */
  readonly timestampField?: string;

  /**
   * The field holding the value: a number or a numeric string. Unused when
   * `measurementFields` is set.
   *
   * @default "value"
   */
  readonly valueField?: string;

  /**
   * For records carrying several measurements: each listed field present in
   * a record becomes one reading, stored under the sensor id
   * `<id><measurementSeparator><field>`. For example `["temperature", "humidity"]`
   * turns `{"deviceId": "d1", "ts": 1700000000, "temperature": 21.5, "humidity": 40}`
   * into readings of `d1#temperature` and `d1#humidity`.
   *
   * @default - one reading per record, from `valueField`
   */
  readonly measurementFields?: string[];

  /**
   * What joins the id and the measurement name.
   *
   * @default "#"
   */
  readonly measurementSeparator?: string;

  /**
   * The field of a gateway's batch that holds its readings. A record such as
   * `{"gateway": "g1", "timestamp": 1700000000, "readings": [{"sensorid": "s1", "value": 1}, {"sensorid": "s2", "value": 2}]}`
   * is then one reading per element of the array; the batch's other fields
   * (`gateway`, `timestamp`) apply to each element that does not have its
   * own. A record without the field is one reading, as usual. Each reading
   * is judged alone: an invalid one is dead-lettered with its index, the
   * others are stored.
   *
   * @default - no gateway batches: each JSON object is one reading
   */
  readonly readingsField?: string;

  /**
   * Accept a record that is a JSON array of readings,
   * `[{"sensorid": "s1", ...}, {"sensorid": "s2", ...}]`: one reading per
   * element, each judged alone (an invalid one is dead-lettered with its
   * index, the others are stored). Otherwise an array is an invalid record.
   *
   * @default false
   */
  readonly acceptArrays?: boolean;

  /**
   * Deaggregate records aggregated by the Kinesis Producer Library (KPL):
   * each user record of an aggregate is read as a record of its own (one
   * reading, or an array or a batch where those are accepted), and an
   * invalid one is dead-lettered with its sub-sequence number. A record that
   * is not an aggregate is read as usual. Otherwise an aggregate, which is
   * not UTF-8, is an invalid record.
   *
   * @default false
   */
  readonly aggregated?: boolean;
}
