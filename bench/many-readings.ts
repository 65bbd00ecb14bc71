/**
 * Benchmark: records of many readings (JSON arrays) through one processor
 * held to the CPU share of the default memory size (512 MB), in one run:
 *
 *   npx projen bench:many-readings   (bundles first; `npm run bench` runs it too)
 *
 * 1. Readings per second at 1, 10, 25 and 100 readings per record, against a
 *    DynamoDB endpoint that takes every BatchWriteItem after an 8 ms round
 *    trip and only counts its items (bench/servers.ts, `CountingTable`):
 *    dynalite tops out near 10,000 items a second on this machine, below what
 *    the processor writes. CPU per record and per reading side by side.
 * 2. The same at 25 readings per record against dynalite behind the 8 ms
 *    round trip, every stored item checked.
 * 3. A payload schema: 25 ten-field readings per record, with no schema and
 *    with a realistic ten-field JSON Schema (bounds, required fields, enums,
 *    patterns), CPU per reading through the processor in the same run, and
 *    the check alone, in this process, per reading.
 *
 * As bench/bench.ts: the handler runs in a process of its own, held to its
 * share by a CFS quota (cgroup v1 `cpu`), after a warm-up at full speed; each
 * row is the median of three measured passes by wall time. The servers run in
 * other processes.
 *
 * Options: `--bundle <file>` runs another processor bundle (to compare
 * before and after a change); `--only <ceiling|exact|schema>` runs one part.
 */
import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import type { KinesisStreamRecord } from 'aws-lambda';
import { HandlerRun, runHandler } from './handlers';
import { startServers } from './servers';
import { formatTable, money, num } from './table';
import { DeviceRecord, LAMBDA_MB_PER_VCPU, LocalAws, makeDeviceRecords, toLambdaRecord } from '../local/src';
import { decodeRecord, mappingOf } from '../src/handlers/reading';
import { PAYLOAD_SETTINGS, readSettings } from '../src/private/handler-contract';
import { compilePayloadSchema } from '../src/private/payload-schema';
import { bundlePath, loadBundle } from '../test/integration/bundles';

const READINGS = 20_000;
const SENSORS = 40;
const READINGS_PER_RECORD = [1, 10, 25, 100];
/** The shape the exact-count run and the schema runs use. */
const SHAPE = 25;
const WARMUP_PASSES = 6;
const MEASURED_PASSES = 3;
/** Records per invocation, as in bench/bench.ts. */
const PROCESSOR_BATCH = 500;
/** A smaller batch for one more row: 500 readings an invocation at 25 per record, as 500 records of one reading are. */
const SMALL_BATCH = 20;
const STREAM_TIMEOUT_MS = 60_000;
const DYNAMODB_ROUND_TRIP_MS = 8;
/** The processor's default memory size (src/handler-function.ts); keep in step. */
const MEMORY_MB = 512;
/** The target: readings a second through one processor at 25 readings per record. */
const TARGET_READINGS_PER_SECOND = 20_000;
/** The target: what a schema may add to the CPU per reading. */
const TARGET_SCHEMA_OVERHEAD = 0.25;
const PRICE_PER_GB_SECOND = 0.0000133334;
const PRICE_PER_REQUEST = 0.2 / 1e6;
const DEAD_LETTER_BUCKET = 'many-readings-dead-letters';

/**
 * A reading schema as users write one: ten fields, five required, numeric
 * bounds, enums, string patterns (a Unicode one for ids), no other fields.
 */
export const TEN_FIELD_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['sensorid', 'timestamp', 'value', 'unit', 'status'],
  properties: {
    sensorid: { type: 'string', pattern: '^[\\p{L}\\p{N}_-]{1,64}$' },
    timestamp: { type: ['string', 'number'] },
    value: { type: ['number', 'string'], minimum: -60, maximum: 160 },
    unit: { enum: ['C', 'F', 'K', '%'] },
    status: { enum: ['ok', 'degraded', 'fault'] },
    battery: { type: 'number', minimum: 0, maximum: 100 },
    rssi: { type: 'integer', minimum: -130, maximum: 0 },
    firmware: { type: 'string', pattern: '^\\d+\\.\\d+\\.\\d+$' },
    seq: { type: 'integer', minimum: 0 },
    gateway: { type: 'string', pattern: '^gw-[0-9]{2,4}$' },
  },
  additionalProperties: false,
} as const;

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Each reading's payload, as the device sends it, with seven more fields the ten-field schema describes. */
function tenFields(record: DeviceRecord, i: number): string {
  const reading = JSON.parse(record.data) as Record<string, unknown>;
  return JSON.stringify({
    ...reading,
    unit: 'C',
    status: i % 50 === 0 ? 'degraded' : 'ok',
    battery: 40 + (i % 60),
    rssi: -40 - (i % 70),
    firmware: '2.14.1',
    seq: i,
    gateway: `gw-${String(i % 16).padStart(2, '0')}`,
  });
}

