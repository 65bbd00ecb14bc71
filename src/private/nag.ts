import { AspectPriority, Aspects, CfnResource, IAspect, Stack, Validations } from 'aws-cdk-lib';
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
 * The rule whose findings `suppressNag` can list itself: cdk-nag 3 takes a
 * finding only by its exact id, so a pattern has to be turned into the ids it
 * matches.
 */
const IAM_WILDCARDS = 'AwsSolutions-IAM5';

/**
 * Writes suppressions where both majors of cdk-nag read them, so that a
 * user's own cdk-nag run passes without work and the library needs cdk-nag
 * at no time:
 *
 * - cdk-nag 2 (an aspect) reads the template metadata of the resource
 *   (`cdk_nag.rules_to_suppress`), where `appliesTo` narrows a rule to some of
 *   its findings, by exact id or by regular expression;
 * - cdk-nag 3 (a validation plugin) reads aws-cdk-lib's acknowledgements
 *   (`Validations.of(resource).acknowledge`), where a rule with findings is
 *   acknowledged one finding at a time, as `RuleId[FindingId]`, and there is
 *   no pattern. The findings a pattern matches depend on logical ids and on
 *   statements added after this call, so they are listed when the app is
 *   synthesized, from the same policy cdk-nag then reads: no broader than the
 *   pattern, and a finding the pattern does not match stays reported.
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

  for (const s of suppressions) {
    if (!s.appliesTo) {
      acknowledge(resource, s.id, s.reason);
      // cdk-nag 2 reads a rule without appliesTo as all of its findings; cdk-nag 3 needs each one by id.
      if (s.id === IAM_WILDCARDS) listAtSynth(resource, { id: s.id, reason: s.reason, matches: () => true });
      continue;
    }
    for (const finding of s.appliesTo) {
      if (typeof finding === 'string') {
        acknowledge(resource, `${s.id}[${finding}]`, s.reason);
      } else {
        if (s.id !== IAM_WILDCARDS) throw new Error(`${resource.node.path}: a pattern of findings (${finding.regex}) can be carried to cdk-nag 3 for ${IAM_WILDCARDS} only; name the findings of ${s.id} exactly`);
        const regex = patternOf(finding.regex);
        listAtSynth(resource, { id: s.id, reason: s.reason, matches: (f) => regex.test(f) });
      }
    }
  }
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

/**
 * The wildcard findings cdk-nag's IAM5 rule reports on `resource` (the rule is
 * the same code in cdk-nag 2 and 3): `Action::<action>` for each action with a
 * `*` and `Resource::<resource>` for each resource with a `*`, of the Allow
 * statements, a resource written flat as cdk-nag writes it.
 */
export function iamWildcardFindings(resource: CfnResource): string[] {
  const stack = Stack.of(resource);
  const documents: PolicyDocumentJson[] = [];
  if (resource instanceof iam.CfnPolicy || resource instanceof iam.CfnManagedPolicy) {
    documents.push(stack.resolve(resource.policyDocument));
  } else if (resource instanceof iam.CfnRole || resource instanceof iam.CfnUser || resource instanceof iam.CfnGroup) {
    for (const policy of stack.resolve(resource.policies) ?? []) documents.push(stack.resolve(stack.resolve(policy).policyDocument));
  }
  const findings = new Set<string>();
  for (const statement of documents.flatMap((d) => d?.Statement ?? [])) {
    if (statement.Effect !== 'Allow') continue;
    for (const action of asArray(statement.Action)) if (String(action).includes('*')) findings.add(`Action::${action}`);
    for (const flat of asArray(statement.Resource).map(flattenReference)) if (flat.includes('*')) findings.add(`Resource::${flat}`);
  }
  return [...findings];
}

interface PolicyDocumentJson {
  readonly Statement?: Array<{ readonly Effect?: string; readonly Action?: unknown; readonly Resource?: unknown }>;
}

/** A finding of `id` that one suppression covers, listed once the app is synthesized. */
interface PendingFinding {
  readonly id: string;
  readonly reason: string;
  matches(finding: string): boolean;
}

const pendingFindings = new WeakMap<CfnResource, PendingFinding[]>();

function listAtSynth(resource: CfnResource, pending: PendingFinding): void {
  const list = pendingFindings.get(resource);
  if (list) {
    list.push(pending);
    return;
  }
  const pendings = [pending];
  pendingFindings.set(resource, pendings);
  // Read-only priority: after the aspects that may still add statements, as
  // close as an aspect gets to the policy that cdk-nag reads.
  Aspects.of(resource).add(new AcknowledgeFindings(resource, pendings), { priority: AspectPriority.READONLY });
}

class AcknowledgeFindings implements IAspect {
  constructor(private readonly resource: CfnResource, private readonly pending: readonly PendingFinding[]) {}

  public visit(node: IConstruct): void {
    if (node !== this.resource) return;
    const findings = iamWildcardFindings(this.resource);
    for (const p of this.pending) {
      for (const finding of findings) if (p.matches(finding)) acknowledge(this.resource, `${p.id}[${finding}]`, p.reason);
    }
  }
}

/**
 * Acknowledges `id` on the resource alone. aws-cdk-lib before 2.269.0 (our
 * 2.257.0 floor among them) reads each `::` in an id as a plugin prefix and
 * refuses an id with two, such as a finding on
 * `arn:<AWS::Partition>:s3:::bucket/*`; for those the acknowledgement is
 * recorded as the metadata entry `acknowledge` writes, which cdk-nag 3 reads.
 */
function acknowledge(resource: CfnResource, id: string, reason: string): void {
  try {
    Validations.of(resource).acknowledge({ id, reason });
  } catch (e) {
    if (!(e instanceof Error) || !e.message.includes('Invalid validation rule ID')) throw e;
    resource.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { [id]: reason });
  }
}

/** A regular expression written as cdk-nag 2 reads one in `applies_to` (`/source/flags`). */
function patternOf(text: string): RegExp {
  const m = text.match(/\/(.*)\/(.*)?/);
  if (!m) throw new Error(`Invalid cdk-nag applies_to pattern ${text}: write it as /regex/`);
  return new RegExp(m[1], m[2] || '');
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/** A CloudFormation value as one string, as cdk-nag names it in a finding (its flattenCfnReference). */
function flattenReference(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value.replace(/\${/g, '<').replace(/}/g, '>');
  const node = value as Record<string, any>;
  if (node['Fn::Join']) {
    const [delimiter, items] = node['Fn::Join'];
    return (items as unknown[]).map(flattenReference).join(delimiter);
  }
  if (node['Fn::Sub']) return flattenReference(node['Fn::Sub']);
  if (node['Fn::GetAtt']) {
    const [logicalId, attribute] = node['Fn::GetAtt'];
    return `<${flattenReference(logicalId)}.${flattenReference(attribute)}>`;
  }
  if (node['Fn::ImportValue']) return flattenReference(node['Fn::ImportValue']);
  if (node.Ref) return `<${flattenReference(node.Ref)}>`;
  return JSON.stringify(value);
}
