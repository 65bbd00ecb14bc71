/** The local package's API for users' tests: startLocalRun, putReadings, settled, names, summary and stop. */
import { mkdtempSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { App, CfnOutput, Stack } from 'aws-cdk-lib';
import { LocalRunError, LocalTestRun, startLocalRun } from '../../local/src/api';
import { SensorIngestPipeline } from '../../src';

jest.setTimeout(120_000);

let cdkOut: string;
let run: LocalTestRun | undefined;

beforeAll(() => {
  cdkOut = mkdtempSync(path.join(tmpdir(), 'api-cdk-out-'));
  // As `cdk synth` does, the templates record each resource's construct path.
  const app = new App({ outdir: cdkOut, context: { 'aws:cdk:enable-path-metadata': true } });
  const stack = new Stack(app, 'ApiApp');
  const pipeline = new SensorIngestPipeline(stack, 'Pipeline', {
    payloadMapping: { sensorIdField: 'deviceId', timestampField: 'ts', measurementFields: ['temperature', 'humidity'] },
  });
  new CfnOutput(stack, 'TableOfReadings', { value: pipeline.table.tableName });
  // A second stack: the run needs it named.
  new Stack(app, 'Other');
  app.synth();
});

afterEach(async () => {
  await run?.stop();
  run = undefined;
});

test('an assembly of several stacks and no choice is an error listing them', async () => {
  await expect(startLocalRun({ cdkOut })).rejects.toThrow(/ApiApp.*Other|Other.*ApiApp/);
});

test('readings put, settled, and counted: a reading per measurement, the malformed one dead-lettered', async () => {
  run = await startLocalRun({ cdkOut, stacks: ['ApiApp'] });
  expect(run.stacks).toEqual(['ApiApp']);
  expect(run.endpoints.dynamodb).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(run.credentials.accessKeyId).toBeTruthy();

  // By output name, by construct path (with or without the stack and /Resource), by name.
  const table = run.physicalName('TableOfReadings');
  expect(run.physicalName('Pipeline/Table')).toBe(table);
  expect(run.physicalName('ApiApp/Pipeline/Table/Resource')).toBe(table);
  expect(run.physicalName(table)).toBe(table);
  expect(() => run!.physicalName('NoSuchThing')).toThrow(LocalRunError);
  expect(() => run!.physicalName('NoSuchThing')).toThrow(/outputs .*TableOfReadings/);

  const payloads = Array.from({ length: 40 }, (_, i) => ({
    deviceId: `d-${i % 4}`, ts: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), temperature: 20 + i, humidity: 50 - i,
  }));
  await run.putReadings([...payloads, '{"deviceId": "d-0", "ts": "bad"']);
  await run.settled();

  const summary = await run.summary();
  expect(summary.recordsPut).toBe(41);
  expect(summary.tableItems[table]).toBe(80);
  expect(summary.mappings.length).toBeGreaterThanOrEqual(2);
  for (const m of summary.mappings) {
    expect(m.recordsDone).toBe(41);
    expect(m.functionErrors).toBe(0);
  }
  const deadLetters = Object.entries(summary.queueMessages).filter(([name]) => /DeadLetter/i.test(name));
  expect(deadLetters.map(([, n]) => n)).toContain(1);

  const db = new DynamoDBClient(run.clientConfig('dynamodb'));
  const items = (await db.send(new ScanCommand({ TableName: table }))).Items ?? [];
  db.destroy();
  expect(new Set(items.map((i) => i.SensorId.S))).toEqual(new Set(['d-0', 'd-1', 'd-2', 'd-3'].flatMap((d) => [`${d}#temperature`, `${d}#humidity`])));
});

test('the simulator shapes its payloads after the app\'s payload mapping', async () => {
  run = await startLocalRun({ cdkOut, stacks: ['ApiApp'] });
  expect(run.run.payloadFields()).toEqual({ sensorId: 'deviceId', timestamp: 'ts', value: 'value', measurements: ['temperature', 'humidity'], separator: '#' });
  const simulator = run.run.startSimulator({ devices: 3, rate: 500, malformedShare: 0.1, readings: 60, seed: 7 });
  await simulator.finished;
  await run.settled();
  const summary = await run.summary();
  expect(simulator.stats.put).toBe(60);
  expect(simulator.stats.malformed).toBeGreaterThan(0);
  expect(summary.tableItems[run.physicalName('TableOfReadings')]).toBe(simulator.stats.valid * 2);
});

test('settled() names the mappings it still waits for', async () => {
  run = await startLocalRun({ cdkOut, stacks: ['ApiApp'] });
  for (const p of run.run.pollers) await p.stop();
  await run.putReadings([{ deviceId: 'd', ts: '2026-01-01T00:00:00.000Z', temperature: 1, humidity: 2 }]);
  await expect(run.settled(500)).rejects.toThrow(/waiting for the event source mappings: .*read 0/);
});
