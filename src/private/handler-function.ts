import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { HANDLER_RUNTIME, HANDLER_SETTINGS, HandlerName, HandlerSettings, writeSettings } from './handler-contract';
import { suppressNag } from './nag';
import { validateDuration, validateInteger } from './validation';
import { HandlerFunctionOptions, HandlerLogLevel } from '../options';

/** The runtime of every bundled handler, named by the contract that also sets the bundles' esbuild target. */
export const BUNDLED_RUNTIME = runtimeNamed(HANDLER_RUNTIME);

function runtimeNamed(name: string): lambda.Runtime {
  const runtime = lambda.Runtime.ALL.find((r) => r.name === name);
  if (!runtime) throw new Error(`aws-cdk-lib has no Lambda runtime named ${name}`);
  return runtime;
}

/** The bundles hold pure JavaScript, so the cheaper Graviton architecture fits. */
export const BUNDLED_ARCHITECTURE = lambda.Architecture.ARM_64;

/** The code of a handler bundled when the library was built (assets/handlers/<name>.lambda). */
export function bundledCode(name: HandlerName): lambda.Code {
  const dir = path.join(__dirname, '..', '..', 'assets', 'handlers', `${name}.lambda`);
  if (!fs.existsSync(path.join(dir, 'index.js'))) {
    throw new Error(`The bundled ${name} handler is missing at ${dir}; run "npx projen bundle" (a packaged cdk-iot-ingest always has it).`);
  }
  return lambda.Code.fromAsset(dir);
}

/**
 * A handler's bundle with more files beside it, as one asset of its own: a
 * copy made at synth, named by its content like any asset, so that the same
 * files make the same asset.
 */
export function bundledCodeWith(name: HandlerName, files: Record<string, string>): lambda.Code {
  bundledCode(name);
  const from = path.join(__dirname, '..', '..', 'assets', 'handlers', `${name}.lambda`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cdk-iot-ingest-${name}-`));
  for (const file of fs.readdirSync(from)) fs.copyFileSync(path.join(from, file), path.join(dir, file));
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), content);
  return lambda.Code.fromAsset(dir);
}

/**
 * Memory of each handler's function, in MiB, from `npm run bench` (docs/performance.md,
 * "Default memory sizes"): the processor is CPU-bound on a full shard, and
 * 512 MB keeps up with about 7 shards at no more cost per reading than 256 MB;
 * the archiver and the query function gain nothing above 256 MB. The replay
 * function holds one batch at a time and mostly waits for the function it
 * invokes.
 */
export const DEFAULT_MEMORY_SIZE: Record<HandlerName, number> = { processor: 512, archiver: 256, query: 256, replay: 256 };

/** The settings a construct gives its handler: all of the contract's but the two every function gets from its options. */
export type ConstructSettings<H extends HandlerName> = Omit<HandlerSettings<H>, 'serviceName' | 'logLevel'>;

export interface BundledFunctionProps<H extends HandlerName> extends HandlerFunctionOptions {
  readonly handler: H;
  /** Files written beside the bundle in the function's code (name to content): settings too large for its environment. */
  readonly codeFiles?: Record<string, string>;
  readonly description: string;
  readonly defaultTimeout: Duration;
  readonly settings: ConstructSettings<H>;
}

/**
 * A function running one of the bundled handlers, with its own role and log
 * group, and every setting of its handler written as an environment variable.
 */
export function createBundledFunction<H extends HandlerName>(scope: Construct, id: string, props: BundledFunctionProps<H>): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // A role of its own instead of AWSLambdaBasicExecutionRole, whose log
  // permissions cover every log group of the account.
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: props.description,
  });
  logGroup.grantWrite(role);
  const spec = HANDLER_SETTINGS[props.handler];
  const settings = {
    ...props.settings,
    serviceName: spec.serviceName.default,
    logLevel: props.logLevel ?? HandlerLogLevel.INFO,
  } as HandlerSettings<H>;
  const fn = new lambda.Function(scope, id, {
    role,
    description: props.description,
    runtime: BUNDLED_RUNTIME,
    architecture: BUNDLED_ARCHITECTURE,
    code: props.codeFiles ? bundledCodeWith(props.handler, props.codeFiles) : bundledCode(props.handler),
    handler: 'index.handler',
    memorySize: props.memorySize ?? DEFAULT_MEMORY_SIZE[props.handler],
    timeout: props.timeout ?? props.defaultTimeout,
    logGroup,
    environment: writeSettings(spec, settings, (setting, value) =>
      // A number token (a CfnParameter, say) must stay a token in the template.
      typeof value === 'number' && Token.isUnresolved(value) ? Token.asString(value) : setting.write(value)),
  });
  suppressNag(fn, [{
    id: 'AwsSolutions-L1',
    reason: `The runtime is pinned to ${HANDLER_RUNTIME}, the newest when this library version was built, and the bundle is built for it; `
      + 'pinned so that templates do not change with aws-cdk-lib upgrades. Releases of the library move it forward.',
  }]);
  return fn;
}

/** Validates the options, naming the prop as `<propsName>.<prop>`. */
export function validateHandlerOptions(propsName: string, options: HandlerFunctionOptions): void {
  validateInteger(`${propsName}.memorySize`, options.memorySize, 128, 10_240);
  validateDuration(`${propsName}.timeout`, options.timeout, Duration.seconds(1), Duration.minutes(15));
}
