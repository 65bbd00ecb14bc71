/**
 * Dead letters through the SQS wire protocol: the SDK's SQSClient against the
 * local run's SQS server, which refuses what SQS refuses (characters outside
 * its set, oversized messages). Every dead letter must be delivered, and its
 * reason and the record's bytes read back exactly.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import * as fc from 'fast-check';
import { CREDENTIALS, REGION } from '../../local/src';
import { serveAwsJson } from '../../local/src/runner/aws-json';
import { SqsServer } from '../../local/src/runner/sqs-server';
import { DeadLetter, DeadLetterBody, MAX_MESSAGE_BYTES, QueueDeadLetterSink } from '../../src/handlers/dead-letter';

jest.setTimeout(120_000);

let server: http.Server;
let sqs: SQSClient;
let endpoint = '';
const sqsServer = new SqsServer(REGION, '123456789012', () => endpoint);
let queue = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => void serveAwsJson(sqsServer, req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sqs = new SQSClient({ region: REGION, credentials: CREDENTIALS, endpoint });
});

afterAll(async () => {
  sqs?.destroy();
  await new Promise((resolve) => server.close(resolve));
});

function newQueue(): string {
  const name = `dead-letters-${queue++}`;
  sqsServer.createQueue(name, { visibilityTimeoutSeconds: 300 });
  return sqsServer.queueUrl(name);
}

async function receiveAll(queueUrl: string): Promise<DeadLetterBody[]> {
  const out: DeadLetterBody[] = [];
  for (;;) {
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    if (!got.Messages?.length) return out;
    out.push(...got.Messages.map((m) => JSON.parse(m.Body!) as DeadLetterBody));
  }
}

let sequence = 10n ** 20n;
function letter(bytes: Buffer, reason: string): DeadLetter {
  return {
    reason,
    shardId: 'shardId-000000000000',
    sequenceNumber: String(sequence++),
    partitionKey: 'same-key',
    approximateArrivalTimestamp: 1_700_000_000,
    data: bytes.toString('base64'),
  };
}

/** The record's bytes as the dead letter gives them back. */
function bytesOf(body: DeadLetterBody): Buffer {
  return body.payload !== undefined ? Buffer.from(body.payload, 'utf8') : Buffer.from(body.payloadBase64!, 'base64');
}

describe('dead letters SQS refuses nothing of', () => {
  test('a sensor id holding U+FFFF or U+FFFE: delivered, and read back exactly', async () => {
    const queueUrl = newQueue();
    const sent = [
      letter(Buffer.from('{"sensorid":"s\uffff1","value":1e200,"timestamp":"2024-01-02T03:04:05Z"}', 'utf8'), 'invalid field "value": 1e+200 is larger'),
      letter(Buffer.from('{"sensorid":"\ufffe"}', 'utf8'), 'missing field "value" of "\ufffe"'),
      letter(Buffer.from('\u0000\u0008\u000b\u001f\u007f', 'utf8'), 'payload is not valid JSON'),
    ];
    const undelivered = await new QueueDeadLetterSink(sqs, queueUrl).send(sent);
    expect(undelivered).toEqual([]);
    const bodies = await receiveAll(queueUrl);
    expect(bodies.map((b) => b.reason)).toEqual(sent.map((l) => l.reason));
    bodies.forEach((body, i) => expect(bytesOf(body).toString('base64')).toBe(sent[i].data));
  });

  test('property: any bytes and any reason (lone surrogates, noncharacters, controls) are delivered and read back exactly', async () => {
    const text = fc.string({ unit: fc.oneof(fc.constantFrom('\ufffe', '\uffff', '\ud800', '\udfff', '\u0000', '\u000b', '\ufdd0', '\u{10ffff}'), fc.string({ unit: 'binary', maxLength: 1 })), maxLength: 200 });
    const payload = fc.oneof(
      text.map((t) => Buffer.from(t, 'utf8')),
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    );
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(payload, text), { minLength: 1, maxLength: 25 }), async (pairs) => {
      const queueUrl = newQueue();
      const sent = pairs.map(([bytes, reason]) => letter(bytes, reason));
      expect(await new QueueDeadLetterSink(sqs, queueUrl).send(sent)).toEqual([]);
      const bodies = await receiveAll(queueUrl);
      expect(bodies).toHaveLength(sent.length);
      bodies.forEach((body, i) => {
        expect(body.sequenceNumber).toBe(sent[i].sequenceNumber);
        // JSON keeps a lone surrogate as an escape: the reason is the very string the processor wrote.
        expect(body.reason).toBe(sent[i].reason);
        expect(bytesOf(body).toString('base64')).toBe(sent[i].data);
      });
    }), { numRuns: 60 });
  });

  test('a payload of the largest record Kinesis takes (1 MiB) is delivered, cut to fit and marked truncated', async () => {
    const queueUrl = newQueue();
    // U+FFFF takes 3 bytes as UTF-8 and 6 as an escape: the message must be measured after escaping.
    const big = letter(Buffer.from('\uffff'.repeat(349_525), 'utf8'), 'payload is not valid JSON');
    expect(await new QueueDeadLetterSink(sqs, queueUrl).send([big])).toEqual([]);
    const [body] = await receiveAll(queueUrl);
    expect(body.truncated).toBe(true);
    expect(body.reason).toBe('payload is not valid JSON');
    expect(Buffer.from(big.data, 'base64').toString('utf8').startsWith(body.payload!)).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  });
});
