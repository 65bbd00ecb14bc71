/**
 * Physical names in CloudFormation's shape, `<stack>-<logicalId>-<suffix>`,
 * cut to fit each service's limits. CloudFormation draws the suffix at random;
 * here it is a hash of stack and logical id, so that a run with `--data-dir`
 * finds its resources again.
 */
import { createHash } from 'crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** 12 characters of [A-Z0-9] derived from the inputs. */
export function nameSuffix(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('/')).digest();
  let out = '';
  for (let i = 0; i < 12; i++) out += ALPHABET[digest[i] % ALPHABET.length];
  return out;
}

export interface NameRules {
  /** Longest name the service takes. */
  readonly maxLength: number;
  /** S3 bucket names are lower case. */
  readonly lowerCase?: boolean;
  /** Names of letters, digits and underscores (IoT rule names): "_" stands for "-" and anything else. */
  readonly underscores?: boolean;
}

/**
 * `<stack>-<logicalId>-<suffix>`; when that is too long, the stack name and the
 * logical id are each cut (the logical id keeps at least half of the room),
 * as CloudFormation does, so that the suffix always survives.
 */
export function physicalName(stackName: string, logicalId: string, rules: NameRules): string {
  const suffix = nameSuffix(stackName, logicalId);
  let stack = stackName;
  let logical = logicalId;
  const room = rules.maxLength - suffix.length - 2;
  if (stack.length + logical.length > room) {
    const forStack = Math.min(stack.length, Math.max(Math.floor(room / 2), room - logical.length));
    stack = stack.slice(0, forStack);
    logical = logical.slice(0, room - stack.length);
  }
  let name = `${stack}-${logical}-${suffix}`;
  if (rules.lowerCase) name = name.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  if (rules.underscores) name = name.replace(/[^A-Za-z0-9_]/g, '_');
  return name;
}
