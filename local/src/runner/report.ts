/** What the local run prints: the start-up listing, the live progress line and the summary at the end. */
import { LocalRun, RunSnapshot } from './local-run';

const n = (v: number) => v.toLocaleString('en-US');

/** A logical id without the hash CDK appends (`PipelineStreamDD609695` → `PipelineStream`). */
export function shortName(logicalPath: string): string {
  const id = logicalPath.split('/').pop() ?? logicalPath;
  return id.replace(/[0-9A-F]{8}$/, '').replace(/Kinesis(Consumer)?EventSource.*$/, '') || id;
}

export function startupReport(run: LocalRun, cdkOut: string): string[] {
  const plan = run.plan;
  const [lead, ...others] = plan.stacks;
  const lines: string[] = [
    `Local run of ${cdkOut} (region ${run.region}, account 123456789012)`,
    `Stacks: ${lead}${others.length ? `, with ${others.join(', ')}` : ''}`,
  ];
  const row = (kind: string, p: string, detail: string, notEmulated?: readonly string[]) =>
    lines.push(`  ${kind.padEnd(16)} ${p}  ${detail}${notEmulated?.length ? `  (not emulated: ${notEmulated.join(', ')})` : ''}`);
  const notEmulated = (p: string) => plan.resources.find((r) => r.path === p)?.notEmulated;
  for (const s of plan.streams) row('Kinesis stream', s.path, `${s.name}, ${s.shardCount} shard${s.shardCount > 1 ? 's' : ''}${s.onDemand ? ' (ON_DEMAND: a fixed 4 locally)' : ''}`, notEmulated(s.path));
  for (const t of plan.tables) row('DynamoDB table', t.path, t.name, notEmulated(t.path));
  for (const b of plan.buckets) row('S3 bucket', b.path, b.name, notEmulated(b.path));
  for (const q of plan.queues) row('SQS queue', q.path, q.name, notEmulated(q.path));
  for (const f of plan.functions) {
    const major = process.versions.node.split('.')[0];
    const runtimeNote = f.runtime === `nodejs${major}.x` ? '' : ` on this machine's Node.js ${process.versions.node}`;
    row('Lambda function', f.path, `${f.runtime}${runtimeNote}, ${f.memoryMb} MB, ${f.timeoutSeconds} s`, notEmulated(f.path));
  }
  for (const c of plan.consumers) {
    row('stream consumer', c.path, `${c.name} on ${c.streamName}: enhanced fan-out is read like a shared-throughput consumer locally (polled, no dedicated 2 MB/s per shard)`);
  }
  for (const m of plan.mappings) {
    const settings = [
      `batch ${m.batchSize}`, m.startingPosition, m.batchingWindowMs ? `window ${m.batchingWindowMs / 1000} s` : undefined,
      m.reportBatchItemFailures ? 'ReportBatchItemFailures' : undefined,
      `retries ${m.maximumRetryAttempts < 0 ? 'until expiry' : m.maximumRetryAttempts}`,
      m.maximumRecordAgeSeconds < 0 ? undefined : `max age ${m.maximumRecordAgeSeconds} s`,
      m.bisectOnError ? 'bisect' : undefined, m.parallelizationFactor > 1 ? `parallelization ${m.parallelizationFactor}` : undefined,
      m.onFailureArn ? `on failure → ${m.onFailureArn.split(':').pop()}` : undefined,
    ].filter(Boolean).join(', ');
    row('event mapping', m.path.replace(/Kinesis(Consumer)?EventSource.*$/, '…'), `${m.enabled ? '' : '(disabled) '}${settings}`);
  }
  for (const r of plan.topicRules) {
    const actions = r.kinesisActions.map((a) => `PutRecord on ${a.streamName.map((x) => (typeof x === 'string' ? x : '${…}')).join('')}, key ${a.partitionKeyText ?? 'a new UUID per message'}`).join('; ');
    const errors = r.errorAction?.kind === 'cloudwatch-logs'
      ? `failed actions → ${run.logFile(r.errorAction.logGroupName)}`
      : r.errorAction ? `failed actions reported (its ${r.errorAction.type} error action does not run locally)` : 'failed actions reported (no error action)';
    row('IoT topic rule', r.path, `${r.enabled ? '' : '(disabled) '}${r.ruleName}: ${r.sqlText} → ${actions}; ${errors}`);
  }
  if (plan.topicRules.length) {
    lines.push(`  ${''.padEnd(16)} publish: POST ${run.endpoint}/topics/<topic> (aws iot-data publish --endpoint-url ${run.endpoint}, or the SDK's IoTDataPlaneClient); no device authentication or IoT policy is checked`);
  }
  for (const api of plan.httpApis) {
    row('HTTP API', api.path, `${api.name}: ${Object.entries(api.stageUrls).map(([stage, url]) => `${url} (${stage})`).join(', ') || 'no stage'}${api.cors ? `, CORS for ${api.cors.allowOrigins.join(' ')}` : ''}`,
      plan.resources.filter((x) => x.path.startsWith(api.path.split('/')[0] + '/') && x.type.startsWith('AWS::ApiGatewayV2::')).flatMap((x) => x.notEmulated ?? []).filter((v, i, a) => a.indexOf(v) === i));
    for (const r of api.routes) {
      lines.push(`  ${''.padEnd(16)}   ${r.routeKey} → ${shortName(plan.functions.find((f) => f.name === r.functionName)?.path ?? r.functionName)}${r.authorizationType !== 'NONE' ? ` (authorization ${r.authorizationType}: not checked locally)` : ''}`);
    }
  }
  for (const u of plan.functionUrls) {
    row('Function URL', u.path, `${u.url} → ${shortName(plan.functions.find((f) => f.name === u.functionName)?.path ?? u.functionName)}${u.authType !== 'NONE' ? ` (auth ${u.authType}: not checked locally)` : ''}`);
  }
  const notEmulatedTypes = plan.resources.filter((r) => r.action === 'not emulated');
  if (notEmulatedTypes.length) {
    lines.push('Not emulated (their work does not happen locally):');
    for (const r of notEmulatedTypes) lines.push(`  ${r.type} ${r.path}: ${r.reason}`);
  }
  if (plan.unrunnable.length) {
    lines.push('Functions not run (a runtime the local run cannot run; nothing in the run invokes them):');
    for (const f of plan.unrunnable) lines.push(`  ${f.constructPath} (logical id ${f.logicalId}): ${f.runtime}`);
  }
  const unrunnable = new Set(plan.unrunnable.map((f) => f.path));
  const ignored = new Map<string, number>();
  for (const r of plan.resources) if (r.action !== 'run' && r.action !== 'not emulated' && !unrunnable.has(r.path)) ignored.set(`${r.type}${r.action === 'not run locally' ? '' : ` (${r.action})`}`, (ignored.get(`${r.type}${r.action === 'not run locally' ? '' : ` (${r.action})`}`) ?? 0) + 1);
  if (ignored.size) {
    lines.push('Not run locally (they matter at deploy time only):');
    for (const [type, count] of [...ignored.entries()].sort()) lines.push(`  ${String(count).padStart(3)}  ${type}`);
  }
  if (plan.outputs.length) {
    lines.push('Outputs:');
    for (const o of plan.outputs) lines.push(`  ${o.stack}.${o.key} = ${o.value ?? `(not resolved locally: ${o.error})`}${o.localValue ? ` (locally ${o.localValue})` : ''}`);
  }
  for (const note of plan.notes) lines.push(`Note: ${note}`);
  lines.push(`CPU limit: ${run.cpu.reason}`);
  if (run.faultProxy) lines.push(`Faults: injected into a share of the functions' BatchWriteItem calls (${run.faultProxy.endpoint})`);
  lines.push(`Function logs: ${run.logDirectory}`);
  lines.push(`Endpoints: page and AWS APIs ${run.endpoint}, DynamoDB ${run.endpoints.dynamodb}, Kinesis ${run.endpoints.kinesis}, S3 ${run.endpoints.s3}`);
  return lines;
}

