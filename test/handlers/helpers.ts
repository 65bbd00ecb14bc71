/**
 * Small helpers shared by the handler unit tests. Nothing here talks to AWS:
 * the fakes record the command inputs they receive and answer from a script.
 */
import type { Logger } from '@aws-lambda-powertools/logger';

/** Base64 of a UTF-8 string, as Kinesis delivers payloads to Lambda. */
export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Base64 of a JSON value. */
export function b64json(value: unknown): string {
  return b64(JSON.stringify(value));
}

/** A command as the SDK clients receive it: the class instance with its input. */
export interface AnyCommand {
  readonly input: unknown;
  readonly constructor: { readonly name: string };
}

export type Step = (input: any) => unknown;

/**
 * A stand-in for an SDK v3 client: `send` records a deep copy of each command
 * input and answers with the next scripted step (a value to resolve, an Error
 * to reject with, or a function of the input). Without a step left it resolves `{}`.
 */
export class FakeClient {
  public readonly inputs: any[] = [];
  public readonly commandNames: string[] = [];
  private readonly steps: Step[];

  constructor(steps: Step[] = [], private readonly fallback: Step = () => ({})) {
    this.steps = [...steps];
  }

  public readonly send = async (command: AnyCommand): Promise<unknown> => {
    const input = structuredClone(command.input);
    this.inputs.push(input);
    this.commandNames.push(command.constructor.name);
    const step = this.steps.shift() ?? this.fallback;
    const out = step(input);
    if (out instanceof Error) throw out;
    return out;
  };
}

/** Casts a fake to the client type a function under test expects. */
export function asClient<T>(fake: FakeClient): T {
  return fake as unknown as T;
}

/** An error shaped like the SDK's service exceptions. */
export function serviceError(name: string, httpStatusCode?: number): Error {
  const err = new Error(`${name} (test)`);
  err.name = name;
  if (httpStatusCode !== undefined) {
    (err as Error & { $metadata: { httpStatusCode: number } }).$metadata = { httpStatusCode };
  }
  return err;
}

/** Captures what is written to process.stdout while `fn` runs. */
export function captureStdout(fn: () => void): string[] {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stdout.write);
  try {
    fn();
  } finally {
    spy.mockRestore();
  }
  return chunks.join('').split('\n').filter((line) => line.length > 0);
}

/** Logger methods a test may want to look at; the logger itself is silent. */
export function silence(logger: Logger): Logger {
  logger.setLogLevel('SILENT');
  return logger;
}
