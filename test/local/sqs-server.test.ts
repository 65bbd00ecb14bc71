/**
 * The local SQS endpoint refuses what SQS refuses: characters outside XML's
 * in a body (InvalidMessageContents), a message larger than its queue's
 * MaximumMessageSize, parameters out of range; and no request, however
 * malformed, is a 500. Through the SDK's SQSClient, and raw.
 */
import * as http from 'http';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import * as fc from 'fast-check';
import { CREDENTIALS, REGION } from '../../local/src';
import { Gateway } from '../../local/src/runner/gateway';
import { SqsServer } from '../../local/src/runner/sqs-server';

jest.setTimeout(120_000);

let gateway: Gateway;
let sqs: SQSClient;
const server = new SqsServer(REGION, '123456789012', () => gateway.endpoint);

beforeAll(async () => {
  gateway = await Gateway.start({
    port: 0, pageDirectory: __dirname, config: () => ({}), services: [server], passThrough: {}, lambda: { find: () => undefined, list: () => [] },
  });
  sqs = new SQSClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint, maxAttempts: 1 });
});

afterAll(async () => {
  sqs?.destroy();
  server.close();
  await gateway?.close();
});

let queues = 0;
function queue(maximumMessageSize?: number): { name: string; url: string } {
  const name = `queue-${++queues}`;
  server.createQueue(name, { maximumMessageSize });
  return { name, url: server.queueUrl(name) };
}

async function refusal(p: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('the request was accepted');
}

/** A character SQS allows (XML 1.0's), from each of its ranges. */
const allowedChar = fc.oneof(
  fc.constantFrom('\t', '\n', '\r'),
  fc.integer({ min: 0x20, max: 0xd7ff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0xe000, max: 0xfffd }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
);
/** A character SQS refuses: another control character, U+FFFE and U+FFFF, or half a surrogate pair. */
const refusedChar = fc.oneof(
  fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constantFrom(0xb, 0xc), fc.integer({ min: 0xe, max: 0x1f })).map((c) => String.fromCharCode(c)),
  fc.constantFrom('\uFFFE', '\uFFFF'),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
);
const allowedText = fc.array(allowedChar, { minLength: 1, maxLength: 40 }).map((cs) => cs.join(''));