/** Dead letters are in queues a function is told about; failed batches in the mappings' on-failure queues. */
function queueKinds(run: LocalRun, s: RunSnapshot): { deadLetters: number; failedBatches: number } {
  const destinations = new Set(run.plan.mappings.map((m) => m.onFailureArn?.split(':').pop()));
  let deadLetters = 0;
  let failedBatches = 0;
  for (const q of s.queues) {
    const messages = q.visible + q.inFlight;
    if (destinations.has(q.name)) failedBatches += messages;
    else deadLetters += messages;
  }
  return { deadLetters, failedBatches };
}

export function progressLine(run: LocalRun): string {
  const s = run.snapshot();
  const parts = [`${(s.elapsedMs / 1000).toFixed(0)} s`];
  if (s.simulator) parts.push(`put ${n(s.simulator.put)} (${n(s.simulator.malformed)} malformed)`);
  parts.push(`stored ${n(Object.values(s.tableWrites).reduce((a, b) => a + b, 0))}`);
  parts.push(`archived ${n(Object.values(s.objectsPut).reduce((a, b) => a + b, 0))} objects`);
  const q = queueKinds(run, s);
  parts.push(`dead letters ${n(q.deadLetters)}`);
  if (q.failedBatches) parts.push(`failed batches ${n(q.failedBatches)}`);
  for (const r of s.topicRules) parts.push(`rule: ${n(r.stats.recordsPut)} put, ${n(r.stats.errorActionMessages)} to its error action`);
  for (const m of s.mappings) parts.push(`${shortName(m.path)}: ${n(m.pending)} pending, age ${n(m.stats.iteratorAgeMs)} ms`);
  return parts.join(' · ');
}

