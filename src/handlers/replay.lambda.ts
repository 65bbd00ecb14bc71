import { Logger } from '@aws-lambda-powertools/logger';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteMessageCommand, Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { CLIENT_DEFAULTS } from './environment';
import { compareSequenceNumbers, FailedBatch, functionNameOf, InvokeResponse, parseFailureMessage, parseStreamArn, RangeResult, replayRange } from './replay';
import { readSettings, REPLAY_SETTINGS } from '../private/handler-contract';

export interface ReplayHandlerDeps {
  readonly sqs: SQSClient;
  readonly kinesis: KinesisClient;
  readonly lambda: LambdaClient;
  readonly queueUrl: string;
  /** The stream's ARN: messages naming another stream are refused. */
  readonly streamArn: string;
  readonly targetFunction: string;
  readonly invokeIdentityArn: string;
  readonly batchSize: number;
  readonly reportBatchItemFailures: boolean;
  readonly targetTimeoutSeconds: number;
  readonly logger: Logger;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What a run may be asked: `{}`, or `{"maxMessages": n}` to replay at most n messages. */
export interface ReplayRequest {
  readonly maxMessages?: number;
}

/** A range that is no longer (wholly) in the stream. */
export interface TrimmedRange {
  readonly messageId: string;
  readonly shardId: string;
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  /** The range's first record still in the stream, when part of it is. */
  readonly firstAvailable?: string;
  readonly reason: string;
}

/** A message left in the queue, and why. */
export interface LeftMessage {
  readonly messageId: string;
  readonly shardId?: string;
  readonly startSequenceNumber?: string;
  readonly endSequenceNumber?: string;
  readonly reason: string;
}

export interface ReplaySummary {
  readonly statusCode: 200;
  /** Messages received from the failed-batches queue. */
  readonly messages: number;
  /** Messages whose whole range was replayed, deleted from the queue. */
  readonly replayed: number;
  /** Records the function finished (redeliveries of a partial batch response counted once). */
  readonly records: number;
  readonly invocations: number;
  /** Ranges no longer (wholly) in the stream: their messages stay in the queue, for a person to look at. */
  readonly trimmed: TrimmedRange[];
  /** Every message left in the queue (trimmed ones included), with the reason. Visible again once this run has ended. */
  readonly left: LeftMessage[];
  /** Why the run ended. */
  readonly stoppedBecause: 'no message to receive' | 'maxMessages were received' | 'the time of this invocation is running out';
}

export interface BadRequest {
  readonly statusCode: 400;
  readonly error: string;
}

/** Time kept free at the end of the run to delete a message and answer. */
const END_MARGIN_MS = 5_000;
/** Waiting for an invocation longer than five minutes is left to the next run: the rest of this one is worth more. */
const MAX_INVOCATION_RESERVE_MS = 300_000;
/** Lists in the answer stop here: Lambda answers at most 6 MB. */
const MAX_LISTED = 100;

export function parseRequest(event: unknown): { ok: true; request: ReplayRequest } | { ok: false; error: string } {
  if (event === null || event === undefined || event === '') return { ok: true, request: {} };
  if (typeof event !== 'object' || Array.isArray(event)) return { ok: false, error: 'the request must be a JSON object: {} or {"maxMessages": <1 to 10000>}' };
  const unknown = Object.keys(event).filter((k) => k !== 'maxMessages');
  if (unknown.length > 0) return { ok: false, error: `unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}: the request takes only maxMessages` };
  const max = (event as { maxMessages?: unknown }).maxMessages;
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 10_000)) {
    return { ok: false, error: `maxMessages must be an integer from 1 to 10000, got ${JSON.stringify(max)}` };
  }
  return { ok: true, request: max === undefined ? {} : { maxMessages: max } };
}

/**
 * Replays the failed-batches queue: receives its messages, replays each range
 * from the stream into the function, deletes a message once its whole range
 * is done and leaves it otherwise. Each message is tried once per run, so a
 * batch that fails for a lasting reason never loops; a message left becomes
 * visible again when the run ends.
 */
