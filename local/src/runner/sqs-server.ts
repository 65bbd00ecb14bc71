/**
 * A local SQS for the SDK v3 client, which speaks AWS JSON 1.0
 * (`X-Amz-Target: AmazonSQS.<Operation>`): no npm SQS server does (sqslite
 * speaks only the query protocol and answers 415). Standard queues only,
 * with visibility timeouts, delays, long polling, retention, redrive to a
 * dead-letter queue, message attributes and the MD5 digests the SDK checks.
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
        const attrs = (input.Attributes ?? {}) as Record<string, string>;
        if (attrs.FifoQueue === 'true' || name.endsWith('.fifo')) throw new AwsError('InvalidParameterValue', 'FIFO queues are not emulated locally');
        this.createQueue(name, {
          visibilityTimeoutSeconds: optionalNumber(attrs.VisibilityTimeout),
          messageRetentionSeconds: optionalNumber(attrs.MessageRetentionPeriod),
          delaySeconds: optionalNumber(attrs.DelaySeconds),
          receiveWaitTimeSeconds: optionalNumber(attrs.ReceiveMessageWaitTimeSeconds),
          maximumMessageSize: optionalNumber(attrs.MaximumMessageSize),
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
      case 'GetQueueAttributes': return this.getAttributes(this.byUrl(input), (input.AttributeNames as string[] | undefined) ?? ['All']);
      case 'PurgeQueue': {
        this.byUrl(input).messages = [];
        return {};
      }
      case 'SendMessage': {
        const q = this.byUrl(input);
        const body = requiredString(input, 'MessageBody');
        const attributes = (input.MessageAttributes ?? {}) as Record<string, MessageAttribute>;
        this.checkMessage(q, body, attributes);
        const m = this.enqueue(q, body, attributes, optionalNumber(input.DelaySeconds) ?? q.settings.delaySeconds);
        return { MessageId: m.messageId, MD5OfMessageBody: md5(body), ...md5Attributes(attributes) };
      }
      case 'SendMessageBatch': {
        const q = this.byUrl(input);
        const entries = checkBatch(input.Entries);
        const total = entries.reduce((n, e) => n + Buffer.byteLength(String(e.MessageBody ?? '')), 0);
        if (total > q.settings.maximumMessageSize) {
          throw new AwsError('BatchRequestTooLong', `the batch is ${total} bytes, over the ${q.settings.maximumMessageSize} bytes allowed`,
            400, 'AWS.SimpleQueueService.BatchRequestTooLong;Sender');
        }
        const Successful: unknown[] = [];
        const Failed: unknown[] = [];
        for (const e of entries) {
          const body = String(e.MessageBody ?? '');
          const attributes = (e.MessageAttributes ?? {}) as Record<string, MessageAttribute>;
          try {
            if (!body) throw new AwsError('MissingParameter', 'the message body must not be empty');
            this.checkMessage(q, body, attributes);
          } catch (err) {
            Failed.push({ Id: e.Id, SenderFault: true, Code: (err as AwsError).code, Message: (err as Error).message });
            continue;
          }
          const m = this.enqueue(q, body, attributes, optionalNumber(e.DelaySeconds) ?? q.settings.delaySeconds);
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
            this.deleteByHandle(q, String(e.ReceiptHandle ?? ''));
            Successful.push({ Id: e.Id });
          } catch (err) {
            Failed.push({ Id: e.Id, SenderFault: true, Code: (err as AwsError).code, Message: (err as Error).message });
          }
        }
        return { Successful, Failed };
      }
      case 'ChangeMessageVisibility': {
        const q = this.byUrl(input);
        const m = this.byHandle(q, requiredString(input, 'ReceiptHandle'));
        m.visibleAt = Date.now() + Number(input.VisibilityTimeout ?? 0) * 1000;
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

  private checkMessage(q: Queue, body: string, attributes: Record<string, MessageAttribute>): void {
    const size = Buffer.byteLength(body) + Object.entries(attributes)
      .reduce((n, [k, a]) => n + Buffer.byteLength(k) + Buffer.byteLength(a.DataType) + Buffer.byteLength(a.StringValue ?? a.BinaryValue ?? ''), 0);
    if (size > q.settings.maximumMessageSize) {
      throw new AwsError('InvalidParameterValue', `the message is ${size} bytes, over the ${q.settings.maximumMessageSize} bytes allowed`);
    }
    // SQS accepts only these characters in a body (XML 1.0's).
    if (/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\uD800-\uDBFF\uDC00-\uDFFF]/.test(body)) {
      throw new AwsError('InvalidMessageContents', 'the message holds characters outside the allowed set');
    }
  }

  private async receive(q: Queue, input: Record<string, unknown>): Promise<unknown> {
    const max = optionalNumber(input.MaxNumberOfMessages) ?? 1;
    if (!(max >= 1 && max <= 10)) throw new AwsError('InvalidParameterValue', 'MaxNumberOfMessages must be between 1 and 10');
    const waitSeconds = optionalNumber(input.WaitTimeSeconds) ?? q.settings.receiveWaitTimeSeconds;
    const visibility = optionalNumber(input.VisibilityTimeout) ?? q.settings.visibilityTimeoutSeconds;
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
    const systemNames = [...((input.AttributeNames as string[]) ?? []), ...((input.MessageSystemAttributeNames as string[]) ?? [])];
    const attributeNames = (input.MessageAttributeNames as string[]) ?? [];
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

function checkBatch(entries: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new AwsError('EmptyBatchRequest', 'the batch request does not contain an entry', 400, 'AWS.SimpleQueueService.EmptyBatchRequest;Sender');
  }
  if (entries.length > 10) {
    throw new AwsError('TooManyEntriesInBatchRequest', 'a batch holds at most 10 entries', 400, 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender');
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
