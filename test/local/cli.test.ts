/** The command line's one-line errors, and a finite run from start to summary. */
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import * as net from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { FULL_STACK, REFERENCE_STACK, synthesizeExample } from './helpers';
import { main, parseDuration } from '../../local/src/runner/cli';
import { Archiver, IngestProcessor, SensorIngestPipeline } from '../../src';

jest.setTimeout(120_000);

let errors: string[];
let logs: string[];
beforeEach(() => {
  errors = [];
  logs = [];
  jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void errors.push(args.join(' ')));
  jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logs.push(args.join(' ')));
});
afterEach(() => jest.restoreAllMocks());

test('durations', () => {
  expect(parseDuration('30s', '--duration')).toBe(30_000);
  expect(parseDuration('2m', '--duration')).toBe(120_000);
  expect(parseDuration('500ms', '--duration')).toBe(500);
  expect(parseDuration('5', '--duration')).toBe(5_000);
  expect(() => parseDuration('3x', '--duration')).toThrow('--duration 3x: give a duration such as 30s, 2m or 500ms');
});

test('bad options, a missing cloud assembly and a port in use are one-line errors', async () => {
  expect(await main(['--bogus'])).toBe(2);
  expect(await main(['--malformed', '150%'])).toBe(1);
  expect(await main(['--cdk-out', '/nonexistent/cdk.out'])).toBe(1);
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    expect(await main(['--cdk-out', synthesizeExample(), '--stack', REFERENCE_STACK, '--port', String(port), '--readings', '10'])).toBe(1);
  } finally {
    blocker.close();
  }
  expect(errors).toEqual([
    "error: Unknown option '--bogus' (see --help)",
    'error: --malformed 150% must be a share from 0 to 1 (or a percentage)',
    'error: no cloud assembly at /nonexistent/cdk.out (manifest.json is missing): synthesize the app first (`npx cdk synth` in its folder; `npm run demo` does it for the example)',
    `error: port ${port} (the page) is in use: stop what uses it, or pass --port <another port> (0 picks a free one)`,
  ]);
});

test('an assembly of several stacks needs --stack (or --default-stack); an unknown name lists the stacks there are', async () => {
  const cdkOut = synthesizeExample();
  expect(await main(['--cdk-out', cdkOut, '--port', '0'])).toBe(1);
  expect(await main(['--cdk-out', cdkOut, '--port', '0', '--stack', 'IotBackend'])).toBe(1);
  expect(await main(['--cdk-out', cdkOut, '--port', '0', '--default-stack', 'Nope'])).toBe(1);
  expect(await main(['--cdk-out', cdkOut, '--port', '0', '--stack', REFERENCE_STACK, '--ingress', 'mqtt'])).toBe(1);
  expect(await main(['--cdk-out', cdkOut, '--port', '0', '--stack', REFERENCE_STACK, '--topic', 'sensors/{sensor}'])).toBe(1);
  // The reference stack has no topic rule to publish through.
  expect(await main(['--cdk-out', cdkOut, '--port', '0', '--stack', REFERENCE_STACK, '--ingress', 'iot', '--readings', '1', '--poll-interval', '200ms'])).toBe(1);
  expect(errors).toEqual([
    `error: the cloud assembly has 2 stacks (${REFERENCE_STACK}, ${FULL_STACK}): pick one with --stack NAME (repeatable, to run several together)`,
    `error: --stack IotBackend: the cloud assembly has no such stack; it has ${REFERENCE_STACK}, ${FULL_STACK}`,
    `error: --default-stack Nope: the cloud assembly has no such stack; it has ${REFERENCE_STACK}, ${FULL_STACK}`,
    'error: --ingress mqtt: give stream or iot',
    'error: --topic goes with --ingress iot',
    'error: --ingress iot needs an enabled AWS::IoT::TopicRule in the stacks that run: they have none',
  ]);
});

