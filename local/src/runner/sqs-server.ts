/**
 * A local SQS for the SDK v3 client, which speaks AWS JSON 1.0
 * (`X-Amz-Target: AmazonSQS.<Operation>`): no npm SQS server does (sqslite
 * speaks only the query protocol and answers 415). Standard queues only,
 * with visibility timeouts, delays, long polling, retention, redrive to a
 * dead-letter queue, message attributes and the MD5 digests the SDK checks.
 *
 * It refuses what SQS refuses: a body or string attribute with a character
 * outside XML's (InvalidMessageContents), a message larger than its queue's
 * MaximumMessageSize (262,144 bytes unless the queue says otherwise: SQS's
 * limit and default for years; it has allowed up to 1 MiB since 2025), a batch
 * larger than that together, and parameters out of their range (a long poll
 * of 20 s at most, a visibility timeout of 12 hours at most, ...).
 */
import { createHash, randomBytes, randomUUID } from 'crypto';
import { AwsError, AwsJsonService } from './aws-json';

export interface QueueSettings {
  readonly visibilityTimeoutSeconds?: number;
  readonly messageRetentionSeconds?: number;
  readonly delaySeconds?: number;
  readonly receiveWaitTimeSeconds?: number;
  readonly maximumMessageSize?: number;
  readonly redrive?: { readonly deadLetterTargetArn: string; readonly maxReceiveCount: number };
}

interface MessageAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

export interface StoredMessage {
  readonly messageId: string;
  readonly body: string;
  readonly attributes: Record<string, MessageAttribute>;
  readonly sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  receiptHandle?: string;
}

interface Queue {
  readonly name: string;
  readonly arn: string;
  readonly createdAt: number;
  readonly settings: Required<Omit<QueueSettings, 'redrive'>> & Pick<QueueSettings, 'redrive'>;
  messages: StoredMessage[];
  /** Receives waiting on an empty queue (long polling). */
  waiters: Set<() => void>;
  /** Messages ever sent, for progress reports. */
  sent: number;
}

const NON_EXISTENT = 'AWS.SimpleQueueService.NonExistentQueue;Sender';

/** SQS's ranges for a queue's MaximumMessageSize: 1 KiB to 1 MiB. */
export const MESSAGE_SIZE_RANGE = { min: 1_024, max: 1_048_576 };

/**
 * The characters SQS allows in a message (XML 1.0's): #x9, #xA, #xD, #x20 to
 * #xD7FF, #xE000 to #xFFFD and #x10000 to #x10FFFF. With the u flag a lone
 * surrogate is a code point of its own, outside every range.
 */
