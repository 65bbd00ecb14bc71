import { CfnResource } from 'aws-cdk-lib';

/** A cdk-nag suppression as it is written in template metadata. */
export interface NagSuppression {
  readonly id: string;
  readonly reason: string;
  readonly applies_to?: string[];
}

/**
 * Writes cdk-nag suppressions into the resource's template metadata, beside
 * any already there, so that a cdk-nag run over this app reads them without
 * the app depending on cdk-nag.
 */
export function addNagSuppressions(resource: CfnResource, rules: NagSuppression[]): void {
  const existing: NagSuppression[] = resource.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
  resource.addMetadata('cdk_nag', { rules_to_suppress: [...existing, ...rules] });
}
