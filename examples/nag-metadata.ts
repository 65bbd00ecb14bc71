import { CfnResource, Validations } from 'aws-cdk-lib';

/** A cdk-nag suppression as it is written in template metadata. */
export interface NagSuppression {
  readonly id: string;
  readonly reason: string;
  readonly applies_to?: string[];
}

/**
 * Accepts cdk-nag findings on the resource where both majors of cdk-nag read
 * them, so that a cdk-nag run over this app passes without the app depending
 * on cdk-nag: cdk-nag 2 reads the template metadata (written beside any
 * already there); cdk-nag 3 reads aws-cdk-lib's acknowledgements, one for
 * each finding of a rule that has findings (`AwsSolutions-IAM5[Resource::*]`).
 */
export function addNagSuppressions(resource: CfnResource, rules: NagSuppression[]): void {
  const existing: NagSuppression[] = resource.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
  resource.addMetadata('cdk_nag', { rules_to_suppress: [...existing, ...rules] });
  for (const rule of rules) {
    for (const id of rule.applies_to ? rule.applies_to.map((finding) => `${rule.id}[${finding}]`) : [rule.id]) {
      Validations.of(resource).acknowledge({ id, reason: rule.reason });
    }
  }
}
