import * as fs from 'fs';
import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';

/**
 * The runtime every bundled handler is built for (esbuild target node22 in
 * .projenrc.ts). Pinned rather than "latest" so that templates do not change
 * when aws-cdk-lib is upgraded.
 */
export const HANDLER_RUNTIME = lambda.Runtime.NODEJS_22_X;

/** The bundles hold pure JavaScript, so the cheaper Graviton architecture fits. */
export const HANDLER_ARCHITECTURE = lambda.Architecture.ARM_64;

/** The code of a handler bundled when the library was built (assets/handlers/<name>.lambda). */
export function handlerCode(name: 'processor' | 'archiver' | 'query'): lambda.Code {
  const dir = path.join(__dirname, '..', 'assets', 'handlers', `${name}.lambda`);
  if (!fs.existsSync(path.join(dir, 'index.js'))) {
    throw new Error(`The bundled ${name} handler is missing at ${dir}; run "npx projen bundle" (a packaged cdk-iot-ingest always has it).`);
  }
  return lambda.Code.fromAsset(dir);
}
