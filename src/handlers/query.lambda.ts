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

/**
 * A row as a DynamoDB DocumentClient query returns it: the stored attributes,
 * numbers as numbers. Direct invocations get these as `Items`, beside `items`,
 * because the reference deployment's API function answered with the
 * DocumentClient's output and its test page reads `Items`.
 */
export interface StoredReading {
  readonly SensorId: string;
  readonly Timestamp: string;
  readonly Value: number;
}

/**
 * The most a direct answer may weigh, serialized. Lambda refuses a synchronous
 * response over 6 MB (`Function.ResponseSizeTooLarge`), after the query has
 * run. `Items` repeats the sensor id on every row and JSON writes a control
 * character in six bytes: the 501 rows of 2,048-byte ids that one 1 MB
 * DynamoDB Query returns weigh 6.23 MB as `items` and `Items`, within 1 % of
 * that limit. The answer is measured rather than trusted to stay below it; a
 * heavier page ends early, with a nextToken, as DynamoDB's own pages end at
 * 1 MB. HTTP answers carry no per-row id (40 KB for the same page).
 */
export const MAX_DIRECT_ANSWER_BYTES = 5 * 1024 * 1024;

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
  /** The rows of `items` again, in the reference's shape. */
  readonly Items?: StoredReading[];
  /** How many rows `Items` holds, as the DocumentClient counts them. */
  readonly Count?: number;
}

function storedReading(sensorId: string, r: SensorReading): StoredReading {
  return { SensorId: sensorId, Timestamp: r.timestamp, Value: r.value };
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

/**
 * The answer to a direct invocation: our shape and the reference's, row for
 * row, within `maxBytes` (see MAX_DIRECT_ANSWER_BYTES).
 */
export function directAnswer(page: QueryPage, maxBytes: number = MAX_DIRECT_ANSWER_BYTES): DirectResponse {
  const answer = (items: SensorReading[], nextToken: string | undefined): DirectResponse => {
    const rows = items.map((r) => storedReading(page.sensorId, r));
    return { statusCode: 200, sensorId: page.sensorId, items, ...(nextToken ? { nextToken } : {}), Items: rows, Count: rows.length };
  };
  const whole = answer(page.items, page.nextToken);
  if (page.items.length === 0 || jsonBytes(whole) <= maxBytes) return whole;
  // A token for this sensor has the same length whatever its timestamp.
  const token = (r: SensorReading) => encodeToken(page.sensorId, r.timestamp);
  let size = jsonBytes(answer([], token(page.items[0])));
  let kept = 0;
  while (kept < page.items.length) {
    const r = page.items[kept];
    // A row in each array, after a comma from the second row on; and Count's digits beyond the one of 0.
    const row = jsonBytes(r) + jsonBytes(storedReading(page.sensorId, r)) + (kept > 0 ? 2 : 0);
    const countDigits = String(kept + 1).length - 1;
    if (kept > 0 && size + row + countDigits > maxBytes) break;
    size += row;
    kept++;
  }
  return answer(page.items.slice(0, kept), kept < page.items.length ? token(page.items[kept - 1]) : page.nextToken);
}

/** The answer to an HTTP request (Function URL or HTTP API). */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * Answers a direct invocation (`{"operation": "query", "sensorid": "..."}`, as
 * the reference's test page sends it) or an HTTP request through a Function
 * URL or HTTP API (query string or JSON body). A direct answer holds the rows
 * twice, as `items` and as the reference's `Items`; an HTTP answer only as
 * `items`. Invalid input answers 400 with the reason; it never throws.
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
    const page = await querySensor(deps, parsed.query);
    return http ? respond(200, { ...page }) : directAnswer(page);
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