test('a finite run exits 0 with the summary, counting every reading', async () => {
  const summaryFile = path.join(mkdtempSync(path.join(tmpdir(), 'cli-')), 'summary.json');
  // --default-stack, as npm run demo passes it.
  const code = await main(['--cdk-out', synthesizeExample(), '--default-stack', REFERENCE_STACK, '--port', '0', '--readings', '400', '--rate', '400', '--malformed', '5%',
    '--poll-interval', '200ms', '--summary-json', summaryFile]);
  expect(errors).toEqual([]);
  expect(code).toBe(0);
  expect(logs.some((l) => l.includes('Test page: http://127.0.0.1:'))).toBe(true);
  expect(logs).toContain('Not run locally (they matter at deploy time only):');
  expect(logs).toContain(`Stacks: ${REFERENCE_STACK}`);
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
  expect(summary.readings.put).toBe(400);
  const stored = Object.entries(summary.tableItems as Record<string, number>).find(([t]) => t.includes('PipelineTable'))![1];
  expect(stored).toBe(summary.readings.valid);
  expect(summary.deadLetters).toBe(summary.readings.malformed);
  expect(summary.latencyMs.count).toBe(summary.readings.valid);
  expect(summary.readingsPerSecond).toBeGreaterThan(0);
  expect(logs.find((l) => l.includes('put-to-stored latency'))).toMatch(/p50 [\d,]+ ms, p95 [\d,]+ ms, p99 [\d,]+ ms/);
});

describe('functions on a runtime the run cannot run, in a CDK app', () => {
  /** A default pipeline, and a function of another runtime: the pipeline's processor, or beside it, invoked by nothing. */
  function synthesize(asProcessor: boolean): string {
    const outdir = mkdtempSync(path.join(tmpdir(), 'runtimes-cdk-out-'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'Runtimes');
    if (asProcessor) {
      const processor = new lambda.Function(stack, 'PythonProcessor', {
        runtime: lambda.Runtime.PYTHON_3_12, handler: 'index.handler', code: lambda.Code.fromInline('def handler(event, context):\n    return {}\n'),
      });
      new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.fromFunction(processor) });
    } else {
      // No archive batching window: the finite run ends once the archiver has its records.
      new SensorIngestPipeline(stack, 'Pipeline', { archiver: Archiver.s3({ maxBatchingWindow: Duration.seconds(0) }) });
      const jar = mkdtempSync(path.join(tmpdir(), 'jar-'));
      writeFileSync(path.join(jar, 'Handler.class'), '');
      new lambda.Function(stack, 'Reporter', { runtime: lambda.Runtime.JAVA_21, handler: 'example.Handler::handleRequest', code: lambda.Code.fromAsset(jar) });
    }
    app.synth();
    return outdir;
  }

  test('a processor on Python stops the run at start with one line naming it and its runtime', async () => {
    expect(await main(['--cdk-out', synthesize(true), '--port', '0', '--readings', '10'])).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(
      '^error: Runtimes/PythonProcessor/Resource \\(logical id PythonProcessor[0-9A-F]{8}\\) has the runtime python3.12, which the local run cannot run, '
      + 'and the event source mapping Runtimes/PythonProcessorKinesisEventSource\\w+ invokes it: the local run runs Node.js functions \\(nodejs\\* runtimes\\) from their asset directory$'));
    expect(logs.some((l) => l.includes('Test page'))).toBe(false);
  });

  test('a Java function nothing invokes is listed, and the run goes on', async () => {
    expect(await main(['--cdk-out', synthesize(false), '--port', '0', '--readings', '20', '--rate', '100', '--malformed', '0', '--poll-interval', '200ms'])).toBe(0);
    expect(errors).toEqual([]);
    const at = logs.indexOf('Functions not run (a runtime the local run cannot run; nothing in the run invokes them):');
    expect(at).toBeGreaterThan(-1);
    expect(logs[at + 1]).toMatch(/^ {2}Runtimes\/Reporter\/Resource \(logical id Reporter[0-9A-F]{8}\): java21$/);
    expect(logs.find((l) => l.includes('readings put'))).toMatch(/readings put\s+20 \(20 valid, 0 malformed\)/);
  });
});
