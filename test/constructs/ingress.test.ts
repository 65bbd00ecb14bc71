import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { logicalId, newStack, synth } from './util';
import { Ingress, IotTopicRuleIngressProps, PayloadMapping, SensorIngestPipeline } from '../../src';
import { parseTopicRuleSql, partitionKeyFor, selectCarries, selectItems } from '../../src/private/iot-sql';

const SQL = "SELECT * FROM 'sensors/+/readings'";

/** The statements of the policies attached to a role. */
function statementsOf(template: Template, roleId: string): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe('no ingress by default', () => {
  test('no topic rule, no role for one, nothing bound', () => {
    const { template, pipeline } = synth();
    template.resourceCountIs('AWS::IoT::TopicRule', 0);
    expect(pipeline.ingressBinding).toEqual({});
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).filter((id) => id.includes('Ingress'))).toEqual([]);
  });
});

describe('Ingress.iotTopicRule()', () => {
  const { template, pipeline } = synth({ ingress: Ingress.iotTopicRule({ sql: SQL }) });
  const putRole = logicalId(template, 'AWS::IAM::Role', 'PipelineIngressPutRole');
  const errorRole = logicalId(template, 'AWS::IAM::Role', 'PipelineIngressErrorRole');
  const errorLogs = logicalId(template, 'AWS::Logs::LogGroup', 'PipelineIngressErrorLogs');
  const stream = logicalId(template, 'AWS::Kinesis::Stream', 'PipelineStream');

  test('a rule whose Kinesis action puts each message on the stream, keyed by the sensor id of the payload', () => {
    template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: SQL,
        AwsIotSqlVersion: '2016-03-23',
        RuleDisabled: false,
        Description: 'Puts device readings on the sensor ingest pipeline\'s stream',
        Actions: [{ Kinesis: { StreamName: { Ref: stream }, PartitionKey: '${sensorid}', RoleArn: { 'Fn::GetAtt': [putRole, 'Arn'] } } }],
        ErrorAction: { CloudwatchLogs: { LogGroupName: { Ref: errorLogs }, RoleArn: { 'Fn::GetAtt': [errorRole, 'Arn'] } } },
      },
    });
    expect(pipeline.ingressBinding.topicRule).toBeDefined();
    expect(pipeline.ingressBinding.errorLogGroup).toBeDefined();
  });

  test('the action\'s role may put records on this stream, and nothing else; only IoT rules of this account assume it', () => {
    expect(statementsOf(template, putRole)).toEqual([{ Effect: 'Allow', Action: 'kinesis:PutRecord', Resource: { 'Fn::GetAtt': [stream, 'Arn'] } }]);
    for (const role of [putRole, errorRole]) {
      expect(template.toJSON().Resources[role].Properties.AssumeRolePolicyDocument.Statement).toEqual([{
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'iot.amazonaws.com' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': '111111111111' },
          ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iot:', { Ref: 'AWS::Region' }, ':111111111111:rule/*']] } },
        },
      }]);
    }
  });

  test('the error action writes the messages it could not put, with the reason, to a log group of its own', () => {
    expect(statementsOf(template, errorRole)).toEqual([
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [errorLogs, 'Arn'] } },
      { Effect: 'Allow', Action: 'logs:DescribeLogStreams', Resource: { 'Fn::GetAtt': [errorLogs, 'Arn'] } },
    ]);
    template.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Delete' });
  });

  test('the rule waits for its roles\' policies', () => {
    const [rule] = Object.values(template.findResources('AWS::IoT::TopicRule'));
    expect(rule.DependsOn).toEqual(expect.arrayContaining([
      logicalId(template, 'AWS::IAM::Policy', 'PipelineIngressPutRoleDefaultPolicy'),
      logicalId(template, 'AWS::IAM::Policy', 'PipelineIngressErrorRoleDefaultPolicy'),
    ]));
  });

  test('an alarm on the messages not put: every error-log event, and the messages the rule could not parse', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: errorLogs },
      FilterPattern: '',
      MetricTransformations: [{ MetricNamespace: 'SensorIngestPipeline', MetricName: Match.stringLikeRegexp('FailedMessages$'), MetricValue: '1' }],
    });
    const [alarm] = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) => id.startsWith('PipelineAlarmsIngressFailures'));
    expect(alarm).toBeDefined();
    const metrics = JSON.stringify(alarm[1].Properties.Metrics);
    expect(metrics).toContain('FILL(errors, 0) + FILL(parse, 0)');
    expect(metrics).toContain('"MetricName":"ParseError"');
    expect(metrics).toContain(`"Dimensions":[{"Name":"RuleName","Value":{"Ref":"${logicalId(template, 'AWS::IoT::TopicRule', 'PipelineIngressTopicRule')}"}}]`);
    expect(alarm[1].Properties.Threshold).toBe(1);
  });
});

describe('Ingress.iotTopicRule() options', () => {
  test('a customer-managed key: the action\'s role may take data keys from it, and no more', () => {
    const stack = newStack();
    new SensorIngestPipeline(stack, 'Pipeline', { encryptionKey: new kms.Key(stack, 'Key'), ingress: Ingress.iotTopicRule({ sql: SQL }) });
    const template = Template.fromStack(stack);
    expect(statementsOf(template, logicalId(template, 'AWS::IAM::Role', 'PipelineIngressPutRole'))).toEqual([
      { Effect: 'Allow', Action: 'kinesis:PutRecord', Resource: { 'Fn::GetAtt': [logicalId(template, 'AWS::Kinesis::Stream', 'PipelineStream'), 'Arn'] } },
      { Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: { 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'Key'), 'Arn'] } },
    ]);
  });

  test('the partition key follows the payload mapping\'s sensor id field, or is given', () => {
    const mapped = synth({ payloadMapping: { sensorIdField: 'deviceId' }, ingress: Ingress.iotTopicRule({ sql: SQL }) }).template;
    mapped.hasResourceProperties('AWS::IoT::TopicRule', { TopicRulePayload: { Actions: [{ Kinesis: Match.objectLike({ PartitionKey: '${deviceId}' }) }] } });
    const given = synth({ ingress: Ingress.iotTopicRule({ sql: SQL, partitionKey: '${topic(2)}', ruleName: 'plant_7', description: 'Plant 7', errorLogRetention: logs.RetentionDays.ONE_YEAR }) }).template;
    given.hasResourceProperties('AWS::IoT::TopicRule', {
      RuleName: 'plant_7',
      TopicRulePayload: Match.objectLike({ Description: 'Plant 7', Actions: [{ Kinesis: Match.objectLike({ PartitionKey: '${topic(2)}' }) }] }),
    });
    given.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  test('an explicit SELECT list carrying the mapping\'s fields, under aliases or paths', () => {
    for (const sql of [
      "SELECT state.reported.* FROM '$aws/things/+/shadow/update/accepted'",
      "SELECT topic(2) AS sensorid, timestamp() AS timestamp, temperature AS value FROM 'sensors/+/readings' WHERE temperature > -40",
      "select sensorid, timestamp, value from 'plant/#'",
    ]) {
      expect(() => synth({ ingress: Ingress.iotTopicRule({ sql }) })).not.toThrow();
    }
    const measured: PayloadMapping = { sensorIdField: 'd', timestampField: 'ts', measurementFields: ['t', 'h'] };
    expect(() => synth({ payloadMapping: measured, ingress: Ingress.iotTopicRule({ sql: "SELECT d, ts, h FROM 'x'" }) })).not.toThrow();
  });
});

describe('the default partition key reads the sensor id from the incoming message, as the SELECT reads it', () => {
  /** The Kinesis action's partition key of a rule with this SQL. */
  const keyOf = (sql: string, sensorIdField?: string): string => {
    const { template } = synth({ payloadMapping: sensorIdField ? { sensorIdField } : undefined, ingress: Ingress.iotTopicRule({ sql }) });
    const [rule] = Object.values(template.findResources('AWS::IoT::TopicRule'));
    return rule.Properties.TopicRulePayload.Actions[0].Kinesis.PartitionKey;
  };

  // AWS IoT evaluates substitution templates against the incoming message
  // (Developer Guide, "Substitution templates"): an alias or a field lifted
  // out of a nested object is not there, so "${sensorid}" would be empty.
  test.each([
    ["SELECT * FROM 'sensors/+/readings'", '${sensorid}'],
    ["SELECT sensorid, timestamp, value FROM 'sensors/+/readings'", '${sensorid}'],
    ["SELECT topic(2) AS sensorid, timestamp, value FROM 'sensors/+/readings'", '${topic(2)}'],
    ["SELECT *, topic(2) AS sensorid FROM 'sensors/+/readings'", '${topic(2)}'],
    ["SELECT state.reported.* FROM '$aws/things/+/shadow/update/accepted'", '${state.reported.sensorid}'],
    ["SELECT state.reported.*, topic(3) as sensorid FROM '$aws/things/+/shadow/update/accepted'", '${topic(3)}'],
    ["SELECT device.id AS sensorid, timestamp, value FROM 'plant/#'", '${device.id}'],
    ["SELECT meta.sensorid, timestamp, value FROM 'plant/#'", '${meta.sensorid}'],
    ["SELECT lower(device.serial) AS sensorid, timestamp, value FROM 'plant/#'", '${lower(device.serial)}'],
    ["SELECT concat(topic(2), '-', port) AS sensorid, timestamp, value FROM 'plant/#'", "${concat(topic(2), '-', port)}"],
    ["SELECT get(readings, 0).*, timestamp() AS timestamp FROM 'plant/#'", '${get(readings, 0).sensorid}'],
  ])('%s: %s', (sql, key) => {
    expect(keyOf(sql)).toBe(key);
  });

  test('with the payload mapping\'s own sensor id field', () => {
    expect(keyOf("SELECT topic(2) AS deviceId, ts AS timestamp, value FROM 'a/+'", 'deviceId')).toBe('${topic(2)}');
    expect(keyOf("SELECT body.* FROM 'a/+'", 'deviceId')).toBe('${body.deviceId}');
  });

  test.each<[string, string, RegExp]>([
    ['a value made anew at each evaluation', "SELECT newuuid() AS sensorid, timestamp, value FROM 'a/+'",
      /the sensor id field "sensorid" is "newuuid\(\) AS sensorid", which a substitution template cannot give again: newuuid\(\) gives another value each time it is evaluated/],
    ['a value from another service', "SELECT aws_lambda('arn:aws:lambda:eu-west-1:1:function:f', *).id AS sensorid, timestamp, value FROM 'a/+'",
      /aws_lambda\(\) gives another value each time it is evaluated/],
    ['a nested SELECT', "SELECT (SELECT VALUE n FROM e) AS sensorid, timestamp, value FROM 'a/+'", /it is a nested SELECT/],
    ['a brace, which ends a template', "SELECT concat(topic(2), '}') AS sensorid, timestamp, value FROM 'a/+'", /it holds a brace, and a substitution template ends at its first "\}"/],
    ['"*" of two objects', "SELECT state.reported.*, state.desired.* FROM 'a/+'",
      /the sensor id field "sensorid" may come from any of "state\.reported\.\*", "state\.desired\.\*", and which one carries it is known only when a message arrives/],
    ['"*" of the message and of a nested object', "SELECT *, meta.* FROM 'a/+'", /may come from any of "\*", "meta\.\*"/],
    ['"*" after the field, which may overwrite it', "SELECT topic(2) AS sensorid, state.reported.* FROM 'a/+'",
      /the sensor id field "sensorid" is "topic\(2\) AS sensorid", unless "state\.reported\.\*" after it carries one too, which is known only when a message arrives/],
    ['the field named twice', "SELECT topic(2) AS sensorid, sensorid, timestamp, value FROM 'a/+'", /the SELECT list names "sensorid" 2 times/],
  ])('refused, naming partitionKey: %s', (_name, sql, message) => {
    expect(() => synth({ ingress: Ingress.iotTopicRule({ sql }) }))
      .toThrow(new RegExp(`IotTopicRuleIngressProps\\.partitionKey must be given: [\\s\\S]*${message.source}[\\s\\S]*AWS IoT evaluates the key against the incoming message`));
  });

  test('a given partition key naming a field the SELECT renamed is refused, with the expression to write', () => {
    expect(() => synth({ ingress: Ingress.iotTopicRule({ sql: "SELECT topic(2) AS sensorid, timestamp, value FROM 'a/+'", partitionKey: '${sensorid}' }) }))
      .toThrow('IotTopicRuleIngressProps.partitionKey "${sensorid}" names "sensorid", which the SELECT makes from "topic(2)"; AWS IoT evaluates the key '
        + 'against the incoming message, not the SELECT\'s output: write ${topic(2)} instead');
    expect(() => synth({ ingress: Ingress.iotTopicRule({ sql: "SELECT *, d.serial AS serial FROM 'a/+'", partitionKey: 'plant-${serial}' }) }))
      .toThrow(/names "serial", which the SELECT makes from "d\.serial".*write \$\{d\.serial\} instead/);
    // Fields the SELECT passes through unchanged, and anything else of the message or topic, may be named.
    for (const [sql, partitionKey] of [
      ["SELECT sensorid, timestamp, value FROM 'a/+'", '${sensorid}'],
      ["SELECT topic(2) AS sensorid, timestamp, value FROM 'a/+'", '${topic(2)}'],
      ["SELECT topic(2) AS sensorid, timestamp, value FROM 'a/+'", '${site}-${topic(2)}'],
    ]) {
      expect(() => synth({ ingress: Ingress.iotTopicRule({ sql, partitionKey }) })).not.toThrow();
    }
  });
});

describe('Ingress.iotTopicRule() refuses at synth, naming the prop', () => {
  test.each<[string, IotTopicRuleIngressProps, RegExp]>([
    ['SQL that is no SELECT ... FROM', { sql: 'sensors/+/readings' }, /IotTopicRuleIngressProps\.sql must be "SELECT <fields> FROM '<topic filter>' \[WHERE <condition>\]", got "sensors\/\+\/readings"/],
    ['a FROM without quotes', { sql: 'SELECT * FROM sensors/#' }, /IotTopicRuleIngressProps\.sql must be "SELECT/],
    ['"#" before the last level', { sql: "SELECT * FROM 'sensors/#/readings'" }, /IotTopicRuleIngressProps\.sql: the topic filter 'sensors\/#\/readings' may hold "#" only as its whole last level/],
    ['"+" inside a level', { sql: "SELECT * FROM 'sensors/a+/readings'" }, /the topic filter 'sensors\/a\+\/readings' may hold "\+" only as a whole level/],
    ['an empty topic filter', { sql: "SELECT * FROM ''" }, /the topic filter '' is empty/],
    ['a topic filter over 256 bytes', { sql: `SELECT * FROM '${'a/'.repeat(129)}'` }, /is longer than 256 bytes/],
    ['a rule name IoT refuses', { sql: SQL, ruleName: 'my-rule' }, /IotTopicRuleIngressProps\.ruleName must be 1 to 128 letters, digits and underscores, got "my-rule"/],
    ['an empty partition key', { sql: SQL, partitionKey: ' ' }, /IotTopicRuleIngressProps\.partitionKey must be 1 to 256 characters/],
  ])('%s', (_name, props, message) => {
    expect(() => Ingress.iotTopicRule(props)).toThrow(message);
  });

  test('a SELECT list without the fields the processor reads', () => {
    expect(() => synth({ ingress: Ingress.iotTopicRule({ sql: "SELECT temperature FROM 'sensors/+/readings'" }) }))
      .toThrow(/IotTopicRuleIngressProps\.sql: the rule's output is what the pipeline reads, so it must carry sensorid, timestamp, value \(the payload mapping's fields\)/);
    expect(() => synth({ payloadMapping: { measurementFields: ['t', 'h'] }, ingress: Ingress.iotTopicRule({ sql: "SELECT sensorid, timestamp FROM 'x'" }) }))
      .toThrow(/must carry t or h/);
  });

  test('a sensor id field a substitution template cannot name, without a partition key', () => {
    expect(() => synth({ payloadMapping: { sensorIdField: 'device-id' }, ingress: Ingress.iotTopicRule({ sql: SQL }) }))
      .toThrow(/IotTopicRuleIngressProps\.partitionKey must be given: the payload mapping's sensor id field "device-id" cannot be read by name/);
    expect(() => synth({ payloadMapping: { sensorIdField: 'device-id' }, ingress: Ingress.iotTopicRule({ sql: SQL, partitionKey: '${topic(2)}' }) })).not.toThrow();
  });
});

describe('the SQL reader', () => {
  test('parses the SELECT list, the topic filter and the condition', () => {
    expect(parseTopicRuleSql('p', "SELECT *, topic(2) AS id FROM 'a/+/b' WHERE x > 1")).toEqual({ select: '*, topic(2) AS id', topicFilter: 'a/+/b', where: 'x > 1' });
    expect(parseTopicRuleSql('p', "  select a\nfrom 'a/#'  ")).toEqual({ select: 'a', topicFilter: 'a/#', where: undefined });
  });

  test('splits the SELECT list at its top-level commas, reading aliases, paths and "*" items', () => {
    expect(selectItems("topic(2) AS id, concat(a, ',', b) as ab, state.reported.*, *, x.y, 'a, b' AS s, temp * 2")).toEqual([
      { text: 'topic(2) AS id', expression: 'topic(2)', name: 'id' },
      { text: "concat(a, ',', b) as ab", expression: "concat(a, ',', b)", name: 'ab' },
      { text: 'state.reported.*', expression: 'state.reported.*', starOf: 'state.reported' },
      { text: '*', expression: '*', starOf: '' },
      { text: 'x.y', expression: 'x.y', name: 'y' },
      { text: "'a, b' AS s", expression: "'a, b'", name: 's' },
      { text: 'temp * 2', expression: 'temp * 2' },
    ]);
    expect(partitionKeyFor("'as' AS sensorid", 'sensorid')).toEqual({ template: "${'as'}" });
  });

  test('a field is carried by "*", by name, by path end or by alias, not as part of another name', () => {
    expect(selectCarries('*', 'x')).toBe(true);
    expect(selectCarries('a.*', 'x')).toBe(true);
    expect(selectCarries('temp AS value', 'value')).toBe(true);
    expect(selectCarries('state.value', 'value')).toBe(true);
    expect(selectCarries('values', 'value')).toBe(false);
    expect(selectCarries('my_value', 'value')).toBe(false);
    expect(selectCarries('a * 2 AS b', 'x')).toBe(false);
    expect(selectCarries("get(x, 'value') AS y", 'value')).toBe(false);
  });
});
