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

export function dynamoDbClient(): DynamoDBClient {
  // The handler retries UnprocessedItems and throttling itself, with a deadline.
  return new DynamoDBClient({ maxAttempts: 3 });
}

export function s3Client(env: NodeJS.ProcessEnv): S3Client {
  // S3-compatible local servers need path-style addressing.
  return new S3Client({ forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true' });
}
