/**
 * The local CloudWatch endpoint holds PutMetricData to CloudWatch's rules, so
 * that a local run refuses what CloudWatch would: each rule reached and
 * stepped past with the SDK's CloudWatchClient, the whole request refused with
 * CloudWatch's error code, and nothing of a refused request stored.
 */
import * as http from 'http';
import { CloudWatchClient, Dimension, ListMetricsCommand, MetricDatum, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import * as fc from 'fast-check';
import { CREDENTIALS, REGION } from '../../local/src';
import { CloudWatchServer } from '../../local/src/runner/cloudwatch-server';
import { Gateway } from '../../local/src/runner/gateway';

jest.setTimeout(120_000);

let gateway: Gateway;
let cloudwatch: CloudWatchClient;
const server = new CloudWatchServer();

beforeAll(async () => {
  gateway = await Gateway.start({
    port: 0, pageDirectory: __dirname, config: () => ({}), services: [server], passThrough: {}, lambda: { find: () => undefined, list: () => [] },
  });
  cloudwatch = new CloudWatchClient({ region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint, maxAttempts: 1 });
});

afterAll(async () => {
  cloudwatch?.destroy();
  await gateway?.close();
});

let namespaces = 0;
/** A namespace of its own for each request, so that what it stored can be listed. */
const freshNamespace = () => `Local/Test${++namespaces}`;

const datum = (overrides: Partial<MetricDatum> = {}): MetricDatum => ({
  MetricName: 'SensorData', Dimensions: [{ Name: 'SensorId', Value: 'kitchen' }], Value: 1, ...overrides,
});

interface Outcome {
  readonly accepted: boolean;
  readonly name?: string;
  readonly code?: string;
  readonly status?: number;
  readonly message?: string;
  /** Metrics listed in the namespace afterwards. */
  readonly stored: number;
}

/** Sends one PutMetricData through the SDK, and lists what its namespace holds afterwards. */
async function put(data: MetricDatum[], namespace = freshNamespace(), client = cloudwatch): Promise<Outcome> {
  let outcome: Omit<Outcome, 'stored'>;
  try {
    await client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data }));
    outcome = { accepted: true };
  } catch (err) {
    const e = err as { name: string; Code?: string; message: string; $metadata?: { httpStatusCode?: number } };
    outcome = { accepted: false, name: e.name, code: e.Code, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  // ListMetrics refuses a namespace too long to have been stored under.
  const listed = namespace.length <= 255 ? (await cloudwatch.send(new ListMetricsCommand({ Namespace: namespace }))).Metrics ?? [] : [];
  return { ...outcome, stored: listed.length };
}

/** Refused as CloudWatch refuses it: HTTP 400, the error's code, a message naming the member, nothing stored. */
function expectRefused(o: Outcome, code: 'InvalidParameterValue' | 'InvalidParameterCombination' | 'MissingParameter', message: RegExp): void {
  expect(o).toMatchObject({
    accepted: false,
    name: code === 'MissingParameter' ? 'MissingRequiredParameterException' : `${code}Exception`,
    status: 400,
    stored: 0,
  });
  expect(o.message).toMatch(message);
}

/** Valid data around one datum under test, which sits at a random place among them. */
const withOthers = (subject: MetricDatum) => fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }))
  .map(([before, after]) => ({
    data: [...Array.from({ length: before }, (_, i) => datum({ MetricName: `Before${i}` })), subject, ...Array.from({ length: after }, (_, i) => datum({ MetricName: `After${i}` }))],
    index: before + 1,
  }));

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
/** ASCII without control characters, not blank. */
const asciiText = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...PRINTABLE), minLength, maxLength }).filter((s) => s.trim() !== '');
/** A character CloudWatch refuses in a name or dimension value: not ASCII, or an ASCII control character. */
const refusedChar = fc.oneof(
  fc.integer({ min: 0x80, max: 0xd7ff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
  fc.oneof(fc.integer({ min: 0, max: 0x1f }), fc.constant(0x7f)).map((c) => String.fromCharCode(c)),
);
/** Valid text with one refused character put in. */
const withRefusedChar = (maxLength: number) => fc.tuple(asciiText(1, maxLength - 1), refusedChar, fc.nat())
  .map(([text, c, at]) => text.slice(0, at % (text.length + 1)) + c + text.slice(at % (text.length + 1)));

describe('PutMetricData is held to CloudWatch\'s rules', () => {
  test('MetricData: 1 to 1,000 data per request', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.constantFrom(1, 999, 1000, 1001, 1002), fc.integer({ min: 1, max: 1_100 })), async (n) => {
      const o = await put(Array.from({ length: n }, (_, i) => datum({ MetricName: `M${i}` })));
      if (n <= 1000) expect(o).toMatchObject({ accepted: true, stored: n });
      else expectRefused(o, 'InvalidParameterValue', /^The collection MetricData must not have a size greater than 1000\.$/);
    }), { numRuns: 12 });
    expectRefused(await put([]), 'MissingParameter', /MetricData/);
  });

  test('Namespace: 1 to 255 ASCII characters, no control character, not blank, not starting with ":" or "AWS/"', async () => {
    await fc.assert(fc.asyncProperty(asciiText(1, 250).filter((s) => !s.startsWith(':') && !s.startsWith('AWS/')), async (ns) => {
      const name = `Local/${ns}`.slice(0, 255);
      expect(await put([datum()], name)).toMatchObject({ accepted: true, stored: 1 });
    }), { numRuns: 30 });
    await fc.assert(fc.asyncProperty(fc.oneof(
      asciiText(256, 300).map((ns) => ({ ns: `Local/${ns}`, why: /must be between 1 and 255 characters/ })),
      withRefusedChar(200).map((ns) => ({ ns: `Local/${ns}`, why: /must contain only ASCII characters|must not contain ASCII control characters/ })),
      fc.integer({ min: 1, max: 20 }).map((n) => ({ ns: ' '.repeat(n), why: /must include at least one non-whitespace character/ })),
      asciiText(1, 50).map((ns) => ({ ns: `:${ns}`, why: /must not start with a colon/ })),
      asciiText(1, 50).map((ns) => ({ ns: `AWS/${ns}`, why: /reserved for AWS services/ })),
    ), async ({ ns, why }) => {
      expectRefused(await put([datum()], ns), 'InvalidParameterValue', why);
    }), { numRuns: 40 });
  });

  test('Dimensions: at most 30 per datum', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 34 }).chain((k) => withOthers(datum({
      Dimensions: Array.from({ length: k }, (_, i) => ({ Name: `D${i}`, Value: `v${i}` })),
    })).map((w) => ({ k, ...w }))), async ({ k, data, index }) => {
      const o = await put(data);
      if (k <= 30) expect(o).toMatchObject({ accepted: true, stored: data.length });
      else expectRefused(o, 'InvalidParameterValue', new RegExp(`^The collection MetricData\\.member\\.${index}\\.Dimensions must not have a size greater than 30\\.$`));
    }), { numRuns: 40 });
  });

  test('a dimension name is 1-255 and a value 1-1,024 characters, ASCII, no control character, not blank', async () => {
    const accepted = fc.record({ Name: asciiText(1, 255).filter((n) => !n.startsWith(':')), Value: asciiText(1, 1_024) });
    const longest = fc.record({ Name: asciiText(255, 255).filter((n) => !n.startsWith(':')), Value: asciiText(1_024, 1_024) });
    await fc.assert(fc.asyncProperty(fc.oneof(accepted, longest), async (dim: Dimension) => {
      expect(await put([datum({ Dimensions: [dim] })])).toMatchObject({ accepted: true, stored: 1 });
    }), { numRuns: 30 });
    const refused = fc.oneof(
      fc.record({ Name: asciiText(256, 400), Value: fc.constant('v'), member: fc.constant('Name'), why: fc.constant(/must be between 1 and 255 characters/) }),
      fc.record({ Name: fc.constant('N'), Value: asciiText(1_025, 1_200), member: fc.constant('Value'), why: fc.constant(/must be between 1 and 1024 characters/) }),
      fc.record({ Name: withRefusedChar(255), Value: fc.constant('v'), member: fc.constant('Name'), why: fc.constant(/ASCII/) }),
      fc.record({ Name: fc.constant('N'), Value: withRefusedChar(1_024), member: fc.constant('Value'), why: fc.constant(/ASCII/) }),
      fc.record({ Name: fc.constant('N'), Value: fc.integer({ min: 1, max: 30 }).map((n) => ' '.repeat(n)), member: fc.constant('Value'), why: fc.constant(/non-whitespace/) }),
      fc.record({ Name: fc.integer({ min: 1, max: 30 }).map((n) => ' '.repeat(n)), Value: fc.constant('v'), member: fc.constant('Name'), why: fc.constant(/non-whitespace/) }),
      fc.record({ Name: fc.constant(''), Value: fc.constant('v'), member: fc.constant('Name'), why: fc.constant(/is required|between 1 and 255/) }),
      fc.record({ Name: fc.constant('N'), Value: fc.constant(''), member: fc.constant('Value'), why: fc.constant(/is required|between 1 and 1024/) }),
    );
    await fc.assert(fc.asyncProperty(refused.chain((r) => withOthers(datum({ Dimensions: [{ Name: 'SensorId', Value: 's' }, { Name: r.Name, Value: r.Value }] })).map((w) => ({ r, ...w }))),
      async ({ r, data, index }) => {
        const o = await put(data);
        expect(o).toMatchObject({ accepted: false, status: 400, stored: 0 });
        expect(o.message).toContain(`MetricData.member.${index}.Dimensions.member.2.${r.member}`);
        expect(o.message).toMatch(r.why);
      }), { numRuns: 60 });
  });

  test('a timestamp at most two weeks in the past and two hours in the future', async () => {
    const minute = 60_000;
    const twoWeeks = 14 * 24 * 60 * minute;
    const twoHours = 2 * 60 * minute;
    // A minute of margin on either side of each bound for the time between the test's clock and the server's.
    const within = fc.integer({ min: -twoWeeks + minute, max: twoHours - minute });
    const outside = fc.oneof(
      fc.integer({ min: -10 * twoWeeks, max: -twoWeeks - minute }),
      fc.integer({ min: twoHours + minute, max: 100 * twoHours }),
    );
    await fc.assert(fc.asyncProperty(within, async (offset) => {
      expect(await put([datum({ Timestamp: new Date(Date.now() + offset) })])).toMatchObject({ accepted: true, stored: 1 });
    }), { numRuns: 25 });
    const outsideAmongOthers = outside.chain((offset) => withOthers(datum({ Timestamp: new Date(Date.now() + offset) })));
    await fc.assert(fc.asyncProperty(outsideAmongOthers, async ({ data, index }) => {
      expectRefused(await put(data), 'InvalidParameterValue',
        new RegExp(`^The parameter MetricData\\.member\\.${index}\\.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future\\.$`));
    }), { numRuns: 25 });
  });

  test('values: no NaN or infinity; 0 or a magnitude from 8.515920e-109 to 1.174271e+108', async () => {
    const MIN = 8.515920e-109;
    const MAX = 1.174271e+108;
    const inRange = fc.oneof(
      fc.constantFrom(0, -0, MIN, -MIN, MAX, -MAX, 1, -1.5),
      fc.double({ min: MIN, max: MAX, noNaN: true }),
      fc.double({ min: -MAX, max: -MIN, noNaN: true }),
    );
    const outOfRange = fc.oneof(
      fc.constantFrom(NaN, Infinity, -Infinity, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 1e-109, 1.2e108),
      fc.double({ min: MAX * (1 + 1e-15), max: Number.MAX_VALUE, noNaN: true }),
      fc.double({ min: Number.MIN_VALUE, max: MIN * (1 - 1e-15), noNaN: true }),
      fc.double({ min: -Number.MAX_VALUE, max: -MAX * (1 + 1e-15), noNaN: true }),
    );
    await fc.assert(fc.asyncProperty(inRange, fc.boolean(), async (v, asValues) => {
      const subject = asValues ? datum({ Value: undefined, Values: [1, v], Counts: [1, 2] }) : datum({ Value: v });
      expect(await put([subject])).toMatchObject({ accepted: true, stored: 1 });
    }), { numRuns: 40 });
    await fc.assert(fc.asyncProperty(outOfRange, fc.constantFrom('Value', 'Values', 'StatisticValues'), async (v, where) => {
      const subject = where === 'Value' ? datum({ Value: v })
        : where === 'Values' ? datum({ Value: undefined, Values: [1, v] })
          : datum({ Value: undefined, StatisticValues: { SampleCount: 2, Sum: v, Minimum: 0, Maximum: 1 } });
      const o = await put([datum({ MetricName: 'Other' }), subject]);
      const member = where === 'Value' ? 'MetricData.member.2.Value' : where === 'Values' ? 'MetricData.member.2.Values.member.2' : 'MetricData.member.2.StatisticValues.Sum';
      expectRefused(o, 'InvalidParameterValue', new RegExp(`for parameter ${member.replace(/\./g, '\\.')} is invalid`));
    }), { numRuns: 40 });
  });

  test('Values and Counts: at most 150, of one length, counts not negative; Value, Values and StatisticValues one at a time', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 155 }), fc.boolean(), async (n, withCounts) => {
      const values = Array.from({ length: n }, (_, i) => i);
      const o = await put([datum({ Value: undefined, Values: values, Counts: withCounts ? values.map(() => 2) : undefined })]);
      if (n <= 150) expect(o).toMatchObject({ accepted: true, stored: 1 });
      else expectRefused(o, 'InvalidParameterValue', /^The collection MetricData\.member\.1\.(Values|Counts) must not have a size greater than 150\.$/);
    }), { numRuns: 30 });
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 150 }), fc.integer({ min: 0, max: 150 }), async (values, counts) => {
      fc.pre(values !== counts);
      expectRefused(await put([datum({ Value: undefined, Values: Array(values).fill(1), Counts: Array(counts).fill(1) })]),
        'InvalidParameterValue', /^The parameters MetricData\.member\.1\.Values and MetricData\.member\.1\.Counts must be of the same size/);
    }), { numRuns: 20 });
    await fc.assert(fc.asyncProperty(fc.double({ max: -Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }), async (count) => {
      expectRefused(await put([datum({ Value: undefined, Values: [1, 2], Counts: [1, count] })]), 'InvalidParameterValue', /MetricData\.member\.1\.Counts\.member\.2 is invalid: a count is not negative/);
    }), { numRuns: 20 });
    const stats = { SampleCount: 2, Sum: 3, Minimum: 1, Maximum: 2 };
    expectRefused(await put([datum({ Value: 1, Values: [1] })]), 'InvalidParameterCombination',
      /^The parameters MetricData\.member\.1\.Value and MetricData\.member\.1\.Values are mutually exclusive/);
    expectRefused(await put([datum({ Value: 1, StatisticValues: stats })]), 'InvalidParameterCombination', /mutually exclusive/);
    expectRefused(await put([datum({ Value: undefined })]), 'InvalidParameterCombination', /At least one of the parameters MetricData\.member\.1\.Value/);
    expectRefused(await put([datum({ Value: 1, Counts: [1] })]), 'InvalidParameterCombination', /Counts may only be given with/);
    expect(await put([datum({ Value: undefined, StatisticValues: stats })])).toMatchObject({ accepted: true, stored: 1 });
  });

  test('a request is at most 1 MB as sent; gzip lets 1,000 data of 150 values through, as CloudWatch allows', async () => {
    const big = Array.from({ length: 1_000 }, (_, i) => datum({
      MetricName: `M${i}`, Value: undefined, Values: Array.from({ length: 150 }, (__, k) => k * 1.000001 + i), Counts: Array(150).fill(3),
    }));
    // The SDK compresses it: about 3 MB of JSON, well under 1 MB gzip.
    expect(await put(big)).toMatchObject({ accepted: true, stored: 1_000 });
    const raw = new CloudWatchClient({
      region: REGION, credentials: CREDENTIALS, endpoint: gateway.endpoint, maxAttempts: 1, disableRequestCompression: true,
    });
    try {
      const o = await put(big, freshNamespace(), raw);
      expect(o).toMatchObject({ accepted: false, status: 413, stored: 0 });
      expect(o.message).toMatch(/^the request body is \d+ bytes: CloudWatch requests take at most 1000000 bytes$/);
    } finally {
      raw.destroy();
    }
  });
});