export async function replayFailedBatches(event: unknown, deps: ReplayHandlerDeps, remainingMs: () => number): Promise<ReplaySummary | BadRequest> {
  const parsed = parseRequest(event);
  if (!parsed.ok) return { statusCode: 400, error: parsed.error };
  const maxMessages = parsed.request.maxMessages ?? Number.POSITIVE_INFINITY;
  const expectedStream = parseStreamArn(deps.streamArn)?.streamArn ?? deps.streamArn;
  const targetName = functionNameOf(deps.targetFunction);
  const timeLeft = () => remainingMs() - END_MARGIN_MS;
  const reserve = Math.min(deps.targetTimeoutSeconds * 1000, MAX_INVOCATION_RESERVE_MS);
  const invoke = async (e: KinesisStreamEvent): Promise<InvokeResponse> => {
    // The answer is not waited for past the end of the run; the function still finishes the batch.
    const out = await deps.lambda.send(new InvokeCommand({
      FunctionName: deps.targetFunction,
      InvocationType: 'RequestResponse',
      Payload: Buffer.from(JSON.stringify(e), 'utf8'),
    }), { abortSignal: AbortSignal.timeout(Math.max(1, timeLeft())) });
    return { functionError: out.FunctionError, payload: out.Payload ? Buffer.from(out.Payload).toString('utf8') : '' };
  };

  let messages = 0;
  let replayed = 0;
  let records = 0;
  let invocations = 0;
  const trimmed: TrimmedRange[] = [];
  const left: LeftMessage[] = [];
  const leave = (m: LeftMessage) => left.push(m);
  let stoppedBecause: ReplaySummary['stoppedBecause'] = 'no message to receive';

  const handle = async (message: Message, batch: FailedBatch | undefined, reason?: string): Promise<RangeResult | undefined> => {
    const id = message.MessageId ?? '';
    if (!batch) {
      leave({ messageId: id, reason: reason! });
      return undefined;
    }
    const range = { messageId: id, ...rangeOf(batch) };
    if (parseStreamArn(batch.streamArn)?.streamArn !== expectedStream) {
      leave({ ...range, reason: `the range is of the stream ${batch.streamArn}, not of ${deps.streamArn}` });
      return undefined;
    }
    if (batch.functionArn && functionNameOf(batch.functionArn) !== targetName) {
      leave({ ...range, reason: `the batch failed in the function ${batch.functionArn}, not in ${deps.targetFunction}` });
      return undefined;
    }
    const result = await replayRange(batch, {
      kinesis: deps.kinesis,
      invoke,
      batchSize: deps.batchSize,
      reportBatchItemFailures: deps.reportBatchItemFailures,
      invokeIdentityArn: deps.invokeIdentityArn,
      timeLeft,
      invocationReserveMs: reserve,
      sleep: deps.sleep,
    });
    records += result.records;
    invocations += result.invocations;
    switch (result.kind) {
      case 'done':
        try {
          await deps.sqs.send(new DeleteMessageCommand({ QueueUrl: deps.queueUrl, ReceiptHandle: message.ReceiptHandle }));
          replayed++;
          deps.logger.info('failed batch replayed', { ...range, records: result.records, invocations: result.invocations });
        } catch (err) {
          leave({ ...range, reason: `replayed, but the message could not be deleted (${(err as Error).name}): the next run replays it again` });
        }
        break;
      case 'trimmed':
        trimmed.push({ ...range, firstAvailable: result.firstAvailable, reason: result.reason });
        leave({ ...range, reason: result.firstAvailable ? `${result.reason}; the rest was replayed` : result.reason });
        break;
      case 'unreadable':
        leave({ ...range, reason: `the range could not be read: ${result.reason}` });
        break;
      case 'failed':
        leave({ ...range, reason: `the function did not finish ${result.at}: ${result.reason}` });
        break;
      case 'out of time':
        leave({ ...range, reason: `not finished before the end of the run${result.at ? `, from ${result.at} on` : ''}` });
        break;
    }
    return result;
  };

  for (;;) {
    if (messages >= maxMessages) {
      stoppedBecause = 'maxMessages were received';
      break;
    }
    if (timeLeft() < reserve) {
      stoppedBecause = 'the time of this invocation is running out';
      break;
    }
    const out = await deps.sqs.send(new ReceiveMessageCommand({
      QueueUrl: deps.queueUrl,
      MaxNumberOfMessages: Math.min(10, maxMessages - messages),
      // Long polling asks every SQS server, so that an empty answer means no message is visible.
      WaitTimeSeconds: 1,
      // Hidden until this run ends: a message left becomes visible for the next run, never twice in this one.
      VisibilityTimeout: Math.min(43_200, Math.ceil(remainingMs() / 1000) + 1),
    }));
    const received = out.Messages ?? [];
    if (received.length === 0) break;
    messages += received.length;
    const parsedMessages = received.map((m) => ({ message: m, parsed: parseFailureMessage(m.Body ?? '') }));
    // In stream order, so that a shard's older range is replayed first.
    parsedMessages.sort((a, b) => {
      if (!a.parsed.ok || !b.parsed.ok) return Number(a.parsed.ok) - Number(b.parsed.ok);
      const x = a.parsed.batch;
      const y = b.parsed.batch;
      return x.shardId === y.shardId ? compareSequenceNumbers(x.startSequenceNumber, y.startSequenceNumber) : x.shardId < y.shardId ? -1 : 1;
    });
    let outOfTime = false;
    for (const { message, parsed: p } of parsedMessages) {
      if (outOfTime) {
        leave({ messageId: message.MessageId ?? '', ...(p.ok ? rangeOf(p.batch) : {}), reason: 'not started before the end of the run' });
        continue;
      }
      const result = await handle(message, p.ok ? p.batch : undefined, p.ok ? undefined : p.reason);
      if (result?.kind === 'out of time') outOfTime = true;
    }
    if (outOfTime) {
      stoppedBecause = 'the time of this invocation is running out';
      break;
    }
  }

  for (const m of left) deps.logger.warn('failed batch left in the queue', { ...m });
  const summary: ReplaySummary = {
    statusCode: 200,
    messages,
    replayed,
    records,
    invocations,
    trimmed: trimmed.slice(0, MAX_LISTED),
    left: left.slice(0, MAX_LISTED),
    stoppedBecause,
  };
  deps.logger.info('replay finished', { messages, replayed, records, invocations, trimmed: trimmed.length, left: left.length, stoppedBecause });
  return summary;
}

