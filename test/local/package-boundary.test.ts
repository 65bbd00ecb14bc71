/**
 * The local runner ships as a package of its own (local/package.json): none
 * of its files reaches outside local/, and the construct library does not
 * depend on it.
 */
import { readdirSync, readFileSync } from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');
const LOCAL = path.join(ROOT, 'local');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return ['node_modules', 'lib', 'dist'].includes(e.name) ? [] : sources(full);
    return /\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

test('no file of the local package imports from outside local/', () => {
  const files = sources(LOCAL);
  expect(files.length).toBeGreaterThan(30);
  const outside: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)['"](\.[^'"]*)['"]/g)) {
      const target = path.resolve(path.dirname(file), m[1]);
      if (!target.startsWith(LOCAL + path.sep)) outside.push(`${path.relative(ROOT, file)}: ${m[1]}`);
    }
  }
  expect(outside).toEqual([]);
});

test('the construct library does not depend on the local package', () => {
  const library = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const local = JSON.parse(readFileSync(path.join(LOCAL, 'package.json'), 'utf8'));
  expect(local.name).toBe('cdk-iot-ingest-local');
  for (const field of ['dependencies', 'peerDependencies', 'bundledDependencies', 'devDependencies']) {
    expect(Object.keys(library[field] ?? {})).not.toContain(local.name);
  }
  const fromLocal = sources(path.join(ROOT, 'src')).filter((f) => /from '[^']*\/local\/|from 'cdk-iot-ingest-local'/.test(readFileSync(f, 'utf8')));
  expect(fromLocal).toEqual([]);
});
