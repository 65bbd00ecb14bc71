/**
 * `npm run demo` ends here: runs a synthesized app locally, with the device
 * simulator and the test page. A finite run (`--duration`, `--readings`)
 * waits until every reading went through every mapping, prints the summary
 * and exits 0; otherwise it runs until Ctrl-C.
 */
import { writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { LocalRunError } from './errors';
import { LocalRun } from './local-run';
import { formatSummary, progressLine, startupReport, summarize } from './report';

/** How the command is called, for its usage text. */
export interface Program {
  /** The command line's start, e.g. `npx cdk-iot-ingest-local`. */
  readonly name: string;
  /** The cloud assembly when no --cdk-out is given. */
  readonly defaultCdkOut: string;
}

const DEMO: Program = { name: 'npm run demo --', defaultCdkOut: 'examples/cdk.out' };

const usage = (program: Program) => `Usage: ${program.name} [options]

Runs the synthesized app (cdk.out) locally: local DynamoDB, Kinesis, S3, SQS and
CloudWatch on 127.0.0.1, each function in a process of its own, the event source
mappings, IoT topic rules, HTTP APIs and Function URLs, a device simulator and
the test page.

  --cdk-out DIR          the cloud assembly (default: ${program.defaultCdkOut})
  --stack NAME           run this stack, its nested stacks and the stacks it depends on
                         (repeatable: the first named leads the page and the simulator)
  --default-stack NAME   the stack to run when no --stack is given (npm run demo:
                         IotBackendReference); without either, an assembly of several
                         stacks is an error that lists them
  --ingress stream|iot   how the simulated devices send readings: PutRecords on the
                         stream (default), or publish to AWS IoT Core through the
                         stack's topic rule
  --topic TOPIC          with --ingress iot: the topic, {sensor} for the sensor id
                         (default: the topic rule's filter, + standing for the sensor id)
  --devices N            simulated sensors (default 10; 0: no simulator)
  --rate R               readings per second, all sensors together (default 5)
  --malformed SHARE      share of malformed readings, 0..1 or a percentage (default 0.01)
  --readings-per-record N  each device puts N readings in one record, a JSON array
                         (default 1; the app's payload mapping must accept arrays)
  --kpl                  each record a KPL aggregate of its readings, one user record
                         each (the app's payload mapping must deaggregate; not with
                         --ingress iot)
  --duration 30s         put readings for this long, then finish and exit
  --readings N           put N readings, then finish and exit
  --data-dir DIR         keep data between runs (default: in memory)
  --port N               the page and its AWS endpoints (default 3000; 0: any free port)
  --dynamodb-port N, --kinesis-port N, --s3-port N   (default: any free port)
  --poll-interval 1s     how often an idle shard is polled (Lambda: once a second)
  --faults RATE          throttle, half-write or fail this share of the functions' BatchWriteItem calls
  --cpu-limit            hold each function to its memory's CPU share (cgroup v1, as root)
  --ignore-type TYPE     run without resources of this type (repeatable)
  --parameter K=V        a template parameter's value (repeatable)
  --query-function NAME  the function the page queries, when the app leaves a choice
  --summary-json FILE    also write the summary as JSON
  --help`;

export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new LocalRunError(`${flag} ${text}: give a duration such as 30s, 2m or 500ms`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  return Number(m[1]) * unit;
}

function parseCount(text: string | undefined, flag: string, fallback: number, allowFraction = false): number {
  if (text === undefined) return fallback;
  const v = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text);
  if (!Number.isFinite(v) || v < 0 || (!allowFraction && !Number.isInteger(v))) throw new LocalRunError(`${flag} ${text} is not a valid number`);
  return v;
}

function parsePort(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0 || v > 65_535) throw new LocalRunError(`${flag} ${text} is not a port number (0 picks a free one)`);
  return v;
}

