/**
 * The sensor id as a CloudWatch dimension value. CloudWatch takes ASCII only,
 * no control characters, 1 to 1,024 characters (API Reference, Dimension),
 * while a sensor id may be any Unicode: `capteur-é` is a valid table key but
 * no dimension value as sent. Dependency-free: the test page encodes the id
 * the same way to find a sensor's metric.
 */
import { CLOUDWATCH } from '../private/service-limits';

// `%` is encoded too, so that two ids never share a dimension value.
const NEEDS_ENCODING = /[%\u0000-\u001f\u007f-\uffff]/;
const ENCODED = /[%\u0000-\u001f\u007f]|[^\u0000-\u007f]+/g;
const NOT_WHITESPACE = /[^\t\n\v\f\r ]/;
const utf8 = new TextEncoder();

function percent(text: string): string {
  let out = '';
  for (const byte of utf8.encode(text)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * The dimension value of a sensor id: the id itself when CloudWatch takes it,
 * else the id with `%`, ASCII control characters and every non-ASCII
 * character percent-encoded as UTF-8 bytes (`capteur-é` is `capteur-%C3%A9`).
 * Undefined when even that is no dimension value: over 1,024 characters, or
 * blank.
 */
export function metricDimension(sensorId: string): string | undefined {
  const value = NEEDS_ENCODING.test(sensorId) ? sensorId.replace(ENCODED, percent) : sensorId;
  return value.length > 0 && value.length <= CLOUDWATCH.maxDimensionValueLength && NOT_WHITESPACE.test(value) ? value : undefined;
}
