/**
 * The end-to-end section of `npm run bench`: finite local runs of the
 * synthesized example (`npm run demo -- --readings N`), the whole pipeline
 * from PutRecords to the table, the archive and the dead letters.
 *
 * - latency: readings at a steady rate the pipeline keeps up with; put-to-
 *   queryable is from the PutRecords call to DynamoDB acknowledging the item's
 *   write (a Query returns it from then on), at Lambda's one-second poll of an
 *   idle shard;
 * - throughput: readings put faster than the pipeline takes them; readings per
 *   second from the first put until every event source mapping has processed
 *   every record, without and with each function held to its memory's CPU
 *   share (where the cgroup v1 cpu controller allows it).
 *
 * Needs examples/cdk.out (the bench task synthesizes it first).
 */
import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import type { Summary } from '../local/src/runner/report';

const root = path.resolve(__dirname, '..');
const cdkOut = path.join(root, 'examples', 'cdk.out');

interface Scenario {
  readonly name: string;
  readonly args: string[];
}

function localRun(scenario: Scenario): Summary & { wallMs: number } {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'bench-e2e-')), 'summary.json');
  const started = Date.now();
  const result = spawnSync(process.execPath, [
    require.resolve('ts-node/dist/bin.js'), '--transpile-only', '--project', path.join(root, 'tsconfig.dev.json'),
    path.join(root, 'local', 'src', 'runner', 'cli.ts'), '--cdk-out', cdkOut, '--stack', 'IotBackendReference', '--port', '0', '--summary-json', out, ...scenario.args,
  ], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) {
    throw new Error(`the local run "${scenario.name}" failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  return { ...(JSON.parse(readFileSync(out, 'utf8')) as Summary), wallMs: Date.now() - started };
}

function main(): void {
  if (!existsSync(path.join(cdkOut, 'manifest.json'))) {
    console.error(`error: ${cdkOut} is missing: run \`npx cdk synth --quiet\` in examples/ first (npm run bench does)`);
    process.exit(1);
  }
  const latency: Scenario = { name: 'steady 200 readings/s', args: ['--devices', '50', '--rate', '200', '--readings', '3000', '--malformed', '0.01'] };
  const burst: Scenario = { name: 'burst', args: ['--devices', '50', '--rate', '5000', '--readings', '10000', '--malformed', '0.01'] };
  const limited: Scenario = { name: 'burst, Lambda CPU share', args: [...burst.args, '--cpu-limit'] };

  const rows: Array<[string, Summary & { wallMs: number }]> = [];
  for (const s of [latency, burst, limited]) {
    process.stdout.write(`local run: ${s.name} ... `);
    const summary = localRun(s);
    console.log(`${(summary.wallMs / 1000).toFixed(1)} s`);
    rows.push([s.name, summary]);
  }

  const n = (v: number | undefined) => (v === undefined ? 'n/a' : Math.round(v).toLocaleString('en-US'));
  console.log('\nEnd to end, local run of the example (PutRecords -> processor and archiver -> table, archive, dead letters):\n');
  console.log('| run | readings | readings/s, put to processed | put-to-queryable p50 | p95 | p99 | processor invocations | archive objects |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [name, s] of rows) {
    const processor = s.mappings.find((m) => m.path.includes('Processor'));
    const objects = Object.values(s.archiveObjects).reduce((a, b) => a + b, 0);
    const l = s.latencyMs;
    console.log(`| ${name} | ${n(s.readings.put)} | ${n(s.readingsPerSecond)} | ${n(l?.p50)} ms | ${n(l?.p95)} ms | ${n(l?.p99)} ms | ${n(processor?.stats.invocations)} | ${n(objects)} |`);
    const stored = Object.entries(s.tableItems).find(([t]) => t.includes('PipelineTable'))?.[1];
    if (stored !== s.readings.valid || s.deadLetters < s.readings.malformed) {
      throw new Error(`${name}: ${stored} items stored for ${s.readings.valid} valid readings, ${s.deadLetters} dead letters for ${s.readings.malformed} malformed`);
    }
  }
  console.log('\nThe steady run shows latency at a rate the pipeline keeps up with; the bursts show how fast it drains a backlog.');
  console.log('Latencies include the event source mapping\'s poll (once a second when the shard is idle, as Lambda).');
}

main();
