/** The bundled handlers (assets/handlers/<name>.lambda/index.js, the files that ship), loaded as Lambda loads them. */
import { existsSync } from 'fs';
import * as path from 'path';

export const BUNDLE_DIR = path.resolve(__dirname, '..', '..', 'assets', 'handlers');

export function bundlePath(name: 'processor' | 'archiver' | 'query'): string {
  return path.join(BUNDLE_DIR, `${name}.lambda`, 'index.js');
}

/**
 * Loads a bundled handler, the file that ships, as a new module instance (a
 * cold start: it builds its clients from the environment at its first
 * invocation). Throws when the bundle has not been built.
 */
export function loadBundle<T>(name: 'processor' | 'archiver' | 'query'): T {
  const file = bundlePath(name);
  if (!existsSync(file)) {
    throw new Error(`The bundled ${name} handler is missing: ${file}. Run \`npx projen bundle\` first.`);
  }
  let loaded: T | undefined;
  if (typeof jest !== 'undefined') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    jest.isolateModules(() => { loaded = require(file) as T; });
  } else {
    delete require.cache[file];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as T;
  }
  return loaded!;
}

/** Sets environment variables and returns a function that restores the earlier values. */
export function setEnv(values: Record<string, string | undefined>): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(values)) {
    saved[name] = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

