import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import type { SendMessageBatchCommandInput, SendMessageBatchCommandOutput, SQSClient } from '@aws-sdk/client-sqs';
import * as fc from 'fast-check';
import { asClient, b64, FakeClient, serviceError } from './helpers';
import { toLine } from '../../src/handlers/archive';
import { BucketDeadLetterSink, DeadLetter, deadLetterBody, letterMessages, MAX_LISTED_BYTES, MAX_MESSAGE_BYTES, QueueDeadLetterSink } from '../../src/handlers/dead-letter';
import { InvalidReading } from '../../src/handlers/reading';

const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/dead-letters';
const SQS_MAX_BYTES = 256 * 1024;
const ARRIVAL = Date.UTC(2024, 0, 2, 3, 4, 5) / 1000;

function letter(i: number, data = b64(`{"bad":${i}`), reason = `payload is not valid JSON (#${i})`): DeadLetter {
  return {
    reason,
    shardId: 'shardId-000000000003',
    sequenceNumber: String(49590338271490256608559692538361571095921575989136588898n + BigInt(i)),
    partitionKey: `pk-${i}`,
    approximateArrivalTimestamp: ARRIVAL,
    data,
  };
}

const letters = (n: number) => Array.from({ length: n }, (_, i) => letter(i));
const bodiesOf = (input: SendMessageBatchCommandInput) => input.Entries!.map((e) => JSON.parse(e.MessageBody!));

describe('deadLetterBody', () => {
  test('carries the reason, where the record came from and the payload as text', () => {
    expect(deadLetterBody(letter(0, b64('{"sensorid":"été"'), 'payload is not valid JSON'))).toEqual({
      reason: 'payload is not valid JSON',
      shardId: 'shardId-000000000003',
      sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
      partitionKey: 'pk-0',
      approximateArrivalTimestamp: '2024-01-02T03:04:05.000Z',
      payload: '{"sensorid":"été"',
    });
  });

  test('a JSON payload is kept as the device sent it: text, not a parsed value that would lose digits or spacing', () => {
    const sent = '{"sensorid": "s1", "value": 12345678901234567890123}';
    expect(deadLetterBody(letter(0, b64(sent), 'why')).payload).toBe(sent);
  });

  test('is the archive line of the same record, with the reason: one record model, the same field names', () => {
    for (const data of [b64('{"sensorid":"s1"}'), b64('not json'), Buffer.from([0xff, 0x00]).toString('base64'), b64('42')]) {
      const { reason, ...rest } = deadLetterBody(letter(0, data, 'why'));
      expect(reason).toBe('why');
      expect(rest).toEqual(JSON.parse(toLine(letter(0, data))));
    }
  });

  test('a payload that is not UTF-8 is kept as base64', () => {
    const data = Buffer.from([0xff, 0x00, 0xfe]).toString('base64');
    const body = deadLetterBody(letter(0, data, 'payload is not valid UTF-8'));
    expect(body.payloadBase64).toBe(data);
    expect(body).not.toHaveProperty('payload');
  });
});

