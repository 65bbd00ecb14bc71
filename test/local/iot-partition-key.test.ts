/**
 * The topic rule's partition key against the rules engine of the local run:
 * AWS IoT evaluates an action's substitution templates against the incoming
 * message and its topic, apart from the SELECT, so the key the construct
 * writes must give, from the message, the sensor id the SELECT puts in the
 * record. Random messages and SELECT lists, each key rendered as the local
 * rules engine renders it.
 */
import * as fc from 'fast-check';
import { applyRuleSql, documentOf, MessageContext, parseRuleSql, parseTemplate, renderTemplate } from '../../local/src/runner/iot-sql';
import { parseTopicRuleSql, partitionKeyFor } from '../../src/private/iot-sql';

/** A topic level: no "/", "+", "#" or NUL, not empty. */
const level = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,24}$/);
/** A sensor id of a payload: any non-empty text, numbers too. */
const payloadId = fc.oneof(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }), fc.integer({ min: 0, max: 1e9 }));

interface Case {
  readonly sql: string;
  readonly topic: string;
  readonly document: Record<string, unknown>;
}

/** AS in any case and spacing, as AWS IoT reads it. */
const as = fc.constantFrom(' AS ', ' as ', '  As  ');
const others = fc.subarray(['value', 'timestamp', 'meta.battery', 'timestamp() AS received'], { minLength: 0 });

/**
 * Messages and SELECT lists where the record's sensor id comes from the
 * topic, an alias of a nested path, a nested object's "*" or the message's
 * own field; each message also holds a top-level sensorid that the SELECT
 * overrides, or none, so that a key read from the wrong place shows.
 */
const cases: fc.Arbitrary<Case> = fc.record({
  device: level,
  inner: payloadId,
  top: fc.option(payloadId, { nil: undefined }),
  form: fc.constantFrom('topic', 'topic after *', 'alias of a path', 'path', 'nested *', 'nested * then topic', '*', 'field'),
  as,
  others,
}).map(({ device, inner, top, form, as: AS, others: more }) => {
  const topic = `sensors/${device}/readings`;
  const document: Record<string, unknown> = {
    state: { reported: { sensorid: inner, value: 1 } },
    device: { id: inner },
    meta: { battery: 80, sensorid: inner },
    value: 21.5,
    timestamp: '2024-05-06T07:08:09Z',
    ...(top === undefined ? {} : { sensorid: top }),
  };
  const rest = more.length ? `, ${more.join(', ')}` : '';
  const select: Record<string, string> = {
    'topic': `topic(2)${AS}sensorid${rest}`,
    'topic after *': `*, topic(2)${AS}sensorid${rest}`,
    'alias of a path': `device.id${AS}sensorid${rest}`,
    'path': `meta.sensorid${rest}`,
    'nested *': `state.reported.*${rest}`,
    'nested * then topic': `state.reported.*, topic(2)${AS}sensorid${rest}`,
    '*': '*',
    'field': `sensorid${rest}`,
  };
  // A message without a top-level sensorid cannot be keyed by "*" or by name: give it one.
  if ((form === '*' || form === 'field') && top === undefined) document.sensorid = inner;
  return { sql: `SELECT ${select[form]} FROM 'sensors/+/readings'`, topic, document };
});

/** What the local rules engine puts on the stream for this message: the record's sensor id, and the key. */
function evaluate(c: Case, keyTemplate: string): { recordSensorId: unknown; key: string } {
  const payload = Buffer.from(JSON.stringify(c.document), 'utf8');
  const message: MessageContext = { topic: c.topic, document: documentOf(payload), receivedAt: 1_700_000_000_000 };
  const record = JSON.parse(applyRuleSql(parseRuleSql(c.sql), message, payload)!.toString('utf8'));
  return { recordSensorId: record.sensorid, key: renderTemplate(parseTemplate(keyTemplate), message) };
}

test('the derived key, rendered from the incoming message, is the sensor id of the record the SELECT makes', () => {
  fc.assert(fc.property(cases, (c) => {
    const { template, problem } = partitionKeyFor(parseTopicRuleSql('sql', c.sql).select, 'sensorid');
    expect(problem).toBeUndefined();
    const { recordSensorId, key } = evaluate(c, template!);
    expect(recordSensorId).toBeDefined();
    expect(key).toBe(String(recordSensorId));
    expect(key.length).toBeGreaterThan(0);
  }), { numRuns: 500 });
});

test('the naive ${sensorid} reads the incoming message: empty or another id wherever the SELECT renames or lifts the field', () => {
  const shadow = { state: { reported: { sensorid: 'kitchen', value: 1 } } };
  const renamed: Case[] = [
    { sql: "SELECT topic(2) AS sensorid, value FROM 'sensors/+/readings'", topic: 'sensors/kitchen/readings', document: { value: 1 } },
    { sql: "SELECT state.reported.* FROM 'sensors/+/readings'", topic: 'sensors/kitchen/readings', document: shadow },
    { sql: "SELECT *, topic(2) AS sensorid FROM 'sensors/+/readings'", topic: 'sensors/kitchen/readings', document: { sensorid: 'gateway-7' } },
  ];
  expect(renamed.map((c) => [evaluate(c, '${sensorid}').key, evaluate(c, partitionKeyFor(parseTopicRuleSql('sql', c.sql).select, 'sensorid').template!).key]))
    .toEqual([['', 'kitchen'], ['', 'kitchen'], ['gateway-7', 'kitchen']]);
});
