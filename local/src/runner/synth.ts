/**
 * A CDK app's cloud assembly for the bin: the app's own `cdk synth` when
 * `cdk.out` is missing or older than the app's sources.
 */
import { spawnSync } from 'child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'fs';
import * as path from 'path';
import { LocalRunError } from './errors';

/** Directories that are no app source: dependencies, build output, tools' caches. */
const NOT_SOURCES = new Set(['node_modules', 'cdk.out', 'target', 'build', 'dist', 'lib', '__pycache__', 'coverage']);
const SOURCE_FILE = /\.(ts|js|mjs|cjs|py|java|cs|go|json)$/;
/** Enough for any app's sources; a tree beyond it is not searched further. */
const MAX_FILES = 20_000;

/** The cloud assembly directory of the CDK app in `appDirectory` (cdk.json's `output`, else cdk.out); undefined when it has no cdk.json. */
export function appCloudAssembly(appDirectory: string): string | undefined {
  const cdkJson = path.join(appDirectory, 'cdk.json');
  if (!existsSync(cdkJson)) return undefined;
  let config: { output?: unknown };
  try {
    config = JSON.parse(readFileSync(cdkJson, 'utf8'));
  } catch (err) {
    throw new LocalRunError(`${cdkJson} is not valid JSON: ${(err as Error).message}`);
  }
  return path.join(appDirectory, typeof config.output === 'string' ? config.output : 'cdk.out');
}

/** The newest source file of the app and its time (ms), skipping dependencies, build output and dot directories. */
export function newestSource(appDirectory: string, skip: string): { file: string; mtimeMs: number } | undefined {
  let newest: { file: string; mtimeMs: number } | undefined;
  let seen = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (seen >= MAX_FILES || entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!NOT_SOURCES.has(entry.name) && path.resolve(full) !== path.resolve(skip)) walk(full);
      } else if (entry.isFile() && SOURCE_FILE.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        seen++;
        const mtimeMs = statSync(full).mtimeMs;
        if (!newest || mtimeMs > newest.mtimeMs) newest = { file: full, mtimeMs };
      }
    }
  };
  walk(appDirectory);
  return newest;
}

/** Why the app must be synthesized before it runs: no assembly, or a source newer than it; undefined when it is up to date. */
export function synthReason(appDirectory: string, cdkOut: string): string | undefined {
  const manifest = path.join(cdkOut, 'manifest.json');
  if (!existsSync(manifest)) return `${path.relative(appDirectory, cdkOut) || cdkOut} has no cloud assembly`;
  const newest = newestSource(appDirectory, cdkOut);
  if (newest && newest.mtimeMs > statSync(manifest).mtimeMs) return `${path.relative(appDirectory, newest.file)} changed since the last synth`;
  return undefined;
}

/** Runs the app's `cdk synth` (its own aws-cdk when installed, else npx's), its output shown; fails with a one-line error. */
export function synthesize(appDirectory: string, log: (line: string) => void = console.error): void {
  const local = path.join(appDirectory, 'node_modules', '.bin', 'cdk');
  const [command, args] = existsSync(local) ? [local, ['synth', '--quiet']] : ['npx', ['cdk', 'synth', '--quiet']];
  log(`$ ${existsSync(local) ? 'cdk' : 'npx cdk'} synth --quiet`);
  const result = spawnSync(command, args, { cwd: appDirectory, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw new LocalRunError(`cdk synth could not start: ${result.error.message}`);
  if (result.status !== 0) throw new LocalRunError(`cdk synth failed (exit ${result.status ?? result.signal}): fix the app, or pass --cdk-out with an assembly`);
}
