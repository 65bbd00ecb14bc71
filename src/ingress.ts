import { Aws, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ISensorIngestPipeline } from './pipeline-interfaces';
import { isPlainIdentifier, parseTopicRuleSql, partitionKeyFor, renamedFieldsNamedIn, selectCarries } from './private/iot-sql';
import { LOG_METRICS_NAMESPACE } from './private/monitoring';
import { withDefaults } from './private/payload';

/** What an ingress hands back to the pipeline once bound. */
export interface IngressBinding {
  /** The AWS IoT topic rule, when the ingress is one. */
  readonly topicRule?: iot.CfnTopicRule;
  /** The role the ingress puts records on the stream with, when it has one. */
  readonly role?: iam.IRole;
  /** Where the messages the ingress could not put on the stream go, each with the reason and its payload. */
  readonly errorLogGroup?: logs.ILogGroup;
  /** Counts the messages the ingress received; the pipeline's dashboard shows it. */
  readonly receivedMessagesMetric?: cloudwatch.IMetric;
  /** Counts the messages the ingress could not put on the stream; the pipeline alarms on it. */
  readonly failedMessagesMetric?: cloudwatch.IMetric;
}

/**
 * Brings device messages onto the pipeline's stream. Implement it to plug in
 * an ingress of your own; `Ingress` has the built-in ones.
 */
export interface IIngress {
  /** Creates the ingress's resources in `scope` and points them at the pipeline's stream. Called once by the pipeline. */
  bind(scope: Construct, pipeline: ISensorIngestPipeline): IngressBinding;
}

/** Props of an AWS IoT Core topic rule that puts device messages on the stream. */
export interface IotTopicRuleIngressProps {
  /**
   * The rule's SQL (version 2016-03-23), for example
   * `SELECT * FROM 'sensors/+/readings'`. Its output is the record put on the
   * stream, so it must carry the payload mapping's sensor id and timestamp
   * fields and its value (or a measurement field): `SELECT *`, or name them.
   * Checked at synth: the shape, the topic filter, those fields.
   */
  readonly sql: string;

  /**
   * The Kinesis partition key of each record, a substitution template.
   * Records of one key keep their order in one shard. AWS IoT evaluates it
   * against the incoming message and its topic, apart from the SELECT: it
   * cannot name a field the SELECT renamed (`topic(2) AS sensorid`) or
   * lifted out of a nested object (`state.reported.*`); such a key is
   * refused at synth. A message whose key renders empty cannot be put
   * (Kinesis needs a key): it goes to the error log with its payload.
   *
   * @default - the payload mapping's sensor id, read the way the SELECT reads it: `${sensorid}` for `SELECT *` or `SELECT sensorid`, `${topic(2)}` for `SELECT topic(2) AS sensorid`, `${state.reported.sensorid}` for `SELECT state.reported.*`; refused at synth when the SELECT computes it in a way a template cannot repeat (`newuuid()`, a nested SELECT), or when several `*` items may carry it
   */
  readonly partitionKey?: string;

  /**
   * The rule's name: letters, digits and underscores.
   *
   * @default - a name CloudFormation makes
   */
  readonly ruleName?: string;

  /**
   * The rule's description.
   *
   * @default - says that it puts device readings on the pipeline's stream
   */
  readonly description?: string;