describe('QueueDeadLetterSink', () => {
  test('at most 10 entries per SendMessageBatch, one message per letter', async () => {
    const fake = new FakeClient();
    const sent = letters(23);
    const failed = await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send(sent);
    expect(failed).toEqual([]);
    expect(fake.commandNames).toEqual(['SendMessageBatchCommand', 'SendMessageBatchCommand', 'SendMessageBatchCommand']);
    const inputs = fake.inputs as SendMessageBatchCommandInput[];
    expect(inputs.map((i) => i.Entries!.length)).toEqual([10, 10, 3]);
    expect(inputs.every((i) => i.QueueUrl === QUEUE_URL)).toBe(true);
    const ids = inputs.flatMap((i) => i.Entries!.map((e) => e.Id));
    expect(ids).toEqual(sent.map((_, i) => String(i)));
    expect(inputs.flatMap(bodiesOf)).toEqual(sent.map(deadLetterBody));
    expect(bodiesOf(inputs[2])[0]).toMatchObject({
      reason: 'payload is not valid JSON (#20)',
      shardId: 'shardId-000000000003',
      sequenceNumber: sent[20].sequenceNumber,
      payload: '{"bad":20',
    });
  });

  test('nothing to send, no call', async () => {
    const fake = new FakeClient();
    expect(await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send([])).toEqual([]);
    expect(fake.inputs).toHaveLength(0);
  });

  test('entries SQS reports as Failed come back', async () => {
    const sent = letters(12);
    const fake = new FakeClient([
      (): Partial<SendMessageBatchCommandOutput> => ({
        Successful: [],
        Failed: [{ Id: '3', SenderFault: false, Code: 'InternalError' }, { Id: '7', SenderFault: true, Code: 'InvalidMessageContents' }],
      }),
      (): Partial<SendMessageBatchCommandOutput> => ({ Failed: [{ Id: '11', SenderFault: false, Code: 'InternalError' }] }),
    ]);
    const failed = await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send(sent);
    expect(failed).toEqual([sent[3], sent[7], sent[11]]);
    expect(failed[0]).toBe(sent[3]); // the very objects, so that the caller can find their records
  });

  test('a request that fails returns all of its letters, and the other requests still go', async () => {
    const sent = letters(25);
    const fake = new FakeClient([() => ({}), () => serviceError('AWS.SimpleQueueService.NonExistentQueue', 400)]);
    const failed = await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send(sent);
    expect(fake.inputs).toHaveLength(3);
    expect(failed).toEqual(sent.slice(10, 20));
  });

  test('an oversized payload is cut to fill one message, and the message says so', async () => {
    const fake = new FakeClient();
    const big = letter(0, b64(`{"blob":"${'x'.repeat(400 * 1024)}`));
    await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send([big, letter(1)]);
    const inputs = fake.inputs as SendMessageBatchCommandInput[];
    const messages = inputs.flatMap((i) => i.Entries!.map((e) => e.MessageBody!));
    expect(messages).toHaveLength(2);
    // Cut to fill the message up to 255 KiB, no shorter (it was cut to 200 KiB, unlike its documentation).
    expect(MAX_MESSAGE_BYTES).toBe(SQS_MAX_BYTES - 1024);
    expect(Buffer.byteLength(messages[0])).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(Buffer.byteLength(messages[0])).toBeGreaterThan(MAX_MESSAGE_BYTES - 64);
    const body = JSON.parse(messages[0]);
    expect(body.truncated).toBe(true);
    expect(body.reason).toBe(big.reason);
    expect(body.sequenceNumber).toBe(big.sequenceNumber);
    expect(body.payload.startsWith('{"blob":"xxxx')).toBe(true);
    expect(JSON.parse(messages[1])).not.toHaveProperty('truncated');
    // each request stays within the SQS batch size
    for (const input of inputs) {
      expect(input.Entries!.reduce((n, e) => n + Buffer.byteLength(e.MessageBody!), 0)).toBeLessThanOrEqual(SQS_MAX_BYTES);
    }
  });

  test('a payload that fits is kept whole', async () => {
    const fake = new FakeClient();
    const text = 'x'.repeat(250 * 1024);
    await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send([letter(0, b64(text))]);
    const body = JSON.parse((fake.inputs[0] as SendMessageBatchCommandInput).Entries![0].MessageBody!);
    expect(body.payload).toBe(text);
    expect(body).not.toHaveProperty('truncated');
  });

  test('an oversized non-UTF-8 payload is cut in its base64 form', async () => {
    const fake = new FakeClient();
    const bytes = Buffer.alloc(300 * 1024, 0xff);
    await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send([letter(0, bytes.toString('base64'))]);
    const message = (fake.inputs[0] as SendMessageBatchCommandInput).Entries![0].MessageBody!;
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    const body = JSON.parse(message);
    expect(body.truncated).toBe(true);
    expect(bytes.toString('base64').startsWith(body.payloadBase64)).toBe(true);
  });

  test('an oversized payload of multi-byte or escaped characters still fits in one message', async () => {
    for (const text of ['温'.repeat(150 * 1024), '🌡'.repeat(80 * 1024), '\u0001'.repeat(100 * 1024), '"'.repeat(200 * 1024)]) {
      const fake = new FakeClient();
      await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send([letter(0, b64(text))]);
      const message = (fake.inputs[0] as SendMessageBatchCommandInput).Entries![0].MessageBody!;
      expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      const body = JSON.parse(message);
      expect(body.truncated).toBe(true);
      expect(text.startsWith(body.payload)).toBe(true);
      expect(body.payload.length).toBeGreaterThan(0);
    }
  });

  test('property: an oversized payload of any characters is cut to a prefix that fits', async () => {
    await fc.assert(fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), fc.integer({ min: 40_000, max: 300_000 }), async (unit, repeat) => {
      const text = unit.repeat(Math.ceil(repeat / unit.length));
      const fake = new FakeClient();
      await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send([letter(0, b64(text))]);
      const message = (fake.inputs[0] as SendMessageBatchCommandInput).Entries![0].MessageBody!;
      expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      const body = JSON.parse(message);
      expect(text.startsWith(body.payload)).toBe(true);
      expect(body.truncated ?? false).toBe(body.payload !== text);
    }), { numRuns: 30 });
  });

  test('large messages are spread so that no request passes 256 KiB', async () => {
    const fake = new FakeClient();
    const sent = Array.from({ length: 5 }, (_, i) => letter(i, b64('y'.repeat(100 * 1024))));
    const failed = await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send(sent);
    expect(failed).toEqual([]);
    const inputs = fake.inputs as SendMessageBatchCommandInput[];
    expect(inputs.map((i) => i.Entries!.length)).toEqual([2, 2, 1]);
    for (const input of inputs) {
      expect(input.Entries!.reduce((n, e) => n + Buffer.byteLength(e.MessageBody!), 0)).toBeLessThanOrEqual(SQS_MAX_BYTES);
    }
  });

  test('property: every letter is sent once, in order, in valid batches', async () => {
    const size = fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 0, max: 200 }) },
      { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 300_000 }) },
    );
    await fc.assert(fc.asyncProperty(fc.array(size, { maxLength: 40 }), async (sizes) => {
      const fake = new FakeClient();
      const sent = sizes.map((n, i) => letter(i, b64('z'.repeat(n))));
      expect(await new QueueDeadLetterSink(asClient<SQSClient>(fake), QUEUE_URL).send(sent)).toEqual([]);
      const inputs = fake.inputs as SendMessageBatchCommandInput[];
      expect(inputs.flatMap((i) => i.Entries!.map((e) => Number(e.Id)))).toEqual(sent.map((_, i) => i));
      for (const input of inputs) {
        expect(input.Entries!.length).toBeGreaterThan(0);
        expect(input.Entries!.length).toBeLessThanOrEqual(10);
        expect(input.Entries!.reduce((n, e) => n + Buffer.byteLength(e.MessageBody!), 0)).toBeLessThanOrEqual(SQS_MAX_BYTES);
        for (const e of input.Entries!) expect(JSON.parse(e.MessageBody!).sequenceNumber).toBe(sent[Number(e.Id)].sequenceNumber);
      }
    }), { numRuns: 50 });
  });
});

