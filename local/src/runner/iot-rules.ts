/**
 * AWS IoT Core's rules engine for the topic rules of the local run, and the
 * data plane's Publish operation in front of it (`POST /topics/{topic}`, the
 * payload as the body, as the AWS SDK's IoT data-plane client and `aws
 * iot-data publish` send it). Each enabled rule whose topic filter matches
 * evaluates its SQL on the message and performs its Kinesis actions
 * (PutRecord, the partition key's substitution templates rendered from the
 * message as published); an action that fails goes to the rule's error
 * action: a CloudWatch Logs error action is written to a local log, one JSON
 * line per message in AWS IoT's error action message format; any other kind
 * is reported.
 *
 * Not emulated: MQTT connections and subscriptions (nothing receives the
 * messages but the rules), device authentication and IoT policies, retained
 * messages (accepted, not kept), Basic Ingest topics, and the rules engine's
 * throughput limits.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import { KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { readBody } from './aws-json';
import { applyRuleSql, documentOf, IotSqlError, MessageContext, ParsedRuleSql, renderTemplate, TemplatePart, topicMatches } from './iot-sql';

export interface KinesisActionPlan {
  readonly streamName: readonly TemplatePart[];
  /** Absent in the template: each message gets a new UUID as its key. */
  readonly partitionKey?: readonly TemplatePart[];
  /** The partition key as the template writes it, for the listing. */
  readonly partitionKeyText?: string;
}

export type ErrorActionPlan =
  | { readonly kind: 'cloudwatch-logs'; readonly logGroupName: string }
  | { readonly kind: 'not run'; readonly type: string };

export interface TopicRulePlan {
  /** `Stack/LogicalId`, for messages. */
  readonly path: string;
  readonly ruleName: string;
  readonly sqlText: string;
  readonly sql: ParsedRuleSql;
  readonly enabled: boolean;
  readonly kinesisActions: readonly KinesisActionPlan[];
  readonly errorAction?: ErrorActionPlan;
}

export interface RuleStats {
  /** Messages whose topic matched the rule's filter. */
  matched: number;
  /** Messages that passed the WHERE clause and were acted on. */
  actedOn: number;
  recordsPut: number;
  actionFailures: number;
  /** Messages sent to the error action (one per message, whatever failed). */
  errorActionMessages: number;
  /** Messages the SQL could not be evaluated on (AWS IoT counts these as SQL errors; no error action). */
  sqlErrors: number;
}

/** The error action message AWS IoT sends, one per rule and message. */
export interface ErrorActionMessage {
  readonly ruleName: string;
  readonly topic: string;
  readonly cloudwatchTraceId: string;
  readonly clientId: string;
  readonly base64OriginalPayload: string;
  readonly failures: ReadonlyArray<{ readonly failedAction: string; readonly failedResource: string; readonly errorMessage: string }>;
}

export interface PutRecordOutcome {
  readonly rule: string;
  readonly streamName: string;
  readonly partitionKey: string;
  readonly shardId: string;
  readonly sequenceNumber: string;
}

export interface PublishOutcome {
  /** Enabled rules whose filter matched the topic. */
  readonly rulesMatched: number;
  readonly records: readonly PutRecordOutcome[];
  /** Failed actions (each also went to its rule's error action). */
  readonly failures: ReadonlyArray<{ readonly rule: string; readonly errorMessage: string }>;
}

export interface IotRulesDeps {
  readonly kinesis: KinesisClient;
  /** Writes one error action message to a CloudWatch Logs error action's log group. */
  logError(logGroupName: string, message: ErrorActionMessage): void;
  warn(message: string): void;
}

/** AWS IoT's limit on a message payload. */
export const MAX_PAYLOAD_BYTES = 128 * 1024;
/** AWS IoT's limits on a topic name: 256 bytes, 7 slashes (reserved $aws topics aside). */
const MAX_TOPIC_BYTES = 256;
const MAX_TOPIC_SLASHES = 7;

/** Why a topic cannot be published to, or undefined. */
export function publishTopicProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'the topic is empty';
  if (/[+#]/.test(topic)) return `the topic ${topic} holds a wildcard ("+" or "#"): a message is published to one topic`;
  if (topic.includes('\u0000')) return 'the topic holds a NUL character';
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) return `the topic is longer than ${MAX_TOPIC_BYTES} bytes`;
  if (topic.startsWith('$aws/rules/')) return 'Basic Ingest topics ($aws/rules/...) are not emulated locally: publish to the topic the rule selects from';
  if (!topic.startsWith('$aws/') && topic.split('/').length - 1 > MAX_TOPIC_SLASHES) return `the topic has more than ${MAX_TOPIC_SLASHES} forward slashes`;
  return undefined;
}

export class IotRules {
  readonly stats = new Map<string, RuleStats>();
  private readonly warnedSql = new Set<string>();

  constructor(readonly rules: readonly TopicRulePlan[], private readonly deps: IotRulesDeps) {
    for (const r of rules) {
      this.stats.set(r.ruleName, { matched: 0, actedOn: 0, recordsPut: 0, actionFailures: 0, errorActionMessages: 0, sqlErrors: 0 });
    }
  }

  /** Error action messages sent, all rules together. */
  get errorActionMessages(): number {
    return [...this.stats.values()].reduce((n, s) => n + s.errorActionMessages, 0);
  }

