/**
 * The local Lambda runtime inside a function's own process: loads the handler
 * from LAMBDA_TASK_ROOT and _HANDLER as the Node.js runtime does, then runs
 * one invocation at a time for the parent, over the IPC channel, with a real
 * context. The parent enforces the timeout and restarts the process after a
 * crash, as Lambda resets an execution environment.
 *
 * This file is bundled on its own (it runs without ts-node) and must import
 * nothing but Node.js built-ins.
 */
import { existsSync } from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';

interface InvokeMessage {
  readonly type: 'invoke';
  readonly id: string;
  readonly requestId: string;
  /** The JSON payload. */
  readonly payload: string;
  /** Epoch milliseconds at which the invocation times out. */
  readonly deadline: number;
}

type Handler = (event: unknown, context: unknown, callback?: (err: unknown, result?: unknown) => void) => unknown;

const send = (message: Record<string, unknown>) => process.send?.(message);

function errorShape(err: unknown, errorType?: string): { errorType: string; errorMessage: string; trace: string[] } {
  if (err instanceof Error) {
    return { errorType: errorType ?? err.name ?? 'Error', errorMessage: err.message, trace: (err.stack ?? '').split('\n') };
  }
  return { errorType: errorType ?? 'Error', errorMessage: typeof err === 'string' ? err : JSON.stringify(err), trace: [] };
}

async function loadHandler(): Promise<Handler> {
  const taskRoot = process.env.LAMBDA_TASK_ROOT!;
  const spec = process.env._HANDLER!;
  const dot = spec.lastIndexOf('.');
  if (dot < 0) throw Object.assign(new Error(`Bad handler ${spec}: expected <module>.<export>`), { name: 'Runtime.MalformedHandlerName' });
  const modulePath = path.join(taskRoot, spec.slice(0, dot));
  const exportPath = spec.slice(dot + 1).split('.');
  const file = ['.js', '.mjs', '.cjs'].map((ext) => modulePath + ext).find((f) => existsSync(f));
  if (!file) throw Object.assign(new Error(`Cannot find module '${spec.slice(0, dot)}'`), { name: 'Runtime.ImportModuleError' });
  let mod: Record<string, unknown>;
  if (file.endsWith('.mjs')) {
    // A real dynamic import, which the bundler would otherwise turn into require().
    const importer = new Function('u', 'return import(u)') as (u: string) => Promise<Record<string, unknown>>;
    mod = await importer(pathToFileURL(file).href);
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(file) as Record<string, unknown>;
  }
  let fn: unknown = mod;
  for (const part of exportPath) fn = (fn as Record<string, unknown> | undefined)?.[part];
  if (typeof fn !== 'function') {
    throw Object.assign(new Error(`${spec} is undefined or not exported`), { name: 'Runtime.HandlerNotFound' });
  }
  return fn as Handler;
}

let current: string | undefined;

function context(message: InvokeMessage): Record<string, unknown> {
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME!;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: process.env.LOCAL_LAMBDA_FUNCTION_ARN,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: message.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function invoke(handler: Handler, message: InvokeMessage): Promise<void> {
  current = message.id;
  process.env._X_AMZN_TRACE_ID = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${message.requestId.replace(/-/g, '').slice(0, 24)}`;
  try {
    const event = JSON.parse(message.payload);
    const result = await new Promise<unknown>((resolve, reject) => {
      const callback = (err: unknown, value?: unknown) => (err ? reject(err) : resolve(value));
      const returned = handler(event, context(message), callback);
      // Promise handlers answer with their promise; callback handlers (three
      // parameters, as the Node.js runtime tells them apart) through the callback.
      if (returned && typeof (returned as Promise<unknown>).then === 'function') (returned as Promise<unknown>).then(resolve, reject);
      else if (handler.length < 3) resolve(returned);
    });
    send({ type: 'result', id: message.id, payload: JSON.stringify(result === undefined ? null : result) });
  } catch (err) {
    send({ type: 'error', id: message.id, error: errorShape(err) });
  } finally {
    current = undefined;
  }
}

async function main(): Promise<void> {
  // Lambda runs with TZ=:UTC; Node reads it at start, so the parent sets it too.
  let handler: Handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    send({ type: 'init-error', error: errorShape(err, (err as Error).name?.startsWith('Runtime.') ? (err as Error).name : 'Runtime.ImportModuleError') });
    return;
  }
  process.on('message', (message: InvokeMessage) => {
    if (message?.type === 'invoke') void invoke(handler, message);
  });
  send({ type: 'ready' });
}

// As in Lambda, an error nobody caught ends the invocation and the environment.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown) => {
    const type = event === 'uncaughtException' ? 'Runtime.UncaughtException' : 'Runtime.UnhandledPromiseRejection';
    if (current) send({ type: 'error', id: current, error: errorShape(err, type), fatal: true });
    process.exitCode = 1;
    setImmediate(() => process.exit(1));
  });
}
// The parent is gone: nothing would ever invoke this environment again.
process.on('disconnect', () => process.exit(0));

void main();