/** Lambda records of `perRecord` readings each: one reading's object at 1, a JSON array above. */
export function arrayRecords(payloads: readonly string[], perRecord: number, streamName: string): KinesisStreamRecord[] {
  const out: KinesisStreamRecord[] = [];
  for (let i = 0, n = 0; i < payloads.length; i += perRecord, n++) {
    const group = payloads.slice(i, i + perRecord);
    const data = perRecord === 1 ? group[0] : `[${group.join(',')}]`;
    out.push(toLambdaRecord({
      sequenceNumber: String(49_000_000_000_000_000_000n + BigInt(n)),
      partitionKey: `gateway-${n % SENSORS}`,
      data: Buffer.from(data),
      approximateArrivalTimestamp: Date.UTC(2024, 4, 14, 10) + n,
    }, { streamName }));
  }
  return out;
}

interface MeasureOptions {
  /** Write to dynalite and check every stored item, instead of the counting table. */
  readonly exact?: boolean;
  /** With the ten-field payload schema. */
  readonly schema?: boolean;
  /** Records per invocation; default `PROCESSOR_BATCH`. */
  readonly batchSize?: number;
}

interface Row {
  readonly label: string;
  readonly perRecord: number;
  readonly batchSize: number;
  readonly records: number;
  readonly run: HandlerRun & { limited: boolean; reason?: string };
  /** Items the table received in one measured pass. */
  readonly itemsPerPass: number;
  /** Whether the table holds every reading once, with its value (dynalite), or received every one (the counting table). */
  readonly check: string;
}

function measures(row: Row) {
  const wallMicros = sum(row.run.invocations.map((i) => i.wallMicros));
  const cpuMicros = sum(row.run.invocations.map((i) => i.cpuMicros));
  const gbSeconds = sum(row.run.invocations.map((i) => Math.ceil(i.wallMicros / 1000) / 1000)) * (MEMORY_MB / 1024);
  return {
    wallMs: wallMicros / 1000,
    readingsPerSecond: READINGS / (wallMicros / 1e6),
    cpuPerRecord: cpuMicros / row.records,
    cpuPerReading: cpuMicros / READINGS,
    cost: ((gbSeconds * PRICE_PER_GB_SECOND + row.run.invocations.length * PRICE_PER_REQUEST) / READINGS) * 1e6,
  };
}

function table(rows: readonly Row[]): string {
  return formatTable(
    [`${num(READINGS)} readings`, 'readings per record', 'records per invocation (invocations)', 'BatchWriteItem calls', 'wall time (ms)', 'readings/s',
      'CPU per record (us)', 'CPU per reading (us)', '$ per million readings', 'table received'],
    rows.map((r) => {
      const m = measures(r);
      return [
        r.label, String(r.perRecord), `${num(r.batchSize)} (${r.run.invocations.length})`, num(r.run.batchWriteCalls), num(m.wallMs),
        num(m.readingsPerSecond), m.cpuPerRecord.toFixed(1), m.cpuPerReading.toFixed(2), money(m.cost), r.check,
      ];
    }),
  );
}

