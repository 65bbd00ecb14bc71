/** Kinesis records and invocation contexts in the shapes Lambda passes to a function. */
import type { Context, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { ACCOUNT, REGION, SHARD_ID } from './servers';
import { StreamRecord } from './shard-reader';

export interface EventSource {
  readonly streamName: string;
  readonly shardId?: string;
  readonly region?: string;
}

/** A Kinesis record in the shape Lambda passes to the function. */
export function toLambdaRecord(record: StreamRecord, source: EventSource): KinesisStreamRecord {
  const region = source.region ?? REGION;
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: Buffer.from(record.data).toString('base64'),
      approximateArrivalTimestamp: record.approximateArrivalTimestamp / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${source.shardId ?? SHARD_ID}:${record.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: `arn:aws:iam::${ACCOUNT}:role/sensor-processor-role`,
    awsRegion: region,
    eventSourceARN: `arn:aws:kinesis:${region}:${ACCOUNT}:stream/${source.streamName}`,
  };
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