const NOT_ALLOWED = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** The first character of `text` SQS does not allow, as U+XXXX, or undefined. */
export function disallowedCharacter(text: string): string | undefined {
  const m = NOT_ALLOWED.exec(text);
  return m ? `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : undefined;
}

export interface SqsSnapshot {
  readonly queues: Array<{ name: string; createdAt: number; messages: StoredMessage[]; sent: number }>;
}

export class SqsServer implements AwsJsonService {
  readonly targetPrefix = 'AmazonSQS';
  readonly namespace = 'com.amazonaws.sqs';
  private readonly queues = new Map<string, Queue>();
  private restored = new Map<string, SqsSnapshot['queues'][number]>();

  constructor(
    private readonly region: string,
    private readonly account: string,
    /** The endpoint queue URLs start with. */
    private readonly endpoint: () => string,
  ) {}

  queueUrl(name: string): string {
    return `${this.endpoint()}/${this.account}/${name}`;
  }

  queueArn(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.account}:${name}`;
  }

  createQueue(name: string, settings: QueueSettings = {}): void {
    if (this.queues.has(name)) return;
    const saved = this.restored.get(name);
    this.queues.set(name, {
      name,
      arn: this.queueArn(name),
      createdAt: saved?.createdAt ?? Date.now(),
      settings: {
        visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds ?? 30,
        messageRetentionSeconds: settings.messageRetentionSeconds ?? 345_600,
        delaySeconds: settings.delaySeconds ?? 0,
        receiveWaitTimeSeconds: settings.receiveWaitTimeSeconds ?? 0,
        // The limit SQS had for years; the pipeline's handlers keep under it.
        maximumMessageSize: settings.maximumMessageSize ?? 262_144,
        redrive: settings.redrive,
      },
      messages: saved?.messages ?? [],
      waiters: new Set(),
      sent: saved?.sent ?? 0,
    });
  }

  /** Messages and counts of a queue, for the run's progress and tests. */
  stats(name: string): { visible: number; inFlight: number; delayed: number; sent: number } {
    const q = this.byName(name);
    this.expire(q);
    const now = Date.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const m of q.messages) {
      if (m.visibleAt <= now) visible++;
      else if (m.receiveCount > 0) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed, sent: q.sent };
  }

  /** Every message body of a queue, without receiving them. */
  peekAll(name: string): string[] {
    return this.byName(name).messages.map((m) => m.body);
  }

  queueNames(): string[] {
    return [...this.queues.keys()];
  }

  /** Sends a message from inside the run (the event source mapping's on-failure destination). */
  sendInternal(queueArn: string, body: string): void {
    const q = [...this.queues.values()].find((x) => x.arn === queueArn);
    if (!q) throw new Error(`no local queue has the ARN ${queueArn}`);
    this.enqueue(q, body, {}, q.settings.delaySeconds);
  }

  snapshot(): SqsSnapshot {
    return { queues: [...this.queues.values()].map((q) => ({ name: q.name, createdAt: q.createdAt, messages: q.messages, sent: q.sent })) };
  }

  /** Messages kept by an earlier run, given back to each queue when it is created. */
  restore(snapshot: SqsSnapshot): void {
    this.restored = new Map(snapshot.queues.map((q) => [q.name, q]));
  }

  /** Ends pending long polls (on shutdown). */
  close(): void {
    for (const q of this.queues.values()) for (const wake of q.waiters) wake();
  }

  async handle(operation: string, input: Record<string, unknown>): Promise<unknown> {
    switch (operation) {
      case 'CreateQueue': {
        const name = requiredString(input, 'QueueName');
        const attrs = stringMap(input.Attributes, 'Attributes');
        if (attrs.FifoQueue === 'true' || name.endsWith('.fifo')) throw new AwsError('InvalidParameterValue', 'FIFO queues are not emulated locally');
        const attribute = (key: string, min: number, max: number) => {
          const v = optionalNumber(attrs[key]);
          if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) {
            throw new AwsError('InvalidAttributeValue', `Invalid value for the parameter ${key}: ${attrs[key]} is not an integer from ${min} to ${max}`,
              400, 'InvalidAttributeValue;Sender');
          }
          return v;
        };
        this.createQueue(name, {
          visibilityTimeoutSeconds: attribute('VisibilityTimeout', 0, 43_200),
          messageRetentionSeconds: attribute('MessageRetentionPeriod', 60, 1_209_600),
          delaySeconds: attribute('DelaySeconds', 0, 900),
          receiveWaitTimeSeconds: attribute('ReceiveMessageWaitTimeSeconds', 0, 20),
          maximumMessageSize: attribute('MaximumMessageSize', MESSAGE_SIZE_RANGE.min, MESSAGE_SIZE_RANGE.max),
        });
        return { QueueUrl: this.queueUrl(name) };
      }
      case 'GetQueueUrl': {
        const name = requiredString(input, 'QueueName');
        this.byName(name);
        return { QueueUrl: this.queueUrl(name) };
      }
      case 'ListQueues': {
        const prefix = String(input.QueueNamePrefix ?? '');
        return { QueueUrls: [...this.queues.keys()].filter((n) => n.startsWith(prefix)).map((n) => this.queueUrl(n)) };
      }
      case 'GetQueueAttributes': return this.getAttributes(this.byUrl(input), stringList(input.AttributeNames, 'AttributeNames') ?? ['All']);
      case 'PurgeQueue': {
        this.byUrl(input).messages = [];
        return {};
      }
      case 'SendMessage': {
        const q = this.byUrl(input);
        const body = requiredString(input, 'MessageBody');
        const attributes = messageAttributes(input.MessageAttributes);
        this.checkMessage(q, body, attributes);
        const m = this.enqueue(q, body, attributes, delaySeconds(input.DelaySeconds) ?? q.settings.delaySeconds);
        return { MessageId: m.messageId, MD5OfMessageBody: md5(body), ...md5Attributes(attributes) };
      }
      case 'SendMessageBatch': {
        const q = this.byUrl(input);
        const entries = checkBatch(input.Entries);
        const total = entries.reduce((n, e) => n + (typeof e.MessageBody === 'string' ? Buffer.byteLength(e.MessageBody) : 0), 0);
        if (total > q.settings.maximumMessageSize) {
          throw new AwsError('BatchRequestTooLong', `the batch is ${total} bytes, over the ${q.settings.maximumMessageSize} bytes allowed`,
            400, 'AWS.SimpleQueueService.BatchRequestTooLong;Sender');
        }
        const Successful: unknown[] = [];
        const Failed: unknown[] = [];
        for (const e of entries) {
          let body: string;
          let attributes: Record<string, MessageAttribute>;
          let delay: number | undefined;
          try {
            if (typeof e.MessageBody !== 'string' || !e.MessageBody) throw new AwsError('MissingParameter', 'the message body must not be empty');
            body = e.MessageBody;
            attributes = messageAttributes(e.MessageAttributes);
            delay = delaySeconds(e.DelaySeconds);
            this.checkMessage(q, body, attributes);
          } catch (err) {
            if (!(err instanceof AwsError)) throw err;
            Failed.push({ Id: e.Id, SenderFault: true, Code: err.code, Message: err.message });
            continue;
          }
          const m = this.enqueue(q, body, attributes, delay ?? q.settings.delaySeconds);
          Successful.push({ Id: e.Id, MessageId: m.messageId, MD5OfMessageBody: md5(body), ...md5Attributes(attributes) });
        }
        return { Successful, Failed };
      }
      case 'ReceiveMessage': return this.receive(this.byUrl(input), input);
      case 'DeleteMessage': {
        const q = this.byUrl(input);
        this.deleteByHandle(q, requiredString(input, 'ReceiptHandle'));
        return {};
      }
      case 'DeleteMessageBatch': {
        const q = this.byUrl(input);
        const Successful: unknown[] = [];
        const Failed: unknown[] = [];
        for (const e of checkBatch(input.Entries)) {
          try {
            this.deleteByHandle(q, typeof e.ReceiptHandle === 'string' ? e.ReceiptHandle : '');
            Successful.push({ Id: e.Id });
          } catch (err) {
            if (!(err instanceof AwsError)) throw err;
            Failed.push({ Id: e.Id, SenderFault: true, Code: err.code, Message: err.message });
          }
        }
        return { Successful, Failed };
      }
      case 'ChangeMessageVisibility': {
        const q = this.byUrl(input);
        const m = this.byHandle(q, requiredString(input, 'ReceiptHandle'));
        m.visibleAt = Date.now() + (inRange(input.VisibilityTimeout, 'VisibilityTimeout', 0, 43_200) ?? 0) * 1000;
        return {};
      }
      default:
        throw new AwsError('UnsupportedOperation', `SQS ${operation} is not emulated locally`);
    }
  }

  private enqueue(q: Queue, body: string, attributes: Record<string, MessageAttribute>, delaySeconds: number): StoredMessage {
    const now = Date.now();
    const m: StoredMessage = { messageId: randomUUID(), body, attributes, sentAt: now, visibleAt: now + delaySeconds * 1000, receiveCount: 0 };
    q.messages.push(m);
    q.sent++;
    for (const wake of q.waiters) wake();
    return m;
  }

  /** A message's size as SQS counts it (body, and each attribute's name, type and value) and its characters. */
  private checkMessage(q: Queue, body: string, attributes: Record<string, MessageAttribute>): void {
    const size = Buffer.byteLength(body) + Object.entries(attributes).reduce((n, [k, a]) => n + Buffer.byteLength(k) + Buffer.byteLength(a.DataType)
      + (a.BinaryValue !== undefined ? Buffer.from(a.BinaryValue, 'base64').length : Buffer.byteLength(a.StringValue ?? '')), 0);
    if (size > q.settings.maximumMessageSize) {
      throw new AwsError('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${q.settings.maximumMessageSize} bytes; it is ${size}.`,
        400, 'InvalidParameterValue;Sender');
    }
    const bad = disallowedCharacter(body);
    if (bad) {
      throw new AwsError('InvalidMessageContents', `Invalid characters found: the message body holds ${bad}, outside #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`,
        400, 'InvalidMessageContents;Sender');
    }
    for (const [name, a] of Object.entries(attributes)) {
      const badInAttribute = a.StringValue === undefined ? undefined : disallowedCharacter(a.StringValue);
      if (badInAttribute) {
        throw new AwsError('InvalidParameterValue', `Message (user) attribute '${name}' value contains invalid characters: ${badInAttribute}`,
          400, 'InvalidParameterValue;Sender');
      }
    }
  }

  private async receive(q: Queue, input: Record<string, unknown>): Promise<unknown> {
    const max = inRange(input.MaxNumberOfMessages, 'MaxNumberOfMessages', 1, 10) ?? 1;
    const waitSeconds = inRange(input.WaitTimeSeconds, 'WaitTimeSeconds', 0, 20) ?? q.settings.receiveWaitTimeSeconds;
    const visibility = inRange(input.VisibilityTimeout, 'VisibilityTimeout', 0, 43_200) ?? q.settings.visibilityTimeoutSeconds;
    const deadline = Date.now() + waitSeconds * 1000;
    let taken = this.take(q, max, visibility);
    while (taken.length === 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          q.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        // Also wakes when delayed or in-flight messages become visible.
        const timer = setTimeout(wake, Math.min(200, Math.max(0, deadline - Date.now())));
        q.waiters.add(wake);
      });
      taken = this.take(q, max, visibility);
    }
    const systemNames = [...(stringList(input.AttributeNames, 'AttributeNames') ?? []), ...(stringList(input.MessageSystemAttributeNames, 'MessageSystemAttributeNames') ?? [])];
    const attributeNames = stringList(input.MessageAttributeNames, 'MessageAttributeNames') ?? [];
    return { Messages: taken.map((m) => this.toMessage(m, systemNames, attributeNames)) };
  }

  private take(q: Queue, max: number, visibility: number): StoredMessage[] {
    this.expire(q);
    const now = Date.now();
    const out: StoredMessage[] = [];
    for (const m of [...q.messages]) {
      if (out.length >= max) break;
      if (m.visibleAt > now) continue;
      if (q.settings.redrive && m.receiveCount >= q.settings.redrive.maxReceiveCount) {
        const target = [...this.queues.values()].find((x) => x.arn === q.settings.redrive!.deadLetterTargetArn);
        if (target) {
          q.messages.splice(q.messages.indexOf(m), 1);
          target.messages.push({ ...m, visibleAt: now, receiveCount: 0, firstReceivedAt: undefined, receiptHandle: undefined });
          target.sent++;
          continue;
        }
      }
      m.receiveCount++;
      m.firstReceivedAt ??= now;
      m.visibleAt = now + visibility * 1000;
      m.receiptHandle = randomBytes(24).toString('base64url') + '.' + m.messageId;
      out.push(m);
    }
    return out;
  }

  private toMessage(m: StoredMessage, systemNames: string[], attributeNames: string[]): Record<string, unknown> {
    const all = systemNames.includes('All');
    const system: Record<string, string> = {
      SenderId: this.account,
      SentTimestamp: String(m.sentAt),
      ApproximateReceiveCount: String(m.receiveCount),
      ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt ?? m.sentAt),
    };
    const Attributes = Object.fromEntries(Object.entries(system).filter(([k]) => all || systemNames.includes(k)));
    const wanted = Object.entries(m.attributes).filter(([k]) =>
      attributeNames.some((n) => n === 'All' || n === '.*' || n === k || (n.endsWith('.*') && k.startsWith(n.slice(0, -1)))));
    const MessageAttributes = Object.fromEntries(wanted);
    return {
      MessageId: m.messageId,
      ReceiptHandle: m.receiptHandle,
      Body: m.body,
      MD5OfBody: md5(m.body),
      ...(Object.keys(Attributes).length ? { Attributes } : {}),
      ...(wanted.length ? { MessageAttributes, MD5OfMessageAttributes: md5Attributes(MessageAttributes).MD5OfMessageAttributes } : {}),
    };
  }

  private deleteByHandle(q: Queue, handle: string): void {
    const m = this.byHandle(q, handle);
    q.messages.splice(q.messages.indexOf(m), 1);
  }

  private byHandle(q: Queue, handle: string): StoredMessage {
    // A handle names its message: deleting with an older handle of the same message works, as in SQS.
    const id = handle.split('.').pop();
    const m = q.messages.find((x) => x.messageId === id);
    if (!m) throw new AwsError('ReceiptHandleIsInvalid', `the receipt handle ${handle} is not valid`);
    return m;
  }

  private expire(q: Queue): void {
    const oldest = Date.now() - q.settings.messageRetentionSeconds * 1000;
    if (q.messages.length && q.messages[0].sentAt < oldest) q.messages = q.messages.filter((m) => m.sentAt >= oldest);
  }

  private getAttributes(q: Queue, names: string[]): unknown {
    const s = this.stats(q.name);
    const all: Record<string, string> = {
      QueueArn: q.arn,
      ApproximateNumberOfMessages: String(s.visible),
      ApproximateNumberOfMessagesNotVisible: String(s.inFlight),
      ApproximateNumberOfMessagesDelayed: String(s.delayed),
      CreatedTimestamp: String(Math.floor(q.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(q.createdAt / 1000)),
      VisibilityTimeout: String(q.settings.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(q.settings.messageRetentionSeconds),
      DelaySeconds: String(q.settings.delaySeconds),
      ReceiveMessageWaitTimeSeconds: String(q.settings.receiveWaitTimeSeconds),
      MaximumMessageSize: String(q.settings.maximumMessageSize),
      ...(q.settings.redrive ? { RedrivePolicy: JSON.stringify(q.settings.redrive) } : {}),
    };
    const wanted = names.includes('All') ? Object.keys(all) : names;
    return { Attributes: Object.fromEntries(wanted.filter((n) => n in all).map((n) => [n, all[n]])) };
  }

  private byName(name: string): Queue {
    const q = this.queues.get(name);
    if (!q) throw new AwsError('QueueDoesNotExist', `the queue ${name} does not exist`, 400, NON_EXISTENT);
    return q;
  }

  private byUrl(input: Record<string, unknown>): Queue {
    const url = requiredString(input, 'QueueUrl');
    return this.byName(url.split('/').pop() ?? '');
  }
}

function requiredString(input: Record<string, unknown>, member: string): string {
  const v = input[member];
  if (typeof v !== 'string' || v === '') {
    throw new AwsError('MissingParameter', `the request must contain the parameter ${member}`, 400, 'AWS.SimpleQueueService.MissingParameter;Sender');
  }
  return v;
}

function optionalNumber(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new AwsError('InvalidParameterValue', `${String(v)} is not a number`);
  return n;
}

/** An integer parameter within SQS's range for it, or undefined when absent. */
function inRange(v: unknown, member: string, min: number, max: number): number | undefined {
  const n = optionalNumber(v);
  if (n !== undefined && !(Number.isInteger(n) && n >= min && n <= max)) {
    throw new AwsError('InvalidParameterValue', `Value ${String(v)} for parameter ${member} is invalid. Reason: it must be an integer from ${min} to ${max}.`,
      400, 'InvalidParameterValue;Sender');
  }
  return n;
}

const delaySeconds = (v: unknown) => inRange(v, 'DelaySeconds', 0, 900);

function stringList(v: unknown, member: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new AwsError('InvalidParameterValue', `${member} must be a list of strings`, 400, 'InvalidParameterValue;Sender');
  return v as string[];
}

function stringMap(v: unknown, member: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw new AwsError('InvalidParameterValue', `${member} must be a map of strings`, 400, 'InvalidParameterValue;Sender');
  }
  return v as Record<string, string>;
}

