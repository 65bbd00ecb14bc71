/**
 * What can be checked of an AWS IoT rule's SQL (version 2016-03-23) before
 * deployment: its shape, its topic filter, and that its output carries the
 * fields the pipeline reads. AWS IoT parses the rest when the rule is created.
 */

export interface TopicRuleSql {
  /** The SELECT list, as written. */
  readonly select: string;
  /** The MQTT topic filter of the FROM clause. */
  readonly topicFilter: string;
  /** The WHERE condition, when there is one. */
  readonly where?: string;
}

const SHAPE = /^\s*SELECT\s+([\s\S]+?)\s+FROM\s+'([^']*)'(?:\s+WHERE\s+([\s\S]+?))?\s*$/i;

/** AWS IoT's limit on a topic filter, in UTF-8 bytes. */
const MAX_TOPIC_BYTES = 256;

/** Parses `SELECT <list> FROM '<topic filter>' [WHERE <condition>]`; throws, naming `prop`, where it cannot be a rule's SQL. */
export function parseTopicRuleSql(prop: string, sql: string): TopicRuleSql {
  const match = SHAPE.exec(sql);
  if (!match) {
    throw new Error(`${prop} must be "SELECT <fields> FROM '<topic filter>' [WHERE <condition>]", got "${sql}"`);
  }
  const [, select, topicFilter, where] = match;
  validateTopicFilter(prop, topicFilter);
  return { select, topicFilter, where };
}

/** MQTT topic filter rules: "+" is a whole level, "#" the whole last level. */
export function validateTopicFilter(prop: string, filter: string): void {
  const fail = (why: string) => new Error(`${prop}: the topic filter '${filter}' ${why}`);
  if (filter.length === 0) throw fail('is empty');
  if (Buffer.byteLength(filter, 'utf8') > MAX_TOPIC_BYTES) throw fail(`is longer than ${MAX_TOPIC_BYTES} bytes`);
  if (filter.includes('\u0000')) throw fail('holds a NUL character');
  const levels = filter.split('/');
  levels.forEach((level, i) => {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) throw fail('may hold "#" only as its whole last level');
    if (level.includes('+') && level !== '+') throw fail('may hold "+" only as a whole level');
  });
}

/** Whether the SELECT list names `field` (as a field, a path or an alias), or selects everything with "*". */
export function selectCarries(select: string, field: string): boolean {
  if (/(^|[\s,.])\*(\s*,|\s*$)/.test(select)) return true;
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_])${escaped}([^A-Za-z0-9_]|$)`).test(select);
}

/** A field name that AWS IoT's substitution templates read as it is: `${name}`. */
export function isPlainIdentifier(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}
