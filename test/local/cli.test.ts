/** The command line's one-line errors, and a finite run from start to summary. */
import { mkdtempSync, readFileSync } from 'fs';
import * as net from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { FULL_STACK, REFERENCE_STACK, synthesizeExample } from './helpers';
import { main, parseDuration } from '../../local/src/runner/cli';

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
