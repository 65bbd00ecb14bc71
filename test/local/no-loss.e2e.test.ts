/**
 * No record a device can send loses another reading: records drawn from the
 * whole space a device can send (local/src/crafted-records.ts), crafted
 * records among valid readings on one partition key, through the example's
 * reference deployment run locally, whose SQS and CloudWatch endpoints
 * refuse what the services refuse, with a fifth of the processor's writes
 * faulted. Exact counts at the end (local/src/no-loss.ts).
 *
 * Seeded: NO_LOSS_SEED=<n> draws the records of a failed run again. `npm run
 * bench` runs the same check over many more records.
 */
import { REFERENCE_STACK, synthesizeExample } from './helpers';
import { craftedRecords } from '../../local/src/crafted-records';
import { checkNoLoss, putCrafted } from '../../local/src/no-loss';
import { LocalRun } from '../../local/src/runner/local-run';

jest.setTimeout(300_000);

const SEED = Number(process.env.NO_LOSS_SEED ?? Date.now() % 1_000_000_000);
const RECORDS = 1_500;

let run: LocalRun;
const warnings: string[] = [];

beforeAll(async () => {
  run = await LocalRun.start({
    cdkOut: synthesizeExample(),
    stacks: [REFERENCE_STACK],
    port: 0,
    pollIntervalMs: 100,
    onWarning: (m) => warnings.push(m),
    // A share of the processor's writes throttled, half-written or failed: the batches are retried from the failed record.
    faults: { rate: 0.2, kinds: ['throttle', 'unprocessed', 'error500'], seed: SEED },
  });
});

afterAll(async () => {
  await run?.stop();
});

test(`${RECORDS} records drawn from everything a device can send, crafted among valid on one key: nothing lost (seed printed on failure)`, async () => {
  const records = craftedRecords({ count: RECORDS, seed: SEED, largest: 2 });
  const { sequenceNumbers, oversizedRefused } = await putCrafted(run, records);
  expect(oversizedRefused).toBe(true);
  await run.waitUntilProcessed(records.length, 240_000);
  const report = await checkNoLoss(run, records, sequenceNumbers);
  // The seed comes first, so that a failure can be drawn again.
  expect({ seed: SEED, problems: report.problems }).toEqual({ seed: SEED, problems: [] });
  expect(report.stored).toBe(report.valid);
  expect(report.deadLetters).toBe(report.crafted);
  expect(report.archived).toBe(records.length);
  // Every kind of record was drawn, so that the run covered the whole space.
  expect(Object.keys(report.byKind)).toHaveLength(13);
  expect(run.faultProxy!.totalFaults).toBeGreaterThan(10);
  expect(warnings).toEqual([]);
});
