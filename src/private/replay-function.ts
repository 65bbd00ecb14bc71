import { Duration, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { defaultOf, REPLAY_SETTINGS } from './handler-contract';
import { createBundledFunction } from './handler-function';
import { HandlerLogLevel } from '../options';

/** What a replay function replays: one event source mapping's failed batches. */
export interface ReplayTarget {
  /** The mapping's function. */
  readonly fn: lambda.IFunction;
  readonly stream: kinesis.IStream;
  /** The mapping's failed-batches queue. */
  readonly queue: sqs.Queue;
  readonly batchSize: number;
  readonly reportBatchItemFailures: boolean;
  readonly logRetention?: logs.RetentionDays;
  readonly logLevel?: HandlerLogLevel;
}

/**
 * Lambda's longest timeout: the replay is a run a person starts, and each
 * run replays as many messages as its time allows.
 */
const REPLAY_TIMEOUT = Duration.minutes(15);

/**
 * The replay function of one event source mapping. Nothing invokes it but
 * the user: replaying on its own would loop on a batch that fails for a
 * lasting reason. Its role may read this stream's records, receive and
 * delete this queue's messages and invoke this function, nothing else.
 */
export function createReplayFunction(scope: Construct, id: string, target: ReplayTarget): lambda.Function {
  const fn = createBundledFunction(scope, id, {
    handler: 'replay',
    description: 'Replays the batches of a failed-batches queue from the stream into the function that gave them up; invoked by hand',
    defaultTimeout: REPLAY_TIMEOUT,
    logRetention: target.logRetention,
    logLevel: target.logLevel,
    settings: {
      queueUrl: target.queue.queueUrl,
      streamArn: target.stream.streamArn,
      targetFunction: target.fn.functionArn,
      invokeIdentityArn: roleOf(target.fn).roleArn,
      batchSize: target.batchSize,
      reportBatchItemFailures: target.reportBatchItemFailures,
      targetTimeoutSeconds: timeoutOf(target.fn),
    },
  });

  // GetShardIterator and GetRecords only: the shard and the range come from the message.
  iam.Grant.addToPrincipal({ grantee: fn, actions: ['kinesis:GetShardIterator', 'kinesis:GetRecords'], resourceArns: [target.stream.streamArn] });
  target.stream.encryptionKey?.grantDecrypt(fn);
  // The visibility timeout is set on each receive: no ChangeMessageVisibility.
  iam.Grant.addToPrincipal({ grantee: fn, actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage'], resourceArns: [target.queue.queueArn] });
  target.queue.encryptionMasterKey?.grantDecrypt(fn);
  // This function only (no `:*`: the mapping invokes it unqualified, and so does the replay).
  iam.Grant.addToPrincipal({ grantee: fn, actions: ['lambda:InvokeFunction'], resourceArns: [target.fn.functionArn] });
  return fn;
}

/** The role Lambda names in each record of the event: the function's (an event source mapping needs one). */
function roleOf(fn: lambda.IFunction): iam.IRole {
  if (!fn.role) throw new Error(`${fn.node.path} has no role: an event source mapping and its replay need the function's role`);
  return fn.role;
}

/** The function's timeout, when the construct knows it; else Lambda's longest. */
function timeoutOf(fn: lambda.IFunction): number {
  if (!(fn instanceof lambda.Function)) return defaultOf(REPLAY_SETTINGS.targetTimeoutSeconds);
  // Lambda's default when none is set.
  const seconds = (fn.timeout ?? Duration.seconds(3)).toSeconds();
  return Token.isUnresolved(seconds) ? defaultOf(REPLAY_SETTINGS.targetTimeoutSeconds) : seconds;
}
