/**
 * The no-loss section of `npm run bench`: the end-to-end no-loss check of
 * test/local/no-loss.e2e.test.ts at a larger size. Records drawn from
 * everything a device can send (local/src/crafted-records.ts), crafted ones
 * among valid ones on one partition key, through the example's reference
 * deployment run locally with a fifth of the processor's writes faulted;
 * then the table, the dead letters, the archive and the failed-batches
 * queues read back (local/src/no-loss.ts). Fails on any loss.
 *
 *   NO_LOSS_RECORDS=20000 NO_LOSS_SEED=7 npm run bench
 *
 * Needs examples/cdk.out (the bench task synthesizes it first).
 */
import * as path from 'path';
import { formatTable, num } from './table';
import { craftedRecords } from '../local/src/crafted-records';
import { checkNoLoss, putCrafted } from '../local/src/no-loss';
import { LocalRun } from '../local/src/runner/local-run';

async function main(): Promise<void> {
  const count = Number(process.env.NO_LOSS_RECORDS ?? 10_000);
  const seed = Number(process.env.NO_LOSS_SEED ?? Date.now() % 1_000_000_000);
  const records = craftedRecords({ count, seed, largest: 5 });
  const bytes = records.reduce((n, r) => n + r.data.length, 0);
  const run = await LocalRun.start({
    cdkOut: path.join(__dirname, '..', 'examples', 'cdk.out'),
    stacks: ['IotBackendReference'],
    port: 0,
    faults: { rate: 0.2, kinds: ['throttle', 'unprocessed', 'error500'], seed },
    onWarning: (m) => console.error(`warning: ${m}`),
  });
  try {
    const started = Date.now();
    const { sequenceNumbers, oversizedRefused } = await putCrafted(run, records);
    await run.waitUntilProcessed(records.length, 1_800_000);
    const seconds = (Date.now() - started) / 1000;
    const report = await checkNoLoss(run, records, sequenceNumbers);
    console.log(`\nNo loss, end to end: ${num(count)} records (${(bytes / 1_048_576).toFixed(1)} MiB) drawn with seed ${seed}, crafted among valid on one key,`);
    console.log('through the reference deployment run locally, a fifth of the processor\'s writes faulted:\n');
    console.log(formatTable(['kind of record', 'records'], Object.entries(report.byKind).sort(([, a], [, b]) => b - a).map(([k, n]) => [k, num(n)])));
    console.log();
    console.log(formatTable(
      ['records', 'valid', 'stored once', 'crafted', 'dead-lettered once', 'archived', 'failed batches', 'discarded', 'writes faulted', 'records/s', 'over 1 MiB refused'],
      [[num(report.records), num(report.valid), num(report.stored), num(report.crafted), num(report.deadLetters), num(report.archived),
        num(report.failedBatches), num(report.discarded), num(run.faultProxy?.totalFaults ?? 0), num(count / seconds), oversizedRefused ? 'yes' : 'NO']],
    ));
    if (report.problems.length > 0 || !oversizedRefused) {
      console.error(`\nLOST OR WRONG (seed ${seed}):\n${report.problems.join('\n')}`);
      process.exitCode = 1;
    }
  } finally {
    await run.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