describe('malformed requests to the CloudWatch and SQS endpoints', () => {
  /** A raw AWS JSON 1.0 request with any body. */
  function post(targetName: string, body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: gateway.port,
        method: 'POST',
        path: '/',
        headers: { 'x-amz-target': targetName, 'content-type': 'application/x-amz-json-1.0' },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const anything = fc.jsonValue({ maxDepth: 4 });
  /** Inputs of roughly the right shape with wrong members inside, and anything at all. */
  const putMetricDataInput = fc.oneof(
    fc.dictionary(fc.constantFrom('Namespace', 'MetricData', 'Other'), anything),
    fc.record({
      Namespace: fc.oneof(fc.constant('Local/Fuzz'), anything),
      MetricData: fc.oneof(anything, fc.array(fc.oneof(anything, fc.record({
        MetricName: fc.oneof(fc.constant('M'), anything),
        Dimensions: fc.oneof(anything, fc.array(fc.oneof(anything, fc.record({ Name: anything, Value: anything }, { requiredKeys: [] })))),
        Timestamp: anything,
        Value: anything,
        Values: fc.oneof(anything, fc.array(anything)),
        Counts: fc.oneof(anything, fc.array(anything)),
        StatisticValues: fc.oneof(anything, fc.record(
          { SampleCount: anything, Sum: anything, Minimum: anything, Maximum: anything }, { requiredKeys: [] })),
        StorageResolution: anything,
        Unit: anything,
      }, { requiredKeys: [] })), { maxLength: 4 })),
    }, { requiredKeys: [] }),
  );
  const queryInput = fc.oneof(
    fc.dictionary(fc.string(), anything),
    fc.record({
      StartTime: fc.oneof(fc.constant(0), anything),
      EndTime: fc.oneof(fc.constant(4e9), anything),
      MetricDataQueries: fc.oneof(anything, fc.array(fc.oneof(anything, fc.record({
        Id: anything,
        Expression: anything,
        ReturnData: anything,
        MetricStat: fc.oneof(anything, fc.record({
          Metric: fc.oneof(anything, fc.record(
            { Namespace: anything, MetricName: anything, Dimensions: fc.oneof(anything, fc.array(anything)) }, { requiredKeys: [] })),
          Period: anything,
          Stat: anything,
        }, { requiredKeys: [] })),
      }, { requiredKeys: [] })), { maxLength: 3 })),
      Namespace: anything,
      MetricName: anything,
      Dimensions: fc.oneof(anything, fc.array(anything)),
      Period: anything,
      Statistics: fc.oneof(anything, fc.array(anything)),
      ExtendedStatistics: fc.oneof(anything, fc.array(anything)),
    }, { requiredKeys: [] }),
  );

  test('any JSON to any CloudWatch operation is answered with a 4xx or a 200, never a 500', async () => {
    const before = server.snapshot().series.length;
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.tuple(fc.constant('PutMetricData'), putMetricDataInput),
        fc.tuple(fc.constantFrom('GetMetricData', 'GetMetricStatistics', 'ListMetrics'), queryInput),
      ),
      async ([operation, input]) => {
        const status = await post(`GraniteServiceVersion20100801.${operation}`, JSON.stringify(input));
        expect(status === 200 || (status >= 400 && status < 500)).toBe(true);
      },
    ), { numRuns: 400 });
    // Whatever was accepted was valid: every stored series has a name and a namespace.
    for (const s of server.snapshot().series.slice(before)) expect(s.namespace && s.metricName).toBeTruthy();
  });
});
