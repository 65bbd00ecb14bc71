/**
 * `npx cdk-iot-ingest-local`: runs a CDK app's cloud assembly locally. In a
 * CDK app's folder and without --cdk-out, it synthesizes the app first when
 * cdk.out is missing or older than the app's sources; with several stacks
 * and no --stack it lists them.
 */
import { existsSync } from 'fs';
import * as path from 'path';
import { main } from './runner/cli';
import { LocalRunError } from './runner/errors';
import { appCloudAssembly, synthesize, synthReason } from './runner/synth';

const NAME = 'npx cdk-iot-ingest-local';

/** The arguments for the run: --cdk-out added when the app in `cwd` gives it (synthesized first if needed). */
export function prepare(argv: readonly string[], cwd: string, log: (line: string) => void = console.error): string[] {
  const args = [...argv];
  if (args.includes('--help') || args.some((a) => a === '--cdk-out' || a.startsWith('--cdk-out='))) return args;
  const assembly = appCloudAssembly(cwd);
  if (assembly === undefined) {
    if (existsSync(path.join(cwd, 'cdk.out', 'manifest.json'))) return [...args, '--cdk-out', path.join(cwd, 'cdk.out')];
    throw new LocalRunError(`${cwd} holds no CDK app (no cdk.json) and no cdk.out: run this in your CDK app's folder, or pass --cdk-out DIR`);
  }
  const reason = synthReason(cwd, assembly);
  if (reason) {
    log(`${reason}: synthesizing the app`);
    synthesize(cwd, log);
  }
  return [...args, '--cdk-out', assembly];
}

export async function run(argv: readonly string[], cwd = process.cwd()): Promise<number> {
  let args: string[];
  try {
    args = prepare(argv, cwd);
  } catch (err) {
    if (!(err instanceof LocalRunError)) throw err;
    console.error(`error: ${err.message}`);
    return 1;
  }
  return main(args, { name: NAME, defaultCdkOut: 'cdk.out' });
}

if (require.main === module) {
  void run(process.argv.slice(2)).then((code) => process.exit(code));
}
