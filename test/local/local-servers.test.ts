/**
 * dynalite, kinesalite, s3rver and the fault proxy hold the local run's data
 * on 127.0.0.1 ports a page could guess: they answer only requests addressed
 * to the loopback interface, and none from a page in a browser (dynalite and
 * kinesalite would let any origin read their answers).
 */
import * as http from 'http';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import * as fc from 'fast-check';
import { FaultProxy, LocalAws } from '../../local/src';

jest.setTimeout(60_000);

let aws: LocalAws;
let proxy: FaultProxy;

beforeAll(async () => {
  aws = await LocalAws.start();
  proxy = await FaultProxy.start({ target: aws.endpoints.dynamodb, faultTarget: 'DynamoDB_20120810.BatchWriteItem' });
});

afterAll(async () => {
  await proxy?.close();
  await aws?.stop();
});

function raw(endpoint: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: '/',
      agent: false,
      headers: {
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        'content-type': 'application/x-amz-json-1.0',
        'authorization': 'AWS4-HMAC-SHA256 Credential=S3RVER/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00',
        'x-amz-date': '20240101T000000Z',
        ...headers,
      },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

const servers = () => [
  ['dynalite', aws.endpoints.dynamodb],
  ['kinesalite', aws.endpoints.kinesis],
  ['s3rver', aws.endpoints.s3],
  ['the fault proxy', proxy.endpoint],
] as const;

test('a Host that does not name 127.0.0.1 or localhost is refused with the reason', async () => {
  const foreign = fc.oneof(fc.domain(), fc.domain().map((d) => `${d}:${new URL(aws.endpoints.dynamodb).port}`), fc.constantFrom('127.0.0.1.evil.example', 'localhost.evil.example:80'));
  await fc.assert(fc.asyncProperty(foreign, fc.constantFrom(...servers()), async (host, [, endpoint]) => {
    const answer = await raw(endpoint, { host });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text).message).toContain(`the Host header ${host} does not name 127.0.0.1 or localhost`);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  }), { numRuns: 40 });
});

test.each(['https://evil.example', 'null', 'http://127.0.0.1:3000'])('a request from a page (Origin %s) is refused, with no CORS header', async (origin) => {
  for (const [, endpoint] of servers()) {
    const answer = await raw(endpoint, { origin });
    expect(answer.status).toBe(403);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  }
});

test('SDK clients, and the loopback names with any port, are answered as before', async () => {
  expect((await aws.dynamodbClient.send(new ListTablesCommand({}))).TableNames).toBeDefined();
  for (const [, endpoint] of servers()) {
    for (const host of [new URL(endpoint).host, 'localhost:1', 'LOCALHOST']) {
      expect((await raw(endpoint, { host })).status).not.toBe(403);
    }
  }
});