export async function main(argv: string[], program: Program = DEMO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        'cdk-out': { type: 'string' },
        'stack': { type: 'string', multiple: true },
        'default-stack': { type: 'string' },
        'ingress': { type: 'string' },
        'topic': { type: 'string' },
        'devices': { type: 'string' },
        'rate': { type: 'string' },
        'malformed': { type: 'string' },
        'readings-per-record': { type: 'string' },
        'kpl': { type: 'boolean' },
        'duration': { type: 'string' },
        'readings': { type: 'string' },
        'data-dir': { type: 'string' },
        'port': { type: 'string' },
        'dynamodb-port': { type: 'string' },
        'kinesis-port': { type: 'string' },
        's3-port': { type: 'string' },
        'poll-interval': { type: 'string' },
        'faults': { type: 'string' },
        'cpu-limit': { type: 'boolean' },
        'ignore-type': { type: 'string', multiple: true },
        'parameter': { type: 'string', multiple: true },
        'query-function': { type: 'string' },
        'summary-json': { type: 'string' },
        'help': { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    console.error(`error: ${(err as Error).message} (see --help)`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(usage(program));
    return 0;
  }
  let run: LocalRun | undefined;
  try {
    const devices = parseCount(v.devices, '--devices', 10);
    const rate = parseCount(v.rate, '--rate', 5, true);
    const malformedShare = parseCount(v.malformed, '--malformed', 0.01, true);
    if (malformedShare > 1) throw new LocalRunError(`--malformed ${v.malformed} must be a share from 0 to 1 (or a percentage)`);
    const readingsPerRecord = parseCount(v['readings-per-record'], '--readings-per-record', 1);
    if (readingsPerRecord < 1) throw new LocalRunError('--readings-per-record must be 1 or more');
    const kpl = v.kpl ?? false;
    const durationMs = v.duration !== undefined ? parseDuration(v.duration, '--duration') : undefined;
    const readings = v.readings !== undefined ? parseCount(v.readings, '--readings', 0) : undefined;
    const finite = durationMs !== undefined || readings !== undefined;
    if (finite && (devices === 0 || rate === 0)) throw new LocalRunError('--duration and --readings need the simulator: give --devices and --rate above 0');
    const faults = v.faults !== undefined ? parseCount(v.faults, '--faults', 0, true) : undefined;
    const parameters = Object.fromEntries((v.parameter ?? []).map((p) => {
      const i = p.indexOf('=');
      if (i < 1) throw new LocalRunError(`--parameter ${p}: write it as Name=Value`);
      return [p.slice(0, i), p.slice(i + 1)];
    }));
    const cdkOut = v['cdk-out'] ?? program.defaultCdkOut;
    const ingress = v.ingress ?? 'stream';
    if (ingress !== 'stream' && ingress !== 'iot') throw new LocalRunError(`--ingress ${ingress}: give stream or iot`);
    if (v.topic !== undefined && ingress !== 'iot') throw new LocalRunError('--topic goes with --ingress iot');
    // AWS IoT Core puts each message as one record: a KPL aggregate is a producer's, put with PutRecords.
    if (kpl && ingress === 'iot') throw new LocalRunError('--kpl goes with --ingress stream: AWS IoT Core does not put KPL aggregates');

    run = await LocalRun.start({
      cdkOut,
      stacks: v.stack,
      defaultStack: v['default-stack'],
      port: parsePort(v.port, '--port') ?? 3000,
      dynamodbPort: parsePort(v['dynamodb-port'], '--dynamodb-port'),
      kinesisPort: parsePort(v['kinesis-port'], '--kinesis-port'),
      s3Port: parsePort(v['s3-port'], '--s3-port'),
      dataDir: v['data-dir'],
      pollIntervalMs: v['poll-interval'] !== undefined ? parseDuration(v['poll-interval'], '--poll-interval') : undefined,
      faults: faults ? { rate: faults } : undefined,
      cpuLimit: v['cpu-limit'] ?? false,
      ignoreTypes: v['ignore-type'],
      parameters,
      queryFunction: v['query-function'],
      logDirectory: v['data-dir'] ? undefined : path.join(tmpdir(), 'cdk-iot-ingest-local', `logs-${new Date().toISOString().replace(/[:.]/g, '-')}`),
      onWarning: (m) => {
        clearLine();
        console.error(`warning: ${m}`);
      },
    });
    for (const line of startupReport(run, cdkOut)) console.log(line);
    console.log(`\nTest page: ${run.url}`);
    for (const api of run.plan.httpApis) console.log(`HTTP API ${api.name}: ${Object.values(api.stageUrls).join(', ')}`);
    for (const u of run.plan.functionUrls) console.log(`Function URL: ${u.url}`);
    if (run.plan.httpApis.length || run.plan.functionUrls.length) {
      console.log('  Authorization is not checked locally: IAM, JWT and Lambda authorizers let every request through, signed or not.');
    }
    if (run.plan.topicRules.length) console.log(`IoT Core publish: aws iot-data publish --endpoint-url ${run.endpoint} --topic <topic> ...`);

    let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
    const stop = new Promise<string>((resolve) => {
      onSignal = (signal) => resolve(signal === 'SIGINT' ? 'interrupted' : 'terminated');
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    let firstPutAt = 0;
    if (devices > 0 && rate > 0) {
      firstPutAt = Date.now();
      run.startSimulator({ devices, rate, malformedShare, readings, durationMs, readingsPerRecord, kpl }, undefined, { ingress, topic: v.topic });
      const batching = readingsPerRecord > 1 || kpl ? `, ${readingsPerRecord} per record${kpl ? ' (KPL aggregates)' : ' (JSON arrays)'}` : '';
      console.log(`Simulator: ${devices} devices, ${rate} readings/s${batching}, ${(malformedShare * 100).toFixed(1)} % malformed, ${run.simulatorSink}`
        + `${finite ? `, until ${readings !== undefined ? `${readings} readings` : v.duration}` : ''}`);
      if (ingress === 'stream' && run.plan.topicRules.some((r) => r.enabled)) console.log('  (--ingress iot publishes them to AWS IoT Core instead, through the topic rule)');
    }
    console.log(finite ? '' : 'Ctrl-C stops the run.\n');

    const tty = process.stdout.isTTY;
    let lastPrinted = 0;
    const ticker = setInterval(() => {
      const line = progressLine(run!);
      if (tty) {
        process.stdout.write(`\r\x1b[2K${line.slice(0, Math.max(20, (process.stdout.columns ?? 200) - 1))}`);
      } else if (Date.now() - lastPrinted >= 5_000) {
        lastPrinted = Date.now();
        console.log(line);
      }
    }, 1_000);

    let processedAt: number | undefined;
    let outcome: string;
    if (finite) {
      const finished = (async () => {
        await run!.simulator!.finished;
        // No record comes after the last put: a batching window would add
        // nothing to the last batches, only its wait (the archiver's: a minute).
        for (const p of run!.pollers) p.flushing = true;
        const { put, records } = run!.simulator!.stats;
        // Generous: a loaded machine may take a while, but a stuck mapping must end the run with an error.
        await run!.waitUntilProcessed(records, Math.max(120_000, put * 20));
        processedAt = Date.now();
        return 'finished';
      })();
      outcome = await Promise.race([finished, stop]);
    } else {
      outcome = await stop;
    }
    clearInterval(ticker);
    process.off('SIGINT', onSignal!);
    process.off('SIGTERM', onSignal!);
    clearLine();
    if (outcome !== 'finished') console.log(`\n${outcome}: stopping`);
    const summary = await summarize(run, processedAt, firstPutAt || undefined);
    for (const line of formatSummary(summary)) console.log(line);
    if (v['summary-json']) writeFileSync(v['summary-json'], JSON.stringify(summary, null, 2));
    await run.stop();
    return 0;
  } catch (err) {
    clearLine();
    await run?.stop().catch(() => undefined);
    if (err instanceof LocalRunError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    console.error(err);
    return 1;
  }
}

function clearLine(): void {
  if (process.stdout.isTTY) process.stdout.write('\r\x1b[2K');
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
