import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_SETTINGS, readSettings } from '../private/handler-contract';

/*
 * The handlers' clients. Settings come from the environment variables the
 * constructs write (src/private/handler-contract.ts); endpoints of every
 * client follow the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables, which is
 * how the tests and the local run point the handlers at local servers.
 *
 * Every client resolves its middleware stack once per command class
 * (`cacheMiddleware`) rather than once per request: the handlers never change
 * a stack after the first call, and each BatchWriteItem then costs about an
 * eighth less CPU in the client.
 */
export const CLIENT_DEFAULTS = { cacheMiddleware: true } as const;

/*
 * The Node.js HTTP handler only logs a warning when a request passes its
 * requestTimeout unless it is told to throw (throwOnRequestTimeout): without
 * it, a connection that takes the request and never answers holds the
 * handler until the invocation itself times out. Every timeout below is
 * meant as a bound.
 */

export function dynamoDbClient(maxAttempts = 1): DynamoDBClient {
  // The processor retries throttling, 5xx and UnprocessedItems itself, with
  // backoff and an eye on the invocation's deadline (maxAttempts 1): SDK
  // retries would sleep past that deadline unseen. The query function keeps
  // the SDK's retries. A request timeout bounds a hung connection.
  return new DynamoDBClient({
    ...CLIENT_DEFAULTS,
    maxAttempts,
    requestHandler: { requestTimeout: 3_000, connectionTimeout: 1_000, throwOnRequestTimeout: true },
  });
}

/*
 * The processor sends dead letters and metrics after its writes, in the time
 * the writer keeps free at the end of each invocation (WRITER_RESERVE_MS):
 * a one-second request timeout keeps the SDK's three attempts inside it.
 * SendMessageBatch and PutMetricData answer in tens of milliseconds.
 */
const AFTER_WRITES = { requestHandler: { requestTimeout: 1_000, connectionTimeout: 500, throwOnRequestTimeout: true } } as const;

export function sqsClient(): SQSClient {
  return new SQSClient({ ...CLIENT_DEFAULTS, ...AFTER_WRITES });
}

export function cloudWatchClient(): CloudWatchClient {
  return new CloudWatchClient({ ...CLIENT_DEFAULTS, ...AFTER_WRITES });
}

export function s3Client(env: NodeJS.ProcessEnv): S3Client {
  return new S3Client({ ...CLIENT_DEFAULTS, forcePathStyle: readSettings(LOCAL_SETTINGS, env).s3ForcePathStyle });
}

