import { CfnResource } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

/** A cdk-nag finding accepted on purpose, with the reason a reviewer reads. */
export interface NagSuppression {
  /** The rule, for example `AwsSolutions-IAM5`. */
  readonly id: string;
  readonly reason: string;
  /** The findings of the rule it covers (cdk-nag `applies_to`); all of them when absent. */
  readonly appliesTo?: Array<string | { readonly regex: string }>;
}

/**
 * Writes suppressions into the template metadata of `construct`'s resource,
 * where cdk-nag reads them (`cdk_nag.rules_to_suppress`). The library thus
 * carries its reasons into a user's own cdk-nag run without depending on
 * cdk-nag at run time.
 */
export function suppressNag(construct: IConstruct, suppressions: readonly NagSuppression[]): void {
  const resource = construct instanceof CfnResource ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnResource)) throw new Error(`${construct.node.path} has no CloudFormation resource to carry cdk-nag metadata`);
  const existing = (resource.getMetadata('cdk_nag') ?? {}) as { rules_to_suppress?: unknown[] };
  resource.addMetadata('cdk_nag', {
    ...existing,
    rules_to_suppress: [
      ...(existing.rules_to_suppress ?? []),
      ...suppressions.map((s) => ({ id: s.id, reason: s.reason, ...(s.appliesTo ? { applies_to: s.appliesTo } : {}) })),
    ],
  });
}

/** A cdk-nag `applies_to` pattern matching a finding exactly, whatever the logical ids in it. */
export function findingPattern(regex: string): { regex: string } {
  return { regex: `/${regex}/` };
}

/** Escapes text for a regular expression. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Suppressions for the principal policy of `grantee` (a role's DefaultPolicy),
 * where aws-cdk-lib writes the statements of grants. Nothing is written when
 * the grantee has no such policy in this app (an imported role).
 */
export function suppressOnPrincipalPolicy(grantee: iam.IGrantable, suppressions: readonly NagSuppression[]): void {
  const principal = grantee.grantPrincipal;
  if (!(principal instanceof iam.Role)) return;
  const policy = principal.node.tryFindChild('DefaultPolicy');
  if (policy) suppressNag(policy, suppressions);
}

/** Wildcards that aws-cdk-lib's KMS key grants contain, on the key only. */
export function suppressKeyGrants(grantee: iam.IGrantable): void {
  suppressOnPrincipalPolicy(grantee, [{
    id: 'AwsSolutions-IAM5',
    reason: 'Encrypting with a KMS key takes kms:GenerateDataKey* and kms:ReEncrypt* (the actions of aws-cdk-lib key grants); '
      + 'the statement is held to the one key of the resource it encrypts.',
    appliesTo: ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
  }]);
}
