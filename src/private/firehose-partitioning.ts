/**
 * The Firehose archiver's dynamic partitioning: a JQ 1.6 program that reads
 * the hour of event time (and the sensor) from a payload exactly as the
 * handlers read it, so that both archivers put a record in the same
 * `year=/month=/day=/hour=` partition. Pure text; nothing here creates a
 * resource.
 */

/** The partition keys the program returns, in the order of the S3 prefix. */
export const TIME_PARTITION_KEYS = ['year', 'month', 'day', 'hour'] as const;
export const SENSOR_PARTITION_KEY = 'sensor';

/** Sensor partitions longer than this (after percent-encoding) are refused: S3 keys hold at most 1,024 bytes. */
export const MAX_SENSOR_PARTITION_LENGTH = 512;

// The whitespace JavaScript's String.prototype.trim removes, which the
// handlers apply to a time string before reading it.
const JS_WHITESPACE = '[\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]';

// The handlers' ISO-8601 pattern (src/handlers/reading.ts): date and time
// required; seconds, fraction and zone optional; a time without a zone is UTC.
const ISO_8601 = '^(?<y>[0-9]{4})-(?<mo>[0-9]{2})-(?<d>[0-9]{2})[Tt ](?<h>[0-9]{2}):(?<mi>[0-9]{2})'
  + '(?::(?<s>[0-9]{2})(?:[.,](?<f>[0-9]{1,9}))?)?(?<z>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?$';

/** The latest time the handlers accept: 9999-12-31T23:59:59.999Z, in epoch milliseconds. */
const MAX_TIME_MS = 253402300799999;

/**
 * Calendar arithmetic instead of jq's strptime/mktime: those depend on the C
 * library of the machine running jq (mktime fails on -1, some reject years
 * before 1970), and Firehose does not say which one it runs.
 */
const DEFINITIONS = [
  'def leap($y): ($y % 4 == 0 and $y % 100 != 0) or $y % 400 == 0;',
  'def dim($y; $m): [31, (if leap($y) then 29 else 28 end), 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][$m - 1];',
  'def days($y; $m; $d): (if $m <= 2 then $y - 1 else $y end) as $yy | ($yy / 400 | floor) as $era | ($yy - $era * 400) as $yoe'
  + ' | (if $m > 2 then $m - 3 else $m + 9 end) as $mp | (((153 * $mp + 2) / 5 | floor) + $d - 1) as $doy'
  + ' | $era * 146097 + $yoe * 365 + ($yoe / 4 | floor) - ($yoe / 100 | floor) + $doy - 719468;',
  'def civil($n): ($n + 719468) as $z | ($z / 146097 | floor) as $era | ($z - $era * 146097) as $doe'
  + ' | (($doe - ($doe / 1460 | floor) + ($doe / 36524 | floor) - ($doe / 146096 | floor)) / 365 | floor) as $yoe'
  + ' | ($doe - (365 * $yoe + ($yoe / 4 | floor) - ($yoe / 100 | floor))) as $doy | ((5 * $doy + 2) / 153 | floor) as $mp'
  + ' | (if $mp < 10 then $mp + 3 else $mp - 9 end) as $m'
  + ' | {y: ($yoe + $era * 400 + (if $m <= 2 then 1 else 0 end)), m: $m, d: ($doy - ((153 * $mp + 2) / 5 | floor) + 1)};',
  'def pad2: tostring | if length < 2 then "0" + . else . end;',
  'def zonems($z): if $z == "Z" or $z == "z" then 0 else ($z[1:] | sub(":"; "")) as $g'
  + ' | ($g[0:2] | tonumber) as $hh | (if ($g | length) > 2 then ($g[2:] | tonumber) else 0 end) as $mm'
  + ' | if $hh > 23 or $mm > 59 then error("the time zone is out of range")'
  + ' else (if $z[0:1] == "-" then -1 else 1 end) * ($hh * 60 + $mm) * 60000 end end;',
  `def isoms: [sub("^${JS_WHITESPACE}+"; "") | sub("${JS_WHITESPACE}+$"; "") | capture("${ISO_8601}")]`
  + ' | if length == 0 then error("the time is neither ISO-8601 nor epoch seconds or milliseconds") else .[0] end'
  + ' | (.y | tonumber) as $y | (.mo | tonumber) as $mo | (.d | tonumber) as $d | (.h | tonumber) as $h | (.mi | tonumber) as $mi'
  + ' | ((.s // "0") | tonumber) as $s | (((.f // "") + "000")[0:3] | tonumber) as $f'
  + ' | if $mo < 1 or $mo > 12 or $d < 1 or $d > dim($y; $mo) or $h > 23 or $mi > 59 or $s > 59 then error("no such date or time")'
  + ' else ((days($y; $mo; $d) * 86400 + $h * 3600 + $mi * 60 + $s) * 1000 + $f - zonems(.z // "Z")) end;',
  // Epoch numbers below 1e11 are seconds (until the year 5138), above it milliseconds.
  'def numms: if . < 0 then error("the time is before 1970") else (if . < 1e11 then . * 1000 else . end | floor) end;',
];