function rangeOf(batch: FailedBatch) {
  return { shardId: batch.shardId, startSequenceNumber: batch.startSequenceNumber, endSequenceNumber: batch.endSequenceNumber };
}

/** Builds the replay function's dependencies from its settings (environment variables). */
export function depsFromEnv(env: NodeJS.ProcessEnv): ReplayHandlerDeps {
  const settings = readSettings(REPLAY_SETTINGS, env);
  return {
    sqs: new SQSClient(CLIENT_DEFAULTS),
    // HTTP/1.1: GetRecords needs nothing else, and local Kinesis servers speak nothing else.
    kinesis: new KinesisClient({
      ...CLIENT_DEFAULTS,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 30_000, throwOnRequestTimeout: true }),
    }),
    lambda: new LambdaClient(CLIENT_DEFAULTS),
    queueUrl: settings.queueUrl,
    streamArn: settings.streamArn,
    targetFunction: settings.targetFunction,
    invokeIdentityArn: settings.invokeIdentityArn,
    batchSize: settings.batchSize,
    reportBatchItemFailures: settings.reportBatchItemFailures,
    targetTimeoutSeconds: settings.targetTimeoutSeconds,
    logger: new Logger({ serviceName: settings.serviceName, logLevel: settings.logLevel }),
  };
}

let deps: ReplayHandlerDeps | undefined;

export async function handler(event: unknown, context: Context): Promise<ReplaySummary | BadRequest> {
  deps ??= depsFromEnv(process.env);
  return replayFailedBatches(event, deps, () => context.getRemainingTimeInMillis());
}