  /** Runs every enabled rule whose topic filter matches; resolves when their actions are done. */
  async publish(topic: string, payload: Buffer, clientId = 'n/a'): Promise<PublishOutcome> {
    const message: MessageContext = { topic, document: documentOf(payload), receivedAt: Date.now() };
    const matching = this.rules.filter((r) => r.enabled && topicMatches(r.sql.topicFilter, topic));
    const records: PutRecordOutcome[] = [];
    const failures: Array<{ rule: string; errorMessage: string }> = [];
    await Promise.all(matching.map(async (rule) => {
      const stats = this.stats.get(rule.ruleName)!;
      stats.matched++;
      let output: Buffer | undefined;
      try {
        output = applyRuleSql(rule.sql, message, payload);
      } catch (err) {
        if (!(err instanceof IotSqlError)) throw err;
        stats.sqlErrors++;
        if (!this.warnedSql.has(rule.ruleName)) {
          this.warnedSql.add(rule.ruleName);
          this.deps.warn(`${rule.path}: the SQL could not be evaluated on a message on ${topic} (${err.message}); AWS IoT counts it as a SQL error and sends nothing to the error action`);
        }
        return;
      }
      if (output === undefined) return;
      stats.actedOn++;
      const failed: Array<{ failedAction: string; failedResource: string; errorMessage: string }> = [];
      await Promise.all(rule.kinesisActions.map(async (action) => {
        const streamName = renderTemplate(action.streamName, message);
        const partitionKey = action.partitionKey ? renderTemplate(action.partitionKey, message) : randomUUID();
        try {
          const out = await this.deps.kinesis.send(new PutRecordCommand({ StreamName: streamName, PartitionKey: partitionKey, Data: output }));
          stats.recordsPut++;
          records.push({ rule: rule.ruleName, streamName, partitionKey, shardId: out.ShardId!, sequenceNumber: out.SequenceNumber! });
        } catch (err) {
          stats.actionFailures++;
          const e = err as Error & { $metadata?: { httpStatusCode?: number; requestId?: string } };
          const errorMessage = `Failed to put record in Kinesis stream. The error received was ${e.message} (Service: AmazonKinesis; `
            + `Status Code: ${e.$metadata?.httpStatusCode ?? 'none'}; Error Code: ${e.name}; Request ID: ${e.$metadata?.requestId ?? 'none'}). `
            + `Message arrived on: ${topic}, Action: kinesis, StreamName: ${streamName}, PartitionKey: ${partitionKey}`;
          failed.push({ failedAction: 'KinesisAction', failedResource: streamName, errorMessage });
          failures.push({ rule: rule.ruleName, errorMessage });
        }
      }));
      if (failed.length) this.sendToErrorAction(rule, topic, payload, clientId, failed);
    }));
    return { rulesMatched: matching.length, records, failures };
  }

  private sendToErrorAction(
    rule: TopicRulePlan, topic: string, payload: Buffer, clientId: string,
    failures: Array<{ failedAction: string; failedResource: string; errorMessage: string }>,
  ): void {
    const stats = this.stats.get(rule.ruleName)!;
    const message: ErrorActionMessage = {
      ruleName: rule.ruleName,
      topic,
      cloudwatchTraceId: randomUUID(),
      clientId,
      base64OriginalPayload: payload.toString('base64'),
      failures,
    };
    const errorAction = rule.errorAction;
    if (errorAction?.kind === 'cloudwatch-logs') {
      stats.errorActionMessages++;
      this.deps.logError(errorAction.logGroupName, message);
      return;
    }
    const why = errorAction ? `its ${errorAction.type} error action does not run locally` : 'it has no error action';
    this.deps.warn(`${rule.path}: an action failed on a message on ${topic} and ${why}: ${failures.map((f) => f.errorMessage).join('; ')}`);
  }

  /**
   * The data plane's Publish (restJson1): `POST /topics/{topic}?qos=&retain=`,
   * the payload as the body; 200 with no body, or an error with
   * `x-amzn-ErrorType` and `{"message"}`. Answers true when the request was one.
   */
  async serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL, extraHeaders: http.OutgoingHttpHeaders): Promise<boolean> {
    if (!url.pathname.startsWith('/topics/')) return false;
    const fail = (status: number, type: string, message: string) => {
      const body = Buffer.from(JSON.stringify({ message }));
      res.writeHead(status, {
        ...extraHeaders, 'content-type': 'application/json', 'content-length': body.length, 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID(),
      });
      res.end(body);
      return true;
    };
    if (req.method !== 'POST') return fail(405, 'MethodNotAllowedException', `${req.method} is not allowed on /topics/{topic}: publish with POST`);
    let topic: string;
    try {
      // The SDK encodes the topic's slashes (%2F); some clients send them as they are.
      topic = decodeURIComponent(url.pathname.slice('/topics/'.length));
    } catch {
      return fail(400, 'InvalidRequestException', 'the topic is not valid percent-encoding');
    }
    const problem = publishTopicProblem(topic);
    if (problem) return fail(400, 'InvalidRequestException', problem);
    const qos = url.searchParams.get('qos');
    if (qos !== null && qos !== '0' && qos !== '1') return fail(400, 'InvalidRequestException', `qos ${qos}: the QoS of a published message is 0 or 1`);
    const retain = url.searchParams.get('retain');
    if (retain !== null && retain !== 'true' && retain !== 'false') return fail(400, 'InvalidRequestException', `retain ${retain} is not a boolean`);
    const payload = await readBody(req);
    if (payload.length > MAX_PAYLOAD_BYTES) {
      return fail(413, 'RequestEntityTooLargeException', `the payload is ${payload.length} bytes; AWS IoT takes ${MAX_PAYLOAD_BYTES} at most`);
    }
    await this.publish(topic, payload);
    res.writeHead(200, { ...extraHeaders, 'content-type': 'application/json', 'content-length': 0, 'x-amzn-requestid': randomUUID() });
    res.end();
    return true;
  }
}
