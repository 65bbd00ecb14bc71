/** Shared by the local run's tests: the example's cloud assembly, functions on disk, the archive, and Chromium. */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { App, Duration } from 'aws-cdk-lib';
import { chromium } from 'playwright-core';
import { FullDeploymentStack } from '../../examples/full-stack';
import { ReferenceDeploymentStack } from '../../examples/reference-stack';
import { CREDENTIALS, REGION } from '../../local/src';
import { TableLayout } from '../../src';

/** The example app's two stacks, as examples/app.ts names them. */
export const REFERENCE_STACK = 'IotBackendReference';
export const FULL_STACK = 'IotBackendFull';
/** The reference deployment with the packed table layout and a retention. */
export const PACKED_REFERENCE_STACK = 'IotBackendPacked';
export const PACKED_RETENTION_DAYS = 30;

let synthesized: string | undefined;

/**
 * The example app synthesized into a cloud assembly, as `cdk synth` writes it
 * (templates, nested template, asset manifest, assets), with both stacks of
 * examples/app.ts; once per test file (the runs only read it).
 */
export function synthesizeExample(): string {
  if (synthesized) return synthesized;
  const outdir = mkdtempSync(path.join(tmpdir(), 'example-cdk-out-'));
  const app = new App({ outdir });
  new ReferenceDeploymentStack(app, REFERENCE_STACK);
  new FullDeploymentStack(app, FULL_STACK);
  app.synth();
  synthesized = outdir;
  return outdir;
}

let synthesizedPacked: string | undefined;

/** The reference deployment with the packed table layout and a retention, in a cloud assembly of its own. */
export function synthesizePacked(): string {
  if (synthesizedPacked) return synthesizedPacked;
  const outdir = mkdtempSync(path.join(tmpdir(), 'packed-cdk-out-'));
  const app = new App({ outdir });
  new ReferenceDeploymentStack(app, PACKED_REFERENCE_STACK, { tableLayout: TableLayout.packed(), retention: Duration.days(PACKED_RETENTION_DAYS) });
  app.synth();
  synthesizedPacked = outdir;
  return outdir;
}

/** A function's code directory holding `index.js` with this source. */
export function functionCode(source: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'function-'));
  writeFileSync(path.join(dir, 'index.js'), source);
  return dir;
}

export interface ArchiveLine {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  /** The payload as the device sent it, when it is UTF-8 text. */
  readonly payload?: string;
  readonly payloadBase64?: string;
}

/** Every line of every archive object (gzip NDJSON). */
export async function readArchive(s3Endpoint: string, bucket: string, keys: readonly string[]): Promise<ArchiveLine[]> {
  const s3 = new S3Client({
    region: REGION,
    credentials: CREDENTIALS,
    endpoint: s3Endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const lines: ArchiveLine[] = [];
    for (const key of keys) {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = gunzipSync(Buffer.from(await out.Body!.transformToByteArray())).toString('utf8');
      for (const line of text.split('\n')) if (line) lines.push(JSON.parse(line));
    }
    return lines;
  } finally {
    s3.destroy();
  }
}

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's Chromium, driven by playwright-core (no browser download). */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: apt-get install -y chromium (.ci/run installs it)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Where screenshots go: test-reports/, beside the JUnit report. */
export function screenshotPath(name: string): string {
  const dir = path.resolve(__dirname, '..', '..', 'test-reports', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

/** Waits for a condition, polling; never a fixed sleep. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