describe('letters of records that hold many readings', () => {
  const many = (n: number, reasonLength = 60): InvalidReading[] =>
    Array.from({ length: n }, (_, i) => ({ index: i, reason: `invalid field "value": "${'x'.repeat(reasonLength)}" (#${i})` }));

  test('the refused readings are listed, each with its place and reason, beside the whole payload', () => {
    const invalidReadings: InvalidReading[] = [{ subSequenceNumber: 2, index: 1, reason: 'missing field "sensorid"' }];
    const body = deadLetterBody({ ...letter(0, b64('[{"a":1}]'), 'user record 2, reading 1: missing field "sensorid"'), invalidReadings });
    expect(body).toMatchObject({ reason: 'user record 2, reading 1: missing field "sensorid"', invalidReadings, payload: '[{"a":1}]' });
    expect(letterMessages(body)).toHaveLength(1);
    // a record refused whole has no list
    expect(deadLetterBody(letter(1))).not.toHaveProperty('invalidReadings');
  });

  test('a 1 MiB record of 10,000 refused readings: every one listed once, over messages that each fit, the payload in the first', () => {
    const payload = `[${'{"v":"x"},'.repeat(104_000)}{}]`;
    const invalidReadings = many(10_000);
    const messages = letterMessages(deadLetterBody({ ...letter(0, b64(payload)), invalidReadings }));
    expect(messages.length).toBeGreaterThan(1);
    const parsed = messages.map((m) => JSON.parse(m));
    for (const m of messages) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(parsed.flatMap((p) => p.invalidReadings)).toEqual(invalidReadings);
    expect(parsed.map((p) => [p.part, p.parts])).toEqual(parsed.map((_, i) => [i + 1, messages.length]));
    expect(parsed[0].truncated).toBe(true);
    expect(payload.startsWith(parsed[0].payload)).toBe(true);
    expect(parsed[0].payload.length).toBeGreaterThan(100_000);
    for (const p of parsed.slice(1)) {
      expect(p).not.toHaveProperty('payload');
      expect(p).toMatchObject({ sequenceNumber: parsed[0].sequenceNumber, shardId: parsed[0].shardId, reason: parsed[0].reason });
    }
  });

  test('property: any list of refused readings is split into messages that fit and list each once, in order', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3_000 }), fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 300_000 }),
      (count, reasonLength, payloadLength) => {
        const invalidReadings = many(count, reasonLength);
        const messages = letterMessages(deadLetterBody({ ...letter(0, b64('\u{1f321}'.repeat(payloadLength))), invalidReadings }));
        for (const m of messages) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
        expect(messages.flatMap((m) => JSON.parse(m).invalidReadings)).toEqual(invalidReadings);
        const listed = Buffer.byteLength(JSON.stringify(invalidReadings));
        if (listed <= MAX_LISTED_BYTES) expect(messages).toHaveLength(1);
      }), { numRuns: 40 });
  });

  test('one letter in several messages: the letter is undelivered if any of them fails, and only it', async () => {
    const big = { ...letter(0), invalidReadings: many(5_000) };
    const small = letter(1);
    let call = 0;
    const sqs = new FakeClient([], (input: SendMessageBatchCommandInput) => {
      call++;
      // the second request fails the last entry it holds, a part of the big letter
      const out: Partial<SendMessageBatchCommandOutput> = call === 1
        ? { Failed: [{ Id: input.Entries!.at(-1)!.Id!, Code: 'InternalError', SenderFault: false }] }
        : { Failed: [] };
      return out;
    });
    const failed = await new QueueDeadLetterSink(asClient<SQSClient>(sqs), QUEUE_URL).send([big, small]);
    expect(failed).toEqual([big]);
    const bodies = sqs.inputs.flatMap((i) => bodiesOf(i as SendMessageBatchCommandInput));
    expect(bodies.filter((b) => b.sequenceNumber === small.sequenceNumber)).toHaveLength(1);
  });
});

