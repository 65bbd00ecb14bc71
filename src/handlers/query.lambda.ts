import { Logger } from '@aws-lambda-powertools/logger';
import { AttributeValue, DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { dynamoDbClient } from './environment';
import { encodeToken, parseQuery, QueryLimits, SensorQuery } from './query-input';
import { QUERY_SETTINGS, readSettings } from '../private/handler-contract';

export interface QueryDeps {
  readonly dynamodb: DynamoDBClient;
  readonly tableName: string;
  readonly limits: QueryLimits;
  readonly logger: Logger;
}

export interface SensorReading {
  readonly timestamp: string;
  readonly value: number;
}

export interface QueryPage {
  readonly sensorId: string;
  readonly items: SensorReading[];
  readonly nextToken?: string;
}

/** Newest first, on the partition key only: a Query, never a Scan. */
export async function querySensor(deps: QueryDeps, q: SensorQuery): Promise<QueryPage> {
  const names: Record<string, string> = { '#id': 'SensorId' };
  const values: Record<string, AttributeValue> = { ':id': { S: q.sensorId } };
  let condition = '#id = :id';
  if (q.from !== undefined || q.to !== undefined) names['#ts'] = 'Timestamp';
  if (q.from !== undefined && q.to !== undefined) {
    condition += ' AND #ts BETWEEN :from AND :to';
    values[':from'] = { S: q.from };
    values[':to'] = { S: q.to };
  } else if (q.from !== undefined) {
    condition += ' AND #ts >= :from';
    values[':from'] = { S: q.from };
  } else if (q.to !== undefined) {
    condition += ' AND #ts <= :to';
    values[':to'] = { S: q.to };
  }
  const out = await deps.dynamodb.send(new QueryCommand({
    TableName: deps.tableName,
    KeyConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ScanIndexForward: false,
    Limit: q.limit,
    ExclusiveStartKey: q.after ? { SensorId: { S: q.sensorId }, Timestamp: { S: q.after } } : undefined,
  }));
  const items = (out.Items ?? []).map((item) => ({ timestamp: item.Timestamp?.S ?? '', value: Number(item.Value?.N) }));
  const last = out.LastEvaluatedKey?.Timestamp?.S;
  return { sensorId: q.sensorId, items, nextToken: last ? encodeToken(q.sensorId, last) : undefined };
}

interface HttpEvent {
  readonly requestContext?: { readonly http?: unknown };
  readonly queryStringParameters?: Record<string, string | undefined> | null;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
}

export interface DirectResponse {
  readonly statusCode: number;
  readonly error?: string;
  readonly sensorId?: string;
  readonly items?: SensorReading[];
  readonly nextToken?: string;
}

/** The answer to an HTTP request (Function URL or HTTP API). */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * Answers a direct invocation (`{"sensorid": "..."}`, as the reference) or an
 * HTTP request through a Function URL or HTTP API (query string or JSON body).
 * Invalid input answers 400 with the reason; it never throws.
 */
export async function handleQuery(event: unknown, deps: QueryDeps): Promise<DirectResponse | HttpResponse> {
  const http = typeof event === 'object' && event !== null && 'requestContext' in event && (event as HttpEvent).requestContext?.http !== undefined;
  const respond = (statusCode: number, payload: Record<string, unknown>) => http
    ? { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) }
    : { statusCode, ...payload };

  let input: unknown = event;
  if (http) {
    const e = event as HttpEvent;
    if (e.body) {
      try {
        input = JSON.parse(e.isBase64Encoded ? Buffer.from(e.body, 'base64').toString('utf8') : e.body);
      } catch {
        return respond(400, { error: 'the request body is not valid JSON' });
      }
    } else {
      input = { ...(e.queryStringParameters ?? {}) };
    }
  }
  const parsed = parseQuery(input, deps.limits);
  if (!parsed.ok) return respond(400, { error: parsed.reason });
  try {
    return respond(200, { ...(await querySensor(deps, parsed.query)) });
  } catch (err) {
    deps.logger.error('query failed', err as Error);
    return respond(500, { error: 'the query failed; try again' });
  }
}

/** Builds the query function's dependencies from its settings (environment variables). */
export function depsFromEnv(env: NodeJS.ProcessEnv): QueryDeps {
  const settings = readSettings(QUERY_SETTINGS, env);
  return {
    dynamodb: dynamoDbClient(3),
    tableName: settings.tableName,
    limits: {
      // The constructs keep the default within the maximum; a hand-set environment may not.
      defaultLimit: Math.min(settings.defaultLimit, settings.maxLimit),
      maxLimit: settings.maxLimit,
      maxSensorIdLength: settings.maxSensorIdLength,
    },
    logger: new Logger({ serviceName: settings.serviceName, logLevel: settings.logLevel }),
  };
}

let deps: QueryDeps | undefined;

export async function handler(event: unknown) {
  deps ??= depsFromEnv(process.env);
  return handleQuery(event, deps);
}
