/**
 * How a device payload maps to readings. The defaults read
 * `{"sensorid": "s1", "value": 21.5, "timestamp": "2024-01-01T00:00:00Z"}`.
 *
 * It is a setting of the pipeline: the processor reads readings with it, the
 * archiver partitions by its timestamp field, and the query function accepts
 * the sensor ids it produces.
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
}