describe('message contents', () => {
  test('a body of allowed characters is kept as sent; one character outside them refuses the message with InvalidMessageContents', async () => {
    const { name, url } = queue();
    await fc.assert(fc.asyncProperty(allowedText, async (body) => {
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1, VisibilityTimeout: 0 }));
      expect(got.Messages?.[0].Body).toBe(body);
      await server.handle('PurgeQueue', { QueueUrl: url });
    }), { numRuns: 100 });
    await fc.assert(fc.asyncProperty(allowedText, refusedChar, fc.nat(), async (text, bad, at) => {
      const i = at % (text.length + 1);
      // Not between the halves of a pair, which would make another character.
      fc.pre(!/[\uD800-\uDBFF]$/.test(text.slice(0, i)));
      const body = text.slice(0, i) + bad + text.slice(i);
      const r = await refusal(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body })));
      expect(r).toMatchObject({ name: 'InvalidMessageContents', status: 400 });
      expect(r.message).toContain(`U+${bad.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
      // In a batch, that entry fails and the others are sent.
      const batch = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'good', MessageBody: 'fine' }, { Id: 'bad', MessageBody: body }] }));
      expect(batch.Successful?.map((e) => e.Id)).toEqual(['good']);
      expect(batch.Failed).toEqual([expect.objectContaining({ Id: 'bad', Code: 'InvalidMessageContents', SenderFault: true })]);
      expect(server.peekAll(name)).toEqual(['fine']);
      await server.handle('PurgeQueue', { QueueUrl: url });
    }), { numRuns: 100 });
  });

  test('a string attribute value of a character outside them refuses the message', async () => {
    const { name, url } = queue();
    await fc.assert(fc.asyncProperty(refusedChar, async (bad) => {
      const r = await refusal(sqs.send(new SendMessageCommand({
        QueueUrl: url, MessageBody: 'body', MessageAttributes: { reason: { DataType: 'String', StringValue: `x${bad}` } },
      })));
      expect(r).toMatchObject({ name: 'InvalidParameterValue', status: 400 });
    }), { numRuns: 30 });
    expect(server.peekAll(name)).toEqual([]);
  });
});

describe('message size', () => {
  /** Text of exactly `bytes` bytes of UTF-8, of the pattern's 1- to 4-byte characters. */
  function textOfBytes(bytes: number, pattern: string[]): string {
    let out = '';
    let size = 0;
    for (let i = 0; size < bytes; i++) {
      const c = pattern[i % pattern.length];
      const n = Buffer.byteLength(c);
      if (size + n > bytes) {
        out += 'a'.repeat(bytes - size);
        break;
      }
      out += c;
      size += n;
    }
    return out;
  }
  const pattern = fc.array(fc.constantFrom('a', 'é', '€', '𝄞'), { minLength: 1, maxLength: 64 });

  test.each([[undefined, 262_144], [1_024, 1_024], [1_048_576, 1_048_576]])('a queue of MaximumMessageSize %s takes messages of %s bytes (body and attributes) and refuses one byte more', async (setting, limit) => {
    const { name, url } = queue(setting);
    await fc.assert(fc.asyncProperty(fc.integer({ min: -40, max: 40 }), fc.boolean(), pattern, async (delta, withAttribute, chars) => {
      // An attribute counts its name, its type and its value: 6 + 6 + 4 bytes.
      const attributeBytes = withAttribute ? 16 : 0;
      const body = textOfBytes(limit + delta - attributeBytes, chars);
      const send = sqs.send(new SendMessageCommand({
        QueueUrl: url, MessageBody: body, ...(withAttribute ? { MessageAttributes: { reason: { DataType: 'String', StringValue: 'long' } } } : {}),
      }));
      if (delta <= 0) {
        await send;
      } else {
        const r = await refusal(send);
        expect(r).toMatchObject({ name: 'InvalidParameterValue', status: 400 });
        expect(r.message).toContain(`Message must be shorter than ${limit} bytes; it is ${limit + delta}.`);
      }
    }), { numRuns: 12 });
    expect(server.stats(name).sent).toBeGreaterThan(0);
  });

  test('a 1 MiB body that JSON doubles (quotes and backslashes) still reaches a 1 MiB queue', async () => {
    const { name, url } = queue(1_048_576);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '"\\'.repeat(524_288) }));
    expect(server.peekAll(name)[0]).toHaveLength(1_048_576);
  });

  test('a batch larger than the queue\'s MaximumMessageSize together is BatchRequestTooLong', async () => {
    const { name, url } = queue();
    const entries = Array.from({ length: 5 }, (_, i) => ({ Id: `m${i}`, MessageBody: 'x'.repeat(60_000) }));
    const r = await refusal(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries })));
    expect(r).toMatchObject({ name: 'BatchRequestTooLong', status: 400 });
    expect(server.peekAll(name)).toEqual([]);
  });

  test('CreateQueue takes a MaximumMessageSize from 1,024 to 1,048,576 bytes', async () => {
    for (const [size, ok] of [[1_023, false], [1_024, true], [1_048_576, true], [1_048_577, false]] as const) {
      const send = sqs.send(new CreateQueueCommand({ QueueName: `sized-${size}`, Attributes: { MaximumMessageSize: String(size) } }));
      if (ok) await send;
      else expect(await refusal(send)).toMatchObject({ name: 'InvalidAttributeValue', status: 400 });
    }
  });
});

describe('parameters and malformed requests', () => {
  test('WaitTimeSeconds, VisibilityTimeout, MaxNumberOfMessages and DelaySeconds out of range are InvalidParameterValue', async () => {
    const { url } = queue();
    const outOfRange = [
      { WaitTimeSeconds: 21 }, { WaitTimeSeconds: -1 }, { VisibilityTimeout: 43_201 }, { MaxNumberOfMessages: 0 }, { MaxNumberOfMessages: 11 },
    ];
    for (const input of outOfRange) {
      expect(await refusal(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, ...input })))).toMatchObject({ name: 'InvalidParameterValue', status: 400 });
    }
    expect(await refusal(sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', DelaySeconds: 901 })))).toMatchObject({ name: 'InvalidParameterValue' });
  });

  function post(operation: string, body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: gateway.port, method: 'POST', path: '/', headers: { 'x-amz-target': `AmazonSQS.${operation}`, 'content-type': 'application/x-amz-json-1.0' },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  test('any JSON to any SQS operation is answered with a 4xx or a 200, never a 500', async () => {
    const { url } = queue();
    // A long poll of an empty queue waits for its full time: those waits are left out.
    const waits = (v: unknown) => (typeof v === 'number' || typeof v === 'string') && Number(v) >= 1 && Number(v) <= 20;
    const anything = fc.jsonValue({ maxDepth: 3 }).filter((v) => !waits(v));
    const attribute = fc.oneof(anything, fc.record({
      DataType: fc.oneof(fc.constantFrom('String', 'Number', 'Binary.x'), anything), StringValue: anything, BinaryValue: anything,
    }, { requiredKeys: [] }));
    const entry = fc.oneof(anything, fc.record({
      Id: fc.oneof(fc.constantFrom('a', 'b'), anything),
      MessageBody: fc.oneof(fc.string(), anything),
      MessageAttributes: fc.oneof(anything, fc.dictionary(fc.string({ maxLength: 5 }), attribute, { maxKeys: 3 })),
      DelaySeconds: anything,
      ReceiptHandle: anything,
    }, { requiredKeys: [] }));
    const input = fc.record({
      QueueUrl: fc.oneof(fc.constant(url), anything),
      QueueName: fc.oneof(fc.constantFrom('fuzzed-queue', 'x.fifo'), anything),
      MessageBody: fc.oneof(fc.string(), anything),
      MessageAttributes: fc.oneof(anything, fc.dictionary(fc.string({ maxLength: 5 }), attribute, { maxKeys: 3 })),
      Entries: fc.oneof(anything, fc.array(entry, { maxLength: 4 })),
      Attributes: fc.oneof(anything, fc.dictionary(fc.constantFrom('VisibilityTimeout', 'MaximumMessageSize', 'DelaySeconds', 'FifoQueue'), anything)),
      AttributeNames: fc.oneof(anything, fc.array(anything)),
      MessageAttributeNames: fc.oneof(anything, fc.array(anything)),
      MessageSystemAttributeNames: fc.oneof(anything, fc.array(anything)),
      ReceiptHandle: anything,
      VisibilityTimeout: anything,
      WaitTimeSeconds: anything,
      MaxNumberOfMessages: anything,
      DelaySeconds: anything,
    }, { requiredKeys: [] });
    const operations = ['CreateQueue', 'GetQueueUrl', 'ListQueues', 'GetQueueAttributes', 'SendMessage', 'SendMessageBatch',
      'ReceiveMessage', 'DeleteMessage', 'DeleteMessageBatch', 'ChangeMessageVisibility', 'PurgeQueue', 'NoSuchOperation'];
    await fc.assert(fc.asyncProperty(fc.constantFrom(...operations), input, async (operation, body) => {
      const status = await post(operation, JSON.stringify(body));
      expect(status === 200 || (status >= 400 && status < 500)).toBe(true);
    }), { numRuns: 500 });
  });
});