describe('BucketDeadLetterSink', () => {
  test('one NDJSON object per batch, keyed by shard and first sequence number', async () => {
    const fake = new FakeClient();
    const sent = letters(3);
    const failed = await new BucketDeadLetterSink(asClient<S3Client>(fake), 'dlq-bucket', 'dead-letter/').send(sent);
    expect(failed).toEqual([]);
    expect(fake.commandNames).toEqual(['PutObjectCommand']);
    const input = fake.inputs[0] as PutObjectCommandInput;
    expect(input.Bucket).toBe('dlq-bucket');
    expect(input.Key).toBe(`dead-letter/shardId-000000000003/${sent[0].sequenceNumber}.ndjson`);
    expect(input.ContentType).toBe('application/x-ndjson');
    const body = input.Body as string;
    expect(body.endsWith('\n')).toBe(true);
    expect(body.slice(0, -1).split('\n').map((l) => JSON.parse(l))).toEqual(sent.map(deadLetterBody));
  });

  test('keeps payloads of any size whole', async () => {
    const fake = new FakeClient();
    const text = 'w'.repeat(1024 * 1024);
    await new BucketDeadLetterSink(asClient<S3Client>(fake), 'b', '').send([letter(0, b64(text))]);
    const line = JSON.parse((fake.inputs[0] as PutObjectCommandInput).Body as string);
    expect(line.payload).toBe(text);
    expect(line).not.toHaveProperty('truncated');
  });

  test('the same batch gets the same key', async () => {
    const fake = new FakeClient();
    const sink = new BucketDeadLetterSink(asClient<S3Client>(fake), 'b', 'p/');
    await sink.send(letters(2));
    await sink.send(letters(2));
    expect(fake.inputs[0]).toEqual(fake.inputs[1]);
  });

  test('a failed put returns every letter; nothing to send, no call', async () => {
    const fake = new FakeClient([() => serviceError('AccessDenied', 403)]);
    const sink = new BucketDeadLetterSink(asClient<S3Client>(fake), 'b', 'p/');
    const sent = letters(4);
    expect(await sink.send(sent)).toEqual(sent);
    expect(await sink.send([])).toEqual([]);
    expect(fake.inputs).toHaveLength(1);
  });
});
