/** The local run's AWS IoT SQL: topic filters, SELECT lists, WHERE, substitution templates, and what it refuses. */
import {
  applyRuleSql, documentOf, evaluate, IotSqlError, MessageContext, parseExpression, parseRuleSql, parseTemplate, renderTemplate, topicFilterProblem,
  topicMatches, UNDEFINED,
} from '../../local/src/runner/iot-sql';

const message = (payload: string | object, topic = 'sensors/s1/readings'): { m: MessageContext; raw: Buffer } => {
  const raw = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
  return { m: { topic, document: documentOf(raw), receivedAt: 1_700_000_000_000 }, raw };
};

/** The rule's output for a payload, as text; undefined when the WHERE clause does not hold. */
const run = (sql: string, payload: string | object, topic?: string) => {
  const { m, raw } = message(payload, topic);
  return applyRuleSql(parseRuleSql(sql), m, raw)?.toString('utf8');
};

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(IotSqlError);
    return (err as Error).message;
  }
  throw new Error('no error');
};

describe('topic filters (MQTT)', () => {
  test.each([
    ['sensors/+/readings', 'sensors/s1/readings', true],
    ['sensors/+/readings', 'sensors/s1/other', false],
    ['sensors/+/readings', 'sensors/s1/readings/extra', false],
    ['sensors/+/readings', 'sensors//readings', true], // "+" matches an empty level
    ['sensors/+/readings', 'sensors/readings', false],
    ['sensors/#', 'sensors', true], // "#" matches the parent level too
    ['sensors/#', 'sensors/s1/readings', true],
    ['sensors/#', 'sensorsx/s1', false],
    ['#', 'a/b/c', true],
    ['+/+', 'a/b', true],
    ['+/+', 'a', false],
    ['#', '$aws/things/t/shadow/update', false], // a leading wildcard never matches a $ topic
    ['+/things/t/shadow/update', '$aws/things/t/shadow/update', false],
    ['$aws/things/+/shadow/update', '$aws/things/t/shadow/update', true],
    ['Sensors/+/readings', 'sensors/s1/readings', false], // case matters
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  test('wildcards only as whole levels, "#" only last', () => {
    expect(topicFilterProblem('sensors/+/readings')).toBeUndefined();
    expect(topicFilterProblem('sensors/s+/readings')).toBe('may hold "+" only as a whole level');
    expect(topicFilterProblem('sensors/#/readings')).toBe('may hold "#" only as its whole last level');
    expect(topicFilterProblem('')).toBe('is empty');
    expect(refusal(() => parseRuleSql("SELECT * FROM 'a/b#'"))).toBe('the topic filter \'a/b#\' may hold "#" only as its whole last level');
  });
});

describe('SELECT', () => {
  test('* alone passes the payload as published, byte for byte, JSON or not', () => {
    const exact = '{"sensorid": "s1",  "value": 21.50, "timestamp": "2024-05-06T07:08:09Z"}';
    expect(run("SELECT * FROM 'sensors/+/readings'", exact)).toBe(exact);
    expect(run("SELECT * FROM 'sensors/+/readings'", 'not JSON {')).toBe('not JSON {');
  });

  test('a list of fields: plain names, nested paths named by their last part, aliases; missing fields left out', () => {
    const payload = { sensorid: 's1', value: 21.5, meta: { battery: { level: 80 } }, extra: true };
    expect(JSON.parse(run("SELECT sensorid, value, meta.battery.level, extra AS flag, missing FROM 'sensors/+/readings'", payload)!))
      .toEqual({ sensorid: 's1', value: 21.5, level: 80, flag: true });
  });

  test('a field named value is a field, SELECT VALUE is refused', () => {
    expect(JSON.parse(run("SELECT value FROM 'sensors/+/readings'", { value: 3 })!)).toEqual({ value: 3 });
    expect(JSON.parse(run("SELECT sensorid, value FROM 'sensors/+/readings'", { sensorid: 'a', value: 3 })!)).toEqual({ sensorid: 'a', value: 3 });
    expect(refusal(() => parseRuleSql("SELECT VALUE sensorid FROM 'a'"))).toBe('SELECT VALUE is not evaluated locally');
  });

  test('* with more fields, functions and literals by alias', () => {
    const out = JSON.parse(run("SELECT *, topic(2) AS sensor, topic() AS t, timestamp() AS received, 'v1' AS schema FROM 'sensors/+/readings'", { value: 1 })!);
    expect(out).toEqual({ value: 1, sensor: 's1', t: 'sensors/s1/readings', received: 1_700_000_000_000, schema: 'v1' });
    expect(JSON.parse(run("SELECT newuuid() AS id FROM 'a'", {}, 'a')!).id).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('a.b.* lifts the fields of a nested object into the output; items in order, a later one overwriting an earlier one\'s field', () => {
    const shadow = { state: { reported: { sensorid: 's1', value: 21.5, timestamp: '2024-05-06T07:08:09Z' } }, version: 7 };
    const sql = "SELECT state.reported.* FROM '$aws/things/+/shadow/update/accepted'";
    expect(JSON.parse(run(sql, shadow, '$aws/things/s1/shadow/update/accepted')!)).toEqual(shadow.state.reported);
    expect(JSON.parse(run("SELECT state.reported.*, topic(2) AS sensorid, version FROM 'things/+'", shadow, 'things/t9')!))
      .toEqual({ sensorid: 't9', value: 21.5, timestamp: '2024-05-06T07:08:09Z', version: 7 });
    expect(JSON.parse(run("SELECT *, topic(1) AS sensorid FROM 'a'", { sensorid: 'payload' }, 'a')!)).toEqual({ sensorid: 'a' });
    // No such object: no fields; an object that is no object: a SQL error for that message.
    expect(JSON.parse(run("SELECT state.reported.*, version FROM 'a'", { version: 1 }, 'a')!)).toEqual({ version: 1 });
    expect(() => run("SELECT state.reported.* FROM 'a'", { state: { reported: 3 } }, 'a')).toThrow('"state.reported.*" needs state.reported to be a JSON object');
  });

  test('* with more fields on a payload that is not a JSON object is a SQL error for that message', () => {
    expect(() => run("SELECT *, topic() AS t FROM 'sensors/+/readings'", 'binary')).toThrow(IotSqlError);
  });
});

describe('WHERE', () => {
  const where = (condition: string, payload: object | string) => run(`SELECT * FROM 'sensors/+/readings' WHERE ${condition}`, payload) !== undefined;

  test('comparisons of numbers, strings and booleans', () => {
    expect(where('value > 20', { value: 21.5 })).toBe(true);
    expect(where('value > 20', { value: 19 })).toBe(false);
    expect(where('value >= 21.5 AND value <= 21.5', { value: 21.5 })).toBe(true);
    expect(where('value < -5', { value: -10 })).toBe(true);
    expect(where("sensorid = 's1'", { sensorid: 's1' })).toBe(true);
    expect(where("sensorid <> 's1'", { sensorid: 's2' })).toBe(true);
    expect(where('ok = true', { ok: true })).toBe(true);
    expect(where("sensorid = 'it''s'", { sensorid: "it's" })).toBe(true);
  });

  test('ordering converts numeric strings to numbers; other strings have no order', () => {
    expect(where("value > '20'", { value: 21 })).toBe(true);
    expect(where('value > 20', { value: '21.5' })).toBe(true);
    expect(where('value > 20', { value: 'warm' })).toBe(false);
    expect(evaluate(parseExpression('value > 20'), message({ value: 'warm' }).m)).toBe(UNDEFINED);
  });

  test('= on mismatched types is false, <> true; on Undefined both are Undefined', () => {
    const m = message({ value: 20, name: '20' }).m;
    expect(evaluate(parseExpression("value = '20'"), m)).toBe(false);
    expect(evaluate(parseExpression("value <> '20'"), m)).toBe(true);
    expect(evaluate(parseExpression('missing = 1'), m)).toBe(UNDEFINED);
    expect(evaluate(parseExpression('missing <> 1'), m)).toBe(UNDEFINED);
    expect(where('missing <> 1', { value: 1 })).toBe(false);
  });

  test('AND, OR, NOT and parentheses; Undefined operands make the rule not act', () => {
    expect(where("NOT (value > 20 OR sensorid = 'x')", { value: 10, sensorid: 's' })).toBe(true);
    expect(where("value > 20 AND (sensorid = 'a' OR sensorid = 'b')", { value: 30, sensorid: 'b' })).toBe(true);
    expect(where("value > 20 AND (sensorid = 'a' OR sensorid = 'b')", { value: 30, sensorid: 'c' })).toBe(false);
    // Undefined OR true is Undefined in AWS IoT SQL, not true.
    expect(where("missing = 1 OR sensorid = 's'", { sensorid: 's' })).toBe(false);
    expect(where("flag AND sensorid = 's'", { flag: 'TRUE', sensorid: 's' })).toBe(true);
  });

  test('topic(n) in WHERE, and fields of a binary payload are Undefined', () => {
    expect(where("topic(2) = 's1'", { value: 1 })).toBe(true);
    expect(where("topic(9) = 's1'", { value: 1 })).toBe(false);
    expect(where("sensorid = 's1'", 'binary payload')).toBe(false);
  });
});

describe('substitution templates', () => {
  const render = (template: string, payload: string | object, topic?: string) => renderTemplate(parseTemplate(template), message(payload, topic).m);

  test('${field} and the topic functions, from the message as published', () => {
    expect(render('${sensorid}', { sensorid: 's1' })).toBe('s1');
    expect(render('${topic(2)}', {})).toBe('s1');
    expect(render('device-${topic(2)}/${meta.kind}', { meta: { kind: 'thermo' } })).toBe('device-s1/thermo');
    expect(render('plain key', {})).toBe('plain key');
    expect(render('${value}', { value: 21.5 })).toBe('21.5');
    expect(render('${meta}', { meta: { a: 1 } })).toBe('{"a":1}');
  });

  test('Undefined renders as an empty string: a missing field, a binary payload', () => {
    expect(render('${sensorid}', { value: 1 })).toBe('');
    expect(render('${sensorid}', 'not JSON')).toBe('');
    expect(render('k-${sensorid}', { value: 1 })).toBe('k-');
  });

  test('what cannot be evaluated is refused with the template named', () => {
    expect(refusal(() => parseTemplate('${upper(sensorid)}'))).toBe('${upper(sensorid)}: the function upper() is not evaluated locally (only topic(), topic(n), timestamp() and newuuid() are)');
    expect(refusal(() => parseTemplate('${sensorid'))).toBe('the substitution template starting at character 1 is not closed');
  });
});

describe('what is refused, by name', () => {
  test.each([
    ["SELECT value * 2 AS v FROM 'a'", 'the arithmetic operator "*" is not evaluated locally'],
    ["SELECT * FROM 'a' WHERE * = 1", '"*" is evaluated locally only as a SELECT item of its own'],
    ["SELECT value + 2 AS v FROM 'a'", 'the arithmetic operator "+" is not evaluated locally'],
    ["SELECT * FROM 'a' WHERE value - 1 > 2", 'the arithmetic operator "-" (or a negative number) is not evaluated locally'],
    ["SELECT * FROM 'a' WHERE value % 2 = 0", 'the arithmetic operator "%" is not evaluated locally'],
    ["SELECT * FROM 'a' WHERE sensorid != 'x'", 'the operator "!=" (AWS IoT SQL writes "<>") is not evaluated locally'],
    ["SELECT * FROM 'a' WHERE sensorid IN ('x')", 'the IN operator is not evaluated locally'],
    ["SELECT * FROM 'a' WHERE sensorid IS NOT NULL", 'an IS test is not evaluated locally'],
    ["SELECT CASE value WHEN 1 THEN 'a' END AS c FROM 'a'", 'a CASE expression is not evaluated locally'],
    ["SELECT readings[0] AS first FROM 'a'", 'an array index "[...]" is not evaluated locally'],
    ["SELECT upper(sensorid) AS s FROM 'a'", 'the function upper() is not evaluated locally (only topic(), topic(n), timestamp() and newuuid() are)'],
    ["SELECT clientid() AS c FROM 'a'", 'the function clientid() is not evaluated locally (only topic(), topic(n), timestamp() and newuuid() are)'],
    ["SELECT topic() FROM 'a'", 'the selected expression at character 8 needs a name (AS <name>) to be evaluated locally'],
    ["SELECT * FROM 'a' WHERE a < b < c", 'a chain of comparisons at character 31 is not evaluated locally: use parentheses and AND'],
    ['SELECT * FROM a', 'FROM must name a topic filter in single quotes, found "a" at character 15'],
    ["SELECT * FROM 'a' ORDER BY x", 'unexpected "ORDER" at character 19'],
    ["SELECT * FROM 'a", 'the string starting at character 15 is not closed'],
    ["SELECT *, * FROM 'a'", '"*" is selected twice'],
  ])('%s', (sql, reason) => {
    expect(refusal(() => parseRuleSql(sql))).toBe(reason);
  });
});