async function main(): Promise<void> {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const only = arg('--only');
  if (only !== undefined && !['ceiling', 'exact', 'schema'].includes(only)) throw new Error(`--only ceiling|exact|schema, got ${only}`);
  const part = (name: string) => only === undefined || only === name;
  const bundle = arg('--bundle') ? path.resolve(arg('--bundle')!) : bundlePath('processor');
  if (!arg('--bundle')) loadBundle('processor');
  console.log(`Processor bundle: ${bundle}`);

  const devices = makeDeviceRecords({ count: READINGS, malformedEvery: 0, sensors: SENSORS, seed: 11 });
  const plain = devices.map((d) => d.data);
  const servers = await startServers();
  const aws = LocalAws.connect(servers.endpoints);
  const schemaDir = mkdtempSync(path.join(tmpdir(), 'many-readings-'));
  const schemaFile = path.join(schemaDir, 'payload-schema.json');
  writeFileSync(schemaFile, JSON.stringify(TEN_FIELD_SCHEMA));
  let tables = 0;
  try {
    await aws.createBucket(DEAD_LETTER_BUCKET);
    const base = aws.handlerEnv({
      AWS_ENDPOINT_URL_CLOUDWATCH: servers.cloudwatch,
      DEAD_LETTER_DESTINATION: `s3://${DEAD_LETTER_BUCKET}/dead-letter/`,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      METRICS_MODE: 'EMF',
      POWERTOOLS_DEV: undefined,
      PAYLOAD_ACCEPT_ARRAYS: 'true',
    });

    /** One processor run of `payloads` in records of `perRecord`, at 512 MB's share; `exact` writes to dynalite and checks the table. */
    const measure = async (label: string, payloads: readonly string[], perRecord: number, options: MeasureOptions = {}): Promise<Row> => {
      const batchSize = options.batchSize ?? PROCESSOR_BATCH;
      const records = arrayRecords(payloads, perRecord, 'many-readings');
      const tableName = `many-readings-${++tables}`;
      const env: Record<string, string | undefined> = {
        ...base, TABLE_NAME: tableName, PAYLOAD_SCHEMA_FILE: options.schema ? schemaFile : undefined,
      };
      const job = {
        kind: 'processor' as const,
        bundle,
        records,
        batchSize,
        timeoutMs: STREAM_TIMEOUT_MS,
        warmupPasses: WARMUP_PASSES,
        warmupTarget: `${tableName}-warmup`,
        measuredPasses: MEASURED_PASSES,
      };
      if (options.exact) {
        await Promise.all([aws.createSensorTable(tableName), aws.createSensorTable(`${tableName}-warmup`)]);
        const proxy = await servers.proxy('dynamodb', { faultTarget: '-', latencyMs: DYNAMODB_ROUND_TRIP_MS });
        try {
          let before = 0;
          const run = await runHandler(job, { ...env, AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint }, {
            memoryMb: MEMORY_MB, onWarm: async () => { before = (await proxy.counts()).itemsForwarded; },
          });
          const itemsPerPass = ((await proxy.counts()).itemsForwarded - before) / MEASURED_PASSES;
          const items = await aws.scanTable(tableName);
          const expected = new Map(devices.map((d) => [`${d.expected!.sensorId}|${d.expected!.timestamp}`, d.expected!.value]));
          const seen = new Set<string>();
          let exact = items.length === expected.size;
          for (const item of items) {
            const key = `${item.SensorId.S}|${item.Timestamp.S}`;
            if (seen.has(key) || expected.get(key) !== Number(item.Value.N)) exact = false;
            seen.add(key);
          }
          if (!exact) throw new Error(`${label}: the table does not hold exactly the readings (${items.length} items for ${expected.size})`);
          return { label, perRecord, batchSize, records: records.length, run, itemsPerPass, check: `${num(items.length)} / ${num(expected.size)} stored, exact` };
        } finally {
          await proxy.close();
        }
      }
      const counter = await servers.countingTable(DYNAMODB_ROUND_TRIP_MS);
      try {
        let before = 0;
        const run = await runHandler(job, { ...env, AWS_ENDPOINT_URL_DYNAMODB: counter.endpoint }, {
          memoryMb: MEMORY_MB, onWarm: async () => { before = (await counter.counts()).items; },
        });
        const counts = await counter.counts();
        const itemsPerPass = (counts.items - before) / MEASURED_PASSES;
        if (counts.refused > 0) throw new Error(`${label}: the counting table refused ${counts.refused} calls`);
        if (itemsPerPass !== READINGS) throw new Error(`${label}: the counting table received ${itemsPerPass} items a pass, not ${READINGS}`);
        return { label, perRecord, batchSize, records: records.length, run, itemsPerPass, check: `${num(itemsPerPass)} / ${num(READINGS)} items a pass` };
      } finally {
        await counter.close();
      }
    };

    const held = (rows: readonly Row[]) => {
      const unheld = rows.find((r) => !r.run.limited);
      return unheld
        ? `CPU NOT HELD: ${unheld.run.reason}. Measured with unlimited CPU.`
        : `The handler process was held to ${MEMORY_MB} MB's CPU share (${((MEMORY_MB / LAMBDA_MB_PER_VCPU) * 100).toFixed(1)} % of a vCPU).`;
    };
    const passes = `Each row: the median of ${MEASURED_PASSES} measured passes by wall time, after ${WARMUP_PASSES} warm-up passes at full CPU speed;`
      + ` EMF metrics, ${PROCESSOR_BATCH} records per invocation, DynamoDB ${DYNAMODB_ROUND_TRIP_MS} ms round trip.`;

    if (part('ceiling')) {
      const rows: Row[] = [];
      for (const perRecord of READINGS_PER_RECORD) {
        rows.push(await measure(perRecord === 1 ? 'one reading per record' : 'JSON arrays', plain, perRecord));
      }
      rows.push(await measure(`JSON arrays, ${num(SHAPE * SMALL_BATCH)} readings an invocation`, plain, SHAPE, { batchSize: SMALL_BATCH }));
      const at = rows.find((r) => r.perRecord === SHAPE)!;
      const rate = measures(at).readingsPerSecond;
      console.log([
        `1. Readings per second through one processor at ${MEMORY_MB} MB, against a table that only counts (${DYNAMODB_ROUND_TRIP_MS} ms round trip)`,
        '',
        table(rows),
        '',
        held(rows),
        passes,
        `At ${SHAPE} readings per record: ${num(rate)} readings/s, target ${num(TARGET_READINGS_PER_SECOND)}: ${rate >= TARGET_READINGS_PER_SECOND ? 'met' : 'NOT MET'}.`,
        '',
      ].join('\n'));
    }

    if (part('exact')) {
      const rows = [await measure('JSON arrays, dynalite', plain, SHAPE, { exact: true })];
      console.log([
        `2. The same at ${SHAPE} readings per record against dynalite (${DYNAMODB_ROUND_TRIP_MS} ms round trip), every item checked`,
        '',
        table(rows),
        '',
        held(rows),
        'dynalite spends over 1 ms of CPU on each BatchWriteItem of 25 items in a process of its own: near 10,000 items a second, it sets the pace here.',
        '',
      ].join('\n'));
    }

    if (part('schema')) {
      const ten = devices.map(tenFields);
      // Alternated, so that a slower stretch of the machine falls on both.
      const without = [await measure('no schema', ten, SHAPE)];
      const withSchema = [await measure('ten-field schema', ten, SHAPE, { schema: true })];
      without.push(await measure('no schema, again', ten, SHAPE));
      withSchema.push(await measure('ten-field schema, again', ten, SHAPE, { schema: true }));
      const rows = [without[0], withSchema[0], without[1], withSchema[1]];
      const cpu = (rs: readonly Row[]) => sum(rs.map((r) => measures(r).cpuPerReading)) / rs.length;
      const overhead = cpu(withSchema) / cpu(without) - 1;

      // The check alone, in this process: decode and validate each record of the same readings, best of 20 runs.
      const records = arrayRecords(ten, SHAPE, 'many-readings');
      const mapping = { ...mappingOf(readSettings(PAYLOAD_SETTINGS, {})), acceptArrays: true };
      const schemaMapping = { ...mapping, schema: compilePayloadSchema(TEN_FIELD_SCHEMA) };
      const decodeAll = (m: typeof mapping) => {
        const start = process.cpuUsage();
        let stored = 0;
        for (const r of records) {
          const out = decodeRecord(r.kinesis.data, m);
          if (out.ok) stored += out.readings.length;
        }
        const used = process.cpuUsage(start);
        if (stored !== READINGS) throw new Error(`the schema refused ${READINGS - stored} readings`);
        return (used.user + used.system) / READINGS;
      };
      // Interleaved, best of 20 runs of each: the JIT and the machine's other work fall on both alike.
      let coreWithout = Number.POSITIVE_INFINITY;
      let coreWith = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 20; run++) {
        coreWithout = Math.min(coreWithout, decodeAll(mapping));
        coreWith = Math.min(coreWith, decodeAll(schemaMapping));
      }
      console.log([
        `3. A payload schema: ${SHAPE} ten-field readings per record, without and with a ten-field JSON Schema`
          + ' (bounds, required fields, enums, patterns)',
        '',
        table(rows),
        '',
        formatTable(['CPU per reading (us)', 'no schema', 'ten-field schema', 'schema adds'], [
          [`processor at ${MEMORY_MB} MB, mean of the two runs of each`, cpu(without).toFixed(2), cpu(withSchema).toFixed(2), `${(overhead * 100).toFixed(0)} %`],
          ['decode and validate alone, best of 20 in one process', coreWithout.toFixed(2), coreWith.toFixed(2),
            `${(coreWith - coreWithout).toFixed(2)} us`],
        ]),
        '',
        held(rows),
        passes,
        `Schema overhead through the processor: ${(overhead * 100).toFixed(0)} %, target at most ${(TARGET_SCHEMA_OVERHEAD * 100).toFixed(0)} %: `
          + `${overhead <= TARGET_SCHEMA_OVERHEAD ? 'met' : 'NOT MET'}.`,
        '',
      ].join('\n'));
    }
    console.log(`Node ${process.version}, ${process.platform}/${process.arch}.`);
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
