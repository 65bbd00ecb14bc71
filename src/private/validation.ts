import { Duration, Token } from 'aws-cdk-lib';

/** Throws when a number prop is outside [min, max] or not an integer; tokens are left to deploy time. */
export function validateInteger(prop: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${prop} must be an integer from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}, got ${value}`);
  }
}

/** Throws when a Duration prop is outside [min, max] seconds; tokens are left to deploy time. */
export function validateDuration(prop: string, value: Duration | undefined, min: Duration, max: Duration, why?: string): void {
  if (value === undefined || value.isUnresolved()) return;
  const seconds = value.toSeconds({ integral: false });
  if (seconds < min.toSeconds({ integral: false }) || seconds > max.toSeconds({ integral: false })) {
    throw new Error(`${prop} must be from ${min.toHumanString()} to ${max.toHumanString()}${why ? ` (${why})` : ''}, got ${value.toHumanString()}`);
  }
}

/** Throws when a string prop is empty (tokens are accepted). */
export function validateNonEmpty(prop: string, value: string | undefined): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (value.trim().length === 0) throw new Error(`${prop} must not be empty`);
}
