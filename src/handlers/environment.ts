import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

/**
 * Settings come from environment variables that the constructs set (see
 * README, "Handler environment"). Endpoints of every client follow the SDK's
 * own AWS_ENDPOINT_URL_<SERVICE> variables, which is how the tests and the
 * local runner point the handlers at local servers.
 */
export function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

export function dynamoDbClient(maxAttempts = 1): DynamoDBClient {
  // The processor retries throttling, 5xx and UnprocessedItems itself, with
  // backoff and an eye on the invocation's deadline (maxAttempts 1): SDK
  // retries would sleep past that deadline unseen. The query function keeps
  // the SDK's retries. A request timeout bounds a hung connection.
  return new DynamoDBClient({ maxAttempts, requestHandler: { requestTimeout: 3_000, connectionTimeout: 1_000 } });
}

export function s3Client(env: NodeJS.ProcessEnv): S3Client {
  // S3-compatible local servers need path-style addressing.
  return new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true' });
}
