/**
 * Records of many readings through a local run, with faults: a JSON array,
 * a gateway's batch and a KPL aggregate per record, invalid readings inside
 * them, through an app whose payload mapping accepts all three, while a share
 * of the processor's writes is throttled, half-written or failed and its
 * process is killed once. Every reading stored exactly once, every refused
 * one listed at its place in its record's one dead letter, every record
 * archived as sent.
 *
 * Seeded: NO_LOSS_SEED=<n> draws the records of a failed run again.
 */
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { readArchive, waitFor } from './helpers';
import { CREDENTIALS, REGION } from '../../local/src';
import { craftedRecords } from '../../local/src/crafted-records';
import { checkNoLoss, putCrafted } from '../../local/src/no-loss';
import { LocalRun } from '../../local/src/runner/local-run';
import { PutReading } from '../../local/src/runner/simulator';
import { Archiver, IngestProcessor, SensorIngestPipeline } from '../../src';

jest.setTimeout(420_000);

const SEED = Number(process.env.NO_LOSS_SEED ?? Date.now() % 1_000_000_000);
const SHAPES = { acceptArrays: true, readingsField: 'readings', aggregated: true };
const STACK = 'ManyReadings';

/** A pipeline that takes every shape of record, at the reference's small batches so that a run has many invocations to fault. */
function synthesizeApp(): string {
  const outdir = mkdtempSync(path.join(tmpdir(), 'many-readings-cdk-out-'));
  const app = new App({ outdir });
  const stack = new Stack(app, STACK);
  new SensorIngestPipeline(stack, 'Pipeline', {
    payloadMapping: SHAPES,
    alarms: { enabled: false },
    processor: IngestProcessor.dynamoDb({
      batchSize: 25, maxBatchingWindow: Duration.seconds(0), startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    }),
    archiver: Archiver.s3({ batchSize: 100, maxBatchingWindow: Duration.seconds(0), startingPosition: lambda.StartingPosition.TRIM_HORIZON }),
  });
  app.synth();
  return outdir;
}

const cdkOut = synthesizeApp();

async function withRun(faultSeed: number, body: (run: LocalRun, warnings: string[]) => Promise<void>): Promise<void> {
  const warnings: string[] = [];
  const run = await LocalRun.start({
    cdkOut,
    stacks: [STACK],
    port: 0,
    pollIntervalMs: 100,
    onWarning: (m) => warnings.push(m),
    faults: { rate: 0.25, kinds: ['throttle', 'unprocessed', 'error500'], seed: faultSeed },
  });
  try {
    await body(run, warnings);
  } finally {
    await run.stop();
  }
}

/** Kills the processor's process once its mapping is `share` through `records`, while it works on a batch. */
async function killProcessorAt(run: LocalRun, records: number, share: number): Promise<number> {
  const processor = run.plan.functions.find((f) => f.path.includes('Processor'))!;
  const pool = run.pools.get(processor.name)!;
  const mapping = run.pollers.find((p) => p.spec.functionName === processor.name)!;
  await waitFor(() => mapping.stats.recordsDone >= records * share && pool.busy > 0, 'the processor to be under way, busy', 200_000);
  const pids = pool.processIds();
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  return pids.length;
}

