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

/** One item of a SELECT list, as AWS IoT puts it in the rule's output. */
export interface SelectItem {
  /** The item as written. */
  readonly text: string;
  /** The item without its alias. */
  readonly expression: string;
  /**
   * The output field the item makes: its alias, or the last part of a plain
   * path (`state.reported.temp` gives `temp`); undefined for `*` items and
   * for expressions without an alias.
   */
  readonly name?: string;
  /** For `*` and `<expression>.*`: whose fields the item copies ("" for the message itself). */
  readonly starOf?: string;
}

const IDENTIFIER = '[A-Za-z_][A-Za-z0-9_]*';
const PLAIN_PATH = new RegExp(`^${IDENTIFIER}(\\.${IDENTIFIER})*$`);

/**
 * The text with what is quoted or inside brackets blanked out (same length,
 * brackets kept), so that commas, `AS` and `.*` are found only at the top
 * level of an item.
 */
function topLevel(text: string): string {
  let out = '';
  let depth = 0;
  let quote: string | undefined;
  for (const c of text) {
    if (quote) {
      out += c === quote ? c : ' ';
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"' || c === '`') {
      quote = c;
      out += c;
    } else if ('([{'.includes(c)) {
      out += depth === 0 ? c : ' ';
      depth++;
    } else if (')]}'.includes(c)) {
      depth = Math.max(0, depth - 1);
      out += depth === 0 ? c : ' ';
    } else {
      out += depth > 0 ? ' ' : c;
    }
  }
  return out;
}

/** The items of a SELECT list, split at its top-level commas. */
export function selectItems(select: string): SelectItem[] {
  const masked = topLevel(select);
  const items: SelectItem[] = [];
  let from = 0;
  for (let i = 0; i <= masked.length; i++) {
    if (i < masked.length && masked[i] !== ',') continue;
    items.push(selectItem(select.slice(from, i), masked.slice(from, i)));
    from = i + 1;
  }
  return items;
}

function selectItem(raw: string, masked: string): SelectItem {
  const text = raw.trim();
  const lead = raw.length - raw.trimStart().length;
  const top = masked.slice(lead, lead + text.length);
  const alias = new RegExp(`\\s+AS\\s+(${IDENTIFIER})$`, 'i').exec(top);
  if (alias) return { text, expression: text.slice(0, alias.index).trim(), name: alias[1] };
  if (top === '*') return { text, expression: text, starOf: '' };
  if (top.endsWith('.*')) return { text, expression: text, starOf: text.slice(0, -2).trim() };
  if (PLAIN_PATH.test(text)) return { text, expression: text, name: text.split('.').pop() };
  return { text, expression: text };
}

/** Whether the SELECT list names `field` (as a field, a path's last part or an alias), or selects everything of an object with "*". */
export function selectCarries(select: string, field: string): boolean {
  return selectItems(select).some((item) => item.starOf !== undefined || item.name === field);
}

/** A field name that AWS IoT's substitution templates read as it is: `${name}`. */
export function isPlainIdentifier(name: string): boolean {
  return new RegExp(`^${IDENTIFIER}$`).test(name);
}

/**
 * Functions whose value differs from one evaluation to the next (or that
 * call another service each time): evaluated again for an action's
 * substitution template, they would not give what the SELECT gave.
 */
const NOT_REPEATABLE = ['newuuid', 'rand', 'timestamp', 'aws_lambda', 'get_dynamodb', 'get_thing_shadow', 'get_secret',
  'get_registry_data', 'machinelearning_predict'];

/** Why an expression cannot be evaluated again in a substitution template to give the value the SELECT gave, or undefined. */
function templateProblem(expression: string): string | undefined {
  if (/[{}]/.test(expression)) return 'it holds a brace, and a substitution template ends at its first "}"';
  const code = expression.replace(/'(?:[^']|'')*'|"[^"]*"|`[^`]*`/g, (literal) => ' '.repeat(literal.length));
  if (/\bSELECT\b/i.test(code)) return 'it is a nested SELECT';
  const called = [...code.matchAll(new RegExp(`(${IDENTIFIER})\\s*\\(`, 'g'))].map((m) => m[1].toLowerCase());
  const changing = called.find((f) => NOT_REPEATABLE.includes(f));
  if (changing) return `${changing}() gives another value each time it is evaluated`;
  return undefined;
}

/** The partition key template that reads the sensor id from the incoming message, or why there is none. */
export interface DerivedPartitionKey {
  readonly template?: string;
  readonly problem?: string;
}

/**
 * The substitution template giving the value the SELECT list puts in the
 * output's `field`. AWS IoT evaluates an action's substitution templates
 * against the incoming message, apart from the SELECT: they cannot see its
 * aliases, nor fields that `<path>.*` lifted out of a nested object. So the
 * template is the expression the field comes from: `${topic(2)}` for
 * `topic(2) AS sensorid`, `${state.reported.sensorid}` for
 * `state.reported.*`, `${sensorid}` for `*` or `sensorid`. Items count in
 * their order, a later one overwriting the field of an earlier one (`*,
 * topic(2) AS sensorid` keys by topic).
 */
export function partitionKeyFor(select: string, field: string): DerivedPartitionKey {
  const items = selectItems(select);
  const named = items.filter((item) => item.name === field);
  if (named.length > 1) return { problem: `the SELECT list names "${field}" ${named.length} times` };
  if (named.length === 1) {
    const { expression, text } = named[0];
    // A "*" item after it may overwrite the field, or not, depending on the message.
    const later = items.slice(items.indexOf(named[0]) + 1).filter((item) => item.starOf !== undefined);
    if (later.length > 0) {
      return {
        problem: `the sensor id field "${field}" is "${text}", unless ${later.map((s) => `"${s.text}"`).join(' or ')} after it carries one too, `
          + 'which is known only when a message arrives',
      };
    }
    const why = templateProblem(expression);
    if (why) return { problem: `the sensor id field "${field}" is "${text}", which a substitution template cannot give again: ${why}` };
    return { template: `\${${expression}}` };
  }
  const stars = items.filter((item) => item.starOf !== undefined);
  if (stars.length === 0) return { problem: `the SELECT list does not carry the sensor id field "${field}"` };
  if (stars.length > 1) {
    return {
      problem: `the sensor id field "${field}" may come from any of ${stars.map((s) => `"${s.text}"`).join(', ')}, `
        + 'and which one carries it is known only when a message arrives',
    };
  }
  if (!isPlainIdentifier(field)) {
    return { problem: `the payload mapping's sensor id field "${field}" cannot be read by name in an AWS IoT substitution template` };
  }
  const source = stars[0].starOf!;
  if (source === '') return { template: `\${${field}}` };
  const why = templateProblem(source);
  if (why) return { problem: `the sensor id field "${field}" comes from "${stars[0].text}", which a substitution template cannot read again: ${why}` };
  return { template: `\${${source}.${field}}` };
}

/**
 * The SELECT items whose output field a substitution template of `template`
 * names as if the incoming message had it: an alias of another expression,
 * or the last part of a nested path. The template reads the message, where
 * that field is missing or holds something else.
 */
export function renamedFieldsNamedIn(template: string, select: string): SelectItem[] {
  const named = new Set([...template.matchAll(/\$\{\s*([^}]*?)\s*\}/g)].map((m) => m[1]));
  return selectItems(select).filter((item) => item.name !== undefined && item.expression !== item.name && named.has(item.name));
}
