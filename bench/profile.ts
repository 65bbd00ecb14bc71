/**
 * Where the processor's CPU time goes: a V8 CPU profile (`node --cpu-prof`,
 * a sample every 100 us) of the processor under the bench's load (10,000
 * readings in batches of 500, EMF metrics, DynamoDB behind an 8 ms round
 * trip, default writer concurrency, unlimited CPU), cut to the measured pass
 * after the bench's warm-up, and summarized by function and by package.
 *
 *   npx ts-node --transpile-only --project tsconfig.dev.json bench/profile.ts [--top 25] [--ref <git ref>]
 *     [--readings-per-record N] [--counting] [--batch-size 500]
 *
 * The processor is bundled here as the build bundles it (esbuild, the pinned runtime's target, SDK
 * included) but not minified, so that the profile names functions and the
 * bundle's module comments tell which package each line belongs to. With
 * --ref, the processor's sources are taken from that commit instead of the
 * working tree (to compare before and after a change). With
 * --readings-per-record, the same readings go as JSON arrays of N
 * (bench/many-readings.ts); with --counting, to a table that only counts
 * (bench/servers.ts, `CountingTable`) instead of dynalite. The profile file is
 * kept; its path is printed (Chrome DevTools opens it).
 */
import { execFileSync } from 'child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { buildSync } from 'esbuild';
import { runHandler } from './handlers';
import { arrayRecords } from './many-readings';
import { startServers } from './servers';
import { formatTable } from './table';
import { LocalAws, makeDeviceRecords, toLambdaRecord } from '../local/src';
import { esbuildTarget } from '../src/private/handler-contract';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Which module each line of an unminified esbuild bundle comes from (its `// path` comments). */
function moduleOfLine(bundle: string): (line: number) => string {
  const starts: Array<{ line: number; module: string }> = [];
  bundle.split('\n').forEach((text, i) => {
    // esbuild names each module by its path from the working directory; keep it from node_modules/ or src/ on.
    const m = /^\/\/ (?:\S*?\/)?((?:node_modules|src)\/\S+\.[cm]?[jt]s)$/.exec(text);
    if (m) starts.push({ line: i, module: m[1] });
  });
  return (line) => {
    let found = '(bundle prelude)';
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (starts[mid].line <= line) {
        found = starts[mid].module;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  };
}

/** node_modules/@smithy/core/dist-es/x.js -> @smithy/core; src/handlers/x.ts stays. */
function packageOf(module: string): string {
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(module);
  return m ? m[1] : module;
}

/** Self time by function and by package, of the samples taken between `from` and `to` (monotonic microseconds). */
export function summarize(
  profile: CpuProfile, bundleFile: string, bundleText: string, window: { from: number; to: number }, readings: number, top: number,
): string {
  const moduleOf = moduleOfLine(bundleText);
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t < window.from || t > window.to) return;
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') {
      idle += dt;
      return;
    }
    busy += dt;
    let where: string;
    let pkg: string;
    if (url.endsWith(bundleFile)) {
      where = moduleOf(lineNumber);
      pkg = packageOf(where);
    } else if (url.endsWith('handler-process.js')) {
      where = 'bench harness';
      pkg = '(bench harness: timing, floor)';
    } else {
      where = url || '(native)';
      pkg = functionName.startsWith('(') ? functionName : 'node:* and V8 built-ins';
    }
    const fn = `${functionName || '(anonymous)'}  ${where}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + dt);
  });
  const rows = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, `${((v / busy) * 100).toFixed(1)} %`]);
  return [
    `Measured pass: ${(busy / 1000).toFixed(0)} ms busy (${(busy / readings).toFixed(1)} us per reading), ${(idle / 1000).toFixed(0)} ms idle (waiting on round trips).`,
    '',
    formatTable(['self time by function (module)', 'share of busy time'], rows(byFunction)),
    '',
    formatTable(['self time by package', 'share of busy time'], rows(byPackage)),
  ].join('\n');
}

/** The processor bundle, unminified, from the working tree or from a commit. */
function buildProcessor(dir: string, ref?: string): string {
  const root = path.join(__dirname, '..');
  let sources = root;
  if (ref) {
    sources = path.join(dir, 'sources');
    mkdirSync(sources);
    const archive = execFileSync('git', ['archive', ref, 'src/handlers'], { cwd: root });
    execFileSync('tar', ['-x', '-C', sources], { input: archive });
  }
  const bundle = path.join(dir, 'processor.js');
  buildSync({
    entryPoints: [path.join(sources, 'src', 'handlers', 'processor.lambda.ts')],
    bundle: true,
    platform: 'node',
    target: esbuildTarget(),
    outfile: bundle,
    nodePaths: [path.join(root, 'node_modules')],
    logLevel: 'error',
  });
  return bundle;
}

async function main(): Promise<void> {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const top = Number(arg('--top') ?? 25);
  const ref = arg('--ref');
  const dir = mkdtempSync(path.join(tmpdir(), 'processor-profile-'));
  const bundle = buildProcessor(dir, ref);
  const servers = await startServers();
  const aws = LocalAws.connect(servers.endpoints);
  try {
    await aws.createStream('profile-stream');
    await aws.createBucket('profile-dead-letters');
    await Promise.all([aws.createSensorTable('profile-table'), aws.createSensorTable('profile-warmup')]);
    const perRecord = Number(arg('--readings-per-record') ?? 1);
    const devices = makeDeviceRecords({ count: 10_000, malformedEvery: perRecord === 1 ? 100 : 0, sensors: 40, seed: 7 });
    let records;
    if (perRecord === 1) {
      await aws.putRecords('profile-stream', devices);
      records = (await aws.shardReader('profile-stream').readAll()).map((r) => toLambdaRecord(r, { streamName: 'profile-stream' }));
    } else {
      records = arrayRecords(devices.map((d) => d.data), perRecord, 'profile-stream');
    }
    const dynamo = process.argv.includes('--counting')
      ? await servers.countingTable(8)
      : await servers.proxy('dynamodb', { faultTarget: '-', latencyMs: 8 });
    const run = await runHandler({
      kind: 'processor', bundle, records, batchSize: Number(arg('--batch-size') ?? 500), timeoutMs: 60_000, warmupPasses: 6, warmupTarget: 'profile-warmup',
    }, aws.handlerEnv({
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      TABLE_NAME: 'profile-table',
      DEAD_LETTER_DESTINATION: 's3://profile-dead-letters/dead-letter/',
      // The name a commit before the handler contract reads (--ref).
      DEAD_LETTER_BUCKET: 'profile-dead-letters',
      METRICS_MODE: 'EMF',
      POWERTOOLS_DEV: undefined,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      PAYLOAD_ACCEPT_ARRAYS: 'true',
    }), { profileDir: dir });
    await dynamo.close();
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no profile was written to ${dir}`);
    // process.cpuUsage() would count the profiler's sampling thread too: the profile's own busy time is the measure here.
    console.log(`Processor (${ref ? `sources of ${ref}` : 'working tree'}), measured pass of 10,000 readings (${perRecord} per record) after 6 warm-up passes.`);
    console.log(`Profile: ${path.join(dir, file)}\n`);
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    console.log(summarize(profile, path.basename(bundle), readFileSync(bundle, 'utf8'), run.measuredUs, devices.length, top));
  } finally {
    aws.dynamodbClient.destroy();
    aws.kinesisClient.destroy();
    aws.s3Client.destroy();
    await servers.stop();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
