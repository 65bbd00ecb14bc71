/**
 * The sensor id as a CloudWatch dimension value, as the processor sends it:
 * the page finds a sensor's metric with it. The local package's own copy of
 * the construct library's rule (src/handlers/metric-dimension.ts); a property
 * test holds the two equal.
 */

/** CloudWatch's longest dimension value (API Reference, Dimension). */
const MAX_DIMENSION_VALUE_LENGTH = 1_024;

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
  return value.length > 0 && value.length <= MAX_DIMENSION_VALUE_LENGTH && NOT_WHITESPACE.test(value) ? value : undefined;
}