  /**
   * How long the error log keeps the messages the rule could not put on the
   * stream (each with its payload, base64, and the reason).
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly errorLogRetention?: logs.RetentionDays;
}

/**
 * An AWS IoT Core topic rule putting each message of its topic on the
 * pipeline's stream (a Kinesis action), with an error action that writes
 * each message it could not put, with the reason, to a log group of its own.
 * The action's role may put records on this stream only.
 */
export class IotTopicRuleIngress implements IIngress {
  constructor(private readonly props: IotTopicRuleIngressProps) {
    const name = 'IotTopicRuleIngressProps';
    if (!Token.isUnresolved(props.sql)) parseTopicRuleSql(`${name}.sql`, props.sql);
    if (props.ruleName !== undefined && !Token.isUnresolved(props.ruleName) && !/^[a-zA-Z0-9_]{1,128}$/.test(props.ruleName)) {
      throw new Error(`${name}.ruleName must be 1 to 128 letters, digits and underscores, got "${props.ruleName}"`);
    }
    const key = props.partitionKey;
    if (key !== undefined && !Token.isUnresolved(key) && (key.trim().length === 0 || key.length > 256)) {
      throw new Error(`${name}.partitionKey must be 1 to 256 characters, got "${key}"`);
    }
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): IngressBinding {
    const props = this.props;
    const name = 'IotTopicRuleIngressProps';
    const mapping = withDefaults(pipeline.payloadMapping);
    let partitionKey = props.partitionKey;
    if (!Token.isUnresolved(props.sql)) {
      const { select } = parseTopicRuleSql(`${name}.sql`, props.sql);
      const valueFields = mapping.measurementFields.length > 0 ? mapping.measurementFields : [mapping.valueField];
      const missing = [mapping.sensorIdField, mapping.timestampField].filter((f) => !selectCarries(select, f));
      if (!valueFields.some((f) => selectCarries(select, f))) missing.push(valueFields.join(' or '));
      if (missing.length > 0) {
        throw new Error(`${name}.sql: the rule's output is what the pipeline reads, so it must carry ${missing.join(', ')} `
          + `(the payload mapping's fields): select * or name them, got "${props.sql}"`);
      }
      // AWS IoT evaluates an action's substitution templates against the
      // incoming message, apart from the SELECT: a template naming a field
      // the SELECT renamed reads something else, most often nothing (an
      // empty key, which Kinesis refuses).
      if (partitionKey === undefined) {
        const derived = partitionKeyFor(select, mapping.sensorIdField);
        if (!derived.template) {
          throw new Error(`${name}.partitionKey must be given: ${derived.problem} `
            + '(AWS IoT evaluates the key against the incoming message, not the SELECT\'s output)');
        }
        partitionKey = derived.template;
      } else if (!Token.isUnresolved(partitionKey)) {
        const renamed = renamedFieldsNamedIn(partitionKey, select);
        if (renamed.length > 0) {
          throw new Error(`${name}.partitionKey "${partitionKey}" names ${renamed.map((i) => `"${i.name}"`).join(', ')}, which the SELECT makes from `
            + `${renamed.map((i) => `"${i.expression}"`).join(', ')}; AWS IoT evaluates the key against the incoming message, not the SELECT's output: `
            + `write ${renamed.map((i) => `\${${i.expression}}`).join(', ')} instead`);
        }
      }
    }
    if (partitionKey === undefined) {
      if (!isPlainIdentifier(mapping.sensorIdField)) {
        throw new Error(`${name}.partitionKey must be given: the payload mapping's sensor id field "${mapping.sensorIdField}" `
          + 'cannot be read by name in an AWS IoT substitution template');
      }
      partitionKey = `\${${mapping.sensorIdField}}`;
    }

    const stack = Stack.of(scope);
    // Only AWS IoT rules of this account may act with these roles.
    const iotPrincipal = () => new iam.ServicePrincipal('iot.amazonaws.com').withConditions({
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${stack.account}:rule/*` },
    });
    const putRole = new iam.Role(scope, 'PutRole', {
      assumedBy: iotPrincipal(),
      description: 'Puts the IoT rule\'s messages on the sensor stream',
    });
    putRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [pipeline.stream.streamArn] }));
    if (pipeline.stream.encryptionKey) {
      // Writing to a stream under a customer-managed key takes a data key from it.
      putRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [pipeline.stream.encryptionKey.keyArn] }));
    }

    const errorLog = new logs.LogGroup(scope, 'ErrorLogs', {
      retention: props.errorLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const errorRole = new iam.Role(scope, 'ErrorRole', {
      assumedBy: iotPrincipal(),
      description: 'Writes the messages the IoT rule could not put on the sensor stream to its error log',
    });
    errorLog.grantWrite(errorRole);
    errorLog.grant(errorRole, 'logs:DescribeLogStreams');

    const rule = new iot.CfnTopicRule(scope, 'TopicRule', {
      ruleName: props.ruleName,
      topicRulePayload: {
        sql: props.sql,
        awsIotSqlVersion: '2016-03-23',
        ruleDisabled: false,
        description: props.description ?? 'Puts device readings on the sensor ingest pipeline\'s stream',
        actions: [{ kinesis: { streamName: pipeline.stream.streamName, partitionKey, roleArn: putRole.roleArn } }],
        errorAction: { cloudwatchLogs: { logGroupName: errorLog.logGroupName, roleArn: errorRole.roleArn } },
      },
    });
    // AWS IoT acts with the roles as soon as messages match: their policies come first.
    for (const role of [putRole, errorRole]) rule.node.addDependency(role.node.findChild('DefaultPolicy'));

    // Every event of the error log is one message that did not reach the stream.
    const errors = errorLog.addMetricFilter('FailedMessages', {
      filterPattern: logs.FilterPattern.allEvents(),
      metricNamespace: LOG_METRICS_NAMESPACE,
      metricName: `${Names.uniqueId(rule)}-FailedMessages`,
      metricValue: '1',
    }).metric({ statistic: cloudwatch.Stats.SUM });
    const ruleMetric = (metricName: string) => new cloudwatch.Metric({
      namespace: 'AWS/IoT', metricName, dimensionsMap: { RuleName: rule.ref }, statistic: cloudwatch.Stats.SUM,
    });
    return {
      topicRule: rule,
      role: putRole,
      errorLogGroup: errorLog,
      receivedMessagesMetric: ruleMetric('TopicMatch'),
      // Messages the rule could not read as JSON never reach an action, so they are counted apart.
      failedMessagesMetric: new cloudwatch.MathExpression({
        expression: 'FILL(errors, 0) + FILL(parse, 0)',
        usingMetrics: { errors, parse: ruleMetric('ParseError') },
        label: 'messages not put on the stream',
      }),
    };
  }
}

class NoIngress implements IIngress {
  public bind(): IngressBinding {
    return {};
  }
}

/** The built-in ingresses. */
export abstract class Ingress {
  /**
   * An AWS IoT Core topic rule that puts each message of its topic on the
   * stream, partitioned by sensor id.
   */
  public static iotTopicRule(props: IotTopicRuleIngressProps): IIngress {
    return new IotTopicRuleIngress(props);
  }

  /**
   * No ingress of the pipeline's own (the default): producers put records on
   * the stream themselves, with `grantPutRecords`.
   */
  public static none(): IIngress {
    return new NoIngress();
  }

  private constructor() {}
}
