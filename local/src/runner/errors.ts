/**
 * An error the user can act on, said in one line: what is wrong and what to do.
 * The command line prints its message alone, without a stack trace.
 */
export class LocalRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalRunError';
  }
}