/** A JQ string literal of `text` (JSON's escapes are JQ's). */
function jqString(text: string): string {
  return JSON.stringify(text);
}

/**
 * The JQ 1.6 program of Firehose's metadata extraction: from a JSON payload,
 * `{"year", "month", "day", "hour"}` of its event time in UTC (and `"sensor"`,
 * its sensor id percent-encoded, when `bySensor`), or an error, which sends
 * the record to the error output prefix. It reads the time field as the
 * handlers do: ISO-8601 (any zone, or none for UTC) or epoch seconds or
 * milliseconds, from 1970 to 9999. A JSON array of readings is read by its
 * first reading.
 */
export function partitionQuery(timestampField: string, sensorIdField: string, bySensor: boolean): string {
  // A JSON array of readings is kept whole, in the partition of its first
  // reading, as the S3 archiver does (a gateway's batch by its own fields).
  const time = '(if type == "array" then .[0] else . end)'
    + ` | .[${jqString(timestampField)}] as $t`
    + ' | (if ($t | type) == "number" then ($t | numms)'
    + ' elif ($t | type) == "string" then ($t | isoms)'
    + ` else error(${jqString(`the field ${timestampField} holds no time`)}) end) as $ms`
    + ` | if $ms < 0 or $ms > ${MAX_TIME_MS} then error("the time is outside 1970 to 9999") else . end`
    + ' | ($ms / 86400000 | floor) as $days | civil($days) as $c';
  const sensor = bySensor
    ? ` | (.[${jqString(sensorIdField)}] | if type == "string" and length > 0 then . elif type == "number" then tostring`
      + ` else error(${jqString(`the field ${sensorIdField} holds no sensor id`)}) end | @uri) as $sensor`
      + ` | if ($sensor | length) > ${MAX_SENSOR_PARTITION_LENGTH} then error("the sensor id is too long for an S3 prefix") else . end`
    : '';
  const keys = [
    'year: ($c.y | tostring)',
    'month: ($c.m | pad2)',
    'day: ($c.d | pad2)',
    'hour: (($ms - $days * 86400000) / 3600000 | floor | pad2)',
    ...(bySensor ? [`${SENSOR_PARTITION_KEY}: $sensor`] : []),
  ];
  return `${DEFINITIONS.join(' ')} ${time}${sensor} | {${keys.join(', ')}}`;
}

/** The partition keys of the program, in prefix order. */
export function partitionKeys(bySensor: boolean): string[] {
  return [...TIME_PARTITION_KEYS, ...(bySensor ? [SENSOR_PARTITION_KEY] : [])];
}

/**
 * The S3 prefix of archive data: `<prefix>year=!{...}/month=.../day=.../hour=.../[sensor=.../]`,
 * Hive-style, as the S3 archiver writes it, so that Athena reads both alike.
 */
export function dataPrefix(prefix: string, bySensor: boolean): string {
  return prefix + partitionKeys(bySensor).map((key) => `${key}=!{partitionKeyFromQuery:${key}}/`).join('');
}

/** The S3 prefix of what Firehose could not partition, convert or deliver, by error type and day of delivery. */
export function errorPrefix(prefix: string): string {
  return `${prefix}!{firehose:error-output-type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/`;
}
