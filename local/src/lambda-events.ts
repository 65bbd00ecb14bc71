/** Kinesis records and invocation contexts in the shapes Lambda passes to a function. */
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { ACCOUNT, REGION, SHARD_ID } from './servers';
import { StreamRecord } from './shard-reader';
import { toEventRecord } from '../../src/handlers/replay';

export interface EventSource {
  readonly streamName: string;
  readonly shardId?: string;
  readonly region?: string;
}

/** A Kinesis record in the shape Lambda passes to the function: the replay handler's own shape, with the local run's defaults. */
export function toLambdaRecord(record: StreamRecord, source: EventSource): KinesisStreamRecord {
  const region = source.region ?? REGION;
  return toEventRecord(record, {
    shardId: source.shardId ?? SHARD_ID,
    region,
    invokeIdentityArn: `arn:aws:iam::${ACCOUNT}:role/sensor-processor-role`,
    eventSourceArn: `arn:aws:kinesis:${region}:${ACCOUNT}:stream/${source.streamName}`,
  });
}

export function toKinesisEvent(records: readonly StreamRecord[], source: EventSource): KinesisStreamEvent {
  return { Records: records.map((r) => toLambdaRecord(r, source)) };
}

/** The events Lambda would invoke the function with for these records, `batchSize` records each. */
export function toKinesisEvents(records: readonly StreamRecord[], source: EventSource, batchSize: number): KinesisStreamEvent[] {
  const events: KinesisStreamEvent[] = [];
  for (let i = 0; i < records.length; i += batchSize) events.push(toKinesisEvent(records.slice(i, i + batchSize), source));
  return events;
}

/** A Lambda invocation context whose deadline is `timeoutMs` after it is made. */
export function fakeContext(timeoutMs = 60_000, functionName = 'sensor-processor'): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2024/01/01/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