export interface Summary {
  readonly durationMs: number;
  /** Sent by the devices; put on the stream (valid and malformed); not put (a topic rule's error action took them, or its WHERE left them out). */
  readonly readings: { readonly sent: number; readonly put: number; readonly valid: number; readonly malformed: number; readonly notPut: number };
  readonly tableItems: Record<string, number>;
  readonly archiveObjects: Record<string, number>;
  readonly deadLetters: number;
  readonly failedBatches: number;
  /** Readings put, per second, from the first put until every mapping had processed them all. */
  readonly readingsPerSecond?: number;
  readonly latencyMs?: { readonly count: number; readonly p50: number; readonly p95: number; readonly p99: number; readonly max: number };
  readonly mappings: RunSnapshot['mappings'];
  readonly functions: RunSnapshot['functions'];
  readonly topicRules: RunSnapshot['topicRules'];
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export async function summarize(run: LocalRun, processedAt?: number, firstPutAt?: number): Promise<Summary> {
  const s = run.snapshot();
  const objects = await run.listBucketObjects();
  const q = queueKinds(run, s);
  const sorted = [...run.storeLatencies].sort((a, b) => a - b);
  const put = s.simulator?.put ?? 0;
  return {
    durationMs: s.elapsedMs,
    readings: {
      sent: s.simulator?.sent ?? 0, put, valid: s.simulator?.valid ?? 0, malformed: s.simulator?.malformed ?? 0, notPut: s.simulator?.notPut ?? 0,
    },
    tableItems: await run.countTableItems(),
    archiveObjects: Object.fromEntries(Object.entries(objects).map(([b, keys]) => [b, keys.length])),
    deadLetters: q.deadLetters,
    failedBatches: q.failedBatches,
    readingsPerSecond: processedAt && firstPutAt && processedAt > firstPutAt ? (put * 1000) / (processedAt - firstPutAt) : undefined,
    latencyMs: sorted.length ? {
      count: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[sorted.length - 1],
    } : undefined,
    mappings: s.mappings,
    functions: s.functions,
    topicRules: s.topicRules,
  };
}

export function formatSummary(summary: Summary): string[] {
  const rows: Array<[string, string]> = [
    ['duration', `${(summary.durationMs / 1000).toFixed(1)} s`],
    ['readings put', `${n(summary.readings.put)} (${n(summary.readings.valid)} valid, ${n(summary.readings.malformed)} malformed)`],
  ];
  if (summary.readings.notPut) rows.push(['readings not put (topic rule)', n(summary.readings.notPut)]);
  for (const r of summary.topicRules) {
    const s = r.stats;
    rows.push([`topic rule ${shortName(r.path)}`, `${n(s.matched)} messages, ${n(s.recordsPut)} records put, ${n(s.errorActionMessages)} to its error action, ${n(s.sqlErrors)} SQL errors`]);
  }
  for (const [table, count] of Object.entries(summary.tableItems)) rows.push([`items in ${table}`, n(count)]);
  for (const [bucket, count] of Object.entries(summary.archiveObjects)) rows.push([`objects in ${bucket}`, n(count)]);
  rows.push(['dead letters (with reasons)', n(summary.deadLetters)]);
  rows.push(['failed batches (on-failure queues)', n(summary.failedBatches)]);
  for (const m of summary.mappings) {
    const s = m.stats;
    rows.push([
      `mapping ${shortName(m.path)}`,
      `${n(s.recordsDone)} records, ${n(s.invocations)} invocations, ${n(s.retries)} retries, ${n(s.recordsDiscarded)} skipped, last iterator age ${n(s.iteratorAgeMs)} ms`,
    ]);
  }
  for (const f of summary.functions) {
    if (f.stats.invocations) rows.push([`function ${shortName(f.path)}`, `${n(f.stats.invocations)} invocations, ${n(f.stats.errors)} errors, ${n(f.stats.coldStarts)} cold starts`]);
  }
  if (summary.readingsPerSecond !== undefined) rows.push(['throughput, put to processed', `${n(Math.round(summary.readingsPerSecond))} readings/s`]);
  if (summary.latencyMs) {
    const l = summary.latencyMs;
    rows.push(['put-to-stored latency', `p50 ${n(l.p50)} ms, p95 ${n(l.p95)} ms, p99 ${n(l.p99)} ms (${n(l.count)} readings)`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['Summary', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
}
