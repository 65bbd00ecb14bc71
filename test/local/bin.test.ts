/** The bin in a CDK app's folder: synthesizes when cdk.out is missing or older than the sources, else runs what is there. */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { prepare } from '../../local/src/bin';
import { LocalRunError } from '../../local/src/runner/errors';
import { synthReason } from '../../local/src/runner/synth';

/** A CDK app whose `cdk` (node_modules/.bin/cdk) writes a manifest into cdk.json's output, and counts its calls. */
function fakeApp(output?: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bin-app-'));
  writeFileSync(path.join(dir, 'cdk.json'), JSON.stringify({ app: 'node app.js', ...(output ? { output } : {}) }));
  writeFileSync(path.join(dir, 'app.js'), '// the app\n');
  mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  const out = output ?? 'cdk.out';
  const cdk = path.join(dir, 'node_modules', '.bin', 'cdk');
  writeFileSync(cdk, `#!/bin/sh\n[ "$1 $2" = "synth --quiet" ] || exit 3\nmkdir -p ${out} && echo '{}' > ${out}/manifest.json && echo x >> synth-calls\n`);
  chmodSync(cdk, 0o755);
  return dir;
}

const calls = (dir: string) => {
  try {
    return readFileSync(path.join(dir, 'synth-calls'), 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

test('no cdk.out: the app is synthesized, then run from its assembly; an up-to-date one is not synthesized again', () => {
  const app = fakeApp();
  const logs: string[] = [];
  expect(prepare(['--readings', '5'], app, (l) => logs.push(l))).toEqual(['--readings', '5', '--cdk-out', path.join(app, 'cdk.out')]);
  expect(calls(app)).toBe(1);
  expect(logs[0]).toBe('cdk.out has no cloud assembly: synthesizing the app');
  // The manifest is newer than every source: nothing to do.
  const past = new Date(Date.now() - 60_000);
  utimesSync(path.join(app, 'app.js'), past, past);
  utimesSync(path.join(app, 'cdk.json'), past, past);
  expect(synthReason(app, path.join(app, 'cdk.out'))).toBeUndefined();
  prepare([], app, () => undefined);
  expect(calls(app)).toBe(1);
});

test('a source newer than the assembly is synthesized again, naming the file; node_modules is no source', () => {
  const app = fakeApp('out');
  prepare([], app, () => undefined);
  const past = new Date(Date.now() - 60_000);
  for (const f of ['app.js', 'cdk.json']) utimesSync(path.join(app, f), past, past);
  utimesSync(path.join(app, 'out', 'manifest.json'), past, past);
  // Newer than the assembly, but a dependency's.
  writeFileSync(path.join(app, 'node_modules', 'dep.js'), '');
  expect(synthReason(app, path.join(app, 'out'))).toBeUndefined();
  mkdirSync(path.join(app, 'lambda'));
  writeFileSync(path.join(app, 'lambda', 'handler.ts'), '');
  expect(synthReason(app, path.join(app, 'out'))).toBe(`${path.join('lambda', 'handler.ts')} changed since the last synth`);
  expect(prepare([], app, () => undefined)).toEqual(['--cdk-out', path.join(app, 'out')]);
  expect(calls(app)).toBe(2);
});

test('--cdk-out and --help are left alone; a folder without an app or an assembly is a one-line error', () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'bin-empty-'));
  expect(prepare(['--cdk-out', 'x'], empty)).toEqual(['--cdk-out', 'x']);
  expect(prepare(['--help'], empty)).toEqual(['--help']);
  expect(() => prepare([], empty)).toThrow(LocalRunError);
  expect(() => prepare([], empty)).toThrow(/no CDK app \(no cdk\.json\) and no cdk\.out/);
});

test('a failing synth is a one-line error', () => {
  const app = fakeApp();
  writeFileSync(path.join(app, 'node_modules', '.bin', 'cdk'), '#!/bin/sh\nexit 4\n');
  expect(() => prepare([], app, () => undefined)).toThrow('cdk synth failed (exit 4)');
});