test('records of many readings drawn from everything a device can send, with faults and a killed processor: each reading stored or dead-lettered once (seed printed on failure)', async () => {
  await withRun(SEED, async (run, warnings) => {
    const records = craftedRecords({ count: 600, seed: SEED, largest: 1, shapes: SHAPES, validShare: 0.3 });
    const { sequenceNumbers } = await putCrafted(run, records);
    expect(await killProcessorAt(run, records.length, 0.3)).toBeGreaterThan(0);
    await run.waitUntilProcessed(records.length, 300_000);
    // A batch whose letters were sent before the kill comes again with them: letters may repeat, rows never.
    const report = await checkNoLoss(run, records, sequenceNumbers, { repeatedLetters: true });
    expect({ seed: SEED, problems: report.problems }).toEqual({ seed: SEED, problems: [] });
    expect(report.stored).toBe(report.valid);
    expect(report.deadLetters).toBe(report.crafted);
    expect(report.archived).toBe(records.length);
    for (const kind of ['array of readings', 'empty array', 'gateway batch', 'gateway batch without an array', 'KPL aggregate', 'KPL aggregate, digest mismatch']) {
      expect({ kind, drawn: (report.byKind[kind] ?? 0) > 0 }).toEqual({ kind, drawn: true });
    }
    // Records of many held both valid and refused readings.
    expect(report.invalidReadings).toBeGreaterThan(100);
    expect(report.valid).toBeGreaterThan(300);
    // Records of many readings make few writes: the count of faults drawn at 25 % varies with the seed, but some were.
    expect(run.faultProxy!.totalFaults).toBeGreaterThan(0);
    expect(warnings).toEqual([]);
  });
});

test('a device batching 25 readings per record, with faults and a killed processor: every valid reading stored exactly once, each malformed one listed once', async () => {
  await withRun(SEED + 1, async (run, warnings) => {
    const READINGS = 5_000;
    const put: PutReading[] = [];
    const options = { devices: 40, rate: 1_000, malformedShare: 0.02, readings: READINGS, seed: 5, readingsPerRecord: 25 };
    const simulator = run.startSimulator(options, (r) => put.push(...r));
    expect(await killProcessorAt(run, READINGS / 25, 0.3)).toBeGreaterThan(0);
    await simulator.finished;
    expect(simulator.stats.put).toBe(READINGS);
    expect(simulator.stats.records).toBe(READINGS / 25);
    await run.waitUntilProcessed(simulator.stats.records, 300_000);

    const dynamo = new DynamoDBClient({ region: REGION, credentials: CREDENTIALS, endpoint: run.endpoints.dynamodb });
    const stored = new Map<string, number>();
    let start: Record<string, never> | undefined;
    try {
      do {
        const page = await dynamo.send(new ScanCommand({ TableName: run.plan.tables[0].name, ExclusiveStartKey: start }));
        for (const item of page.Items ?? []) stored.set(`${item.SensorId.S}|${item.Timestamp.S}`, Number(item.Value.N));
        start = page.LastEvaluatedKey as Record<string, never> | undefined;
      } while (start);
    } finally {
      dynamo.destroy();
    }
    expect(put).toHaveLength(simulator.stats.valid);
    expect(stored.size).toBe(simulator.stats.valid);
    expect(put.filter((r) => stored.get(`${r.sensorId}|${r.timestamp}`) !== r.value)).toEqual([]);

    // One letter per record with malformed readings, listing each by index: distinct places count.
    const queue = run.plan.queues.find((q) => /DeadLetter/.test(q.path) && !/FailedBatches/.test(q.path))!.name;
    type Letter = { sequenceNumber: string; invalidReadings: Array<{ index: number; reason: string }> };
    const letters = run.sqs.peekAll(queue).map((b) => JSON.parse(b) as Letter);
    const places = new Set(letters.flatMap((l) => l.invalidReadings.map((r) => `${l.sequenceNumber}#${r.index}`)));
    expect(places.size).toBe(simulator.stats.malformed);
    expect(simulator.stats.malformed).toBeGreaterThan(40);

    const bucket = run.plan.buckets.find((b) => /ArchiverBucket/i.test(b.path))!.name;
    const lines = await readArchive(run.endpoints.s3, bucket, (await run.listBucketObjects())[bucket]);
    expect(new Set(lines.map((l) => l.sequenceNumber)).size).toBe(simulator.stats.records);
    for (const p of run.pollers) expect(p.stats.recordsDiscarded).toBe(0);
    expect(run.faultProxy!.totalFaults).toBeGreaterThan(5);
    expect(warnings).toEqual([]);
  });
});