/** Message attributes as SQS takes them: at most 10, each a DataType with a StringValue or a BinaryValue. */
function messageAttributes(v: unknown): Record<string, MessageAttribute> {
  if (v === undefined || v === null) return {};
  const invalid = (why: string) => new AwsError('InvalidParameterValue', `MessageAttributes: ${why}`, 400, 'InvalidParameterValue;Sender');
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid('not a map of attributes');
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 10) throw invalid(`${entries.length} attributes; a message has at most 10`);
  for (const [name, a] of entries) {
    if (a === null || typeof a !== 'object' || Array.isArray(a)) throw invalid(`${name} is not an attribute`);
    const { DataType, StringValue, BinaryValue } = a as Record<string, unknown>;
    if (typeof DataType !== 'string' || !/^(String|Number|Binary)(\..+)?$/.test(DataType)) throw invalid(`${name} has no DataType String, Number or Binary`);
    const value = DataType.startsWith('Binary') ? BinaryValue : StringValue;
    if (typeof value !== 'string' || value === '') throw invalid(`${name} has no ${DataType.startsWith('Binary') ? 'BinaryValue' : 'StringValue'}`);
  }
  return v as Record<string, MessageAttribute>;
}

function checkBatch(entries: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new AwsError('EmptyBatchRequest', 'the batch request does not contain an entry', 400, 'AWS.SimpleQueueService.EmptyBatchRequest;Sender');
  }
  if (entries.length > 10) {
    throw new AwsError('TooManyEntriesInBatchRequest', 'a batch holds at most 10 entries', 400, 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender');
  }
  if (entries.some((e) => e === null || typeof e !== 'object' || Array.isArray(e) || typeof e.Id !== 'string' || !/^[\w-]{1,80}$/.test(e.Id))) {
    throw new AwsError('InvalidBatchEntryId', 'each entry of a batch needs an Id of 1 to 80 letters, digits, hyphens and underscores', 400,
      'AWS.SimpleQueueService.InvalidBatchEntryId;Sender');
  }
  const ids = new Set(entries.map((e: { Id?: unknown }) => e.Id));
  if (ids.size !== entries.length) {
    throw new AwsError('BatchEntryIdsNotDistinct', 'two entries of the batch have the same Id', 400, 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct;Sender');
  }
  return entries as Array<Record<string, unknown>>;
}

export function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/**
 * SQS's digest of message attributes: for each attribute in name order, its
 * name, data type, a transport byte (1 for String and Number, 2 for Binary)
 * and its value, each length-prefixed (4 bytes, big-endian), all hashed with MD5.
 */
export function md5Attributes(attributes: Record<string, MessageAttribute>): { MD5OfMessageAttributes?: string } {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return {};
  const hash = createHash('md5');
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    hash.update(len);
    hash.update(b);
  };
  for (const name of names) {
    const a = attributes[name];
    field(Buffer.from(name, 'utf8'));
    field(Buffer.from(a.DataType, 'utf8'));
    if (a.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      field(Buffer.from(a.BinaryValue, 'base64'));
    } else {
      hash.update(Buffer.from([1]));
      field(Buffer.from(a.StringValue ?? '', 'utf8'));
    }
  }
  return { MD5OfMessageAttributes: hash.digest('hex') };
}
