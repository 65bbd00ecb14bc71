import { App, Aspects, CfnResource, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  AwsSolutionsChecks, INagLogger, NagLoggerBaseData, NagLoggerErrorData, NagLoggerNonComplianceData, NagLoggerSuppressedData,
} from 'cdk-nag';
import { IConstruct } from 'constructs';

/** Asset hashes change with every handler edit; the snapshot keeps everything else. */
export function normalizeAssets(json: unknown): unknown {
  return JSON.parse(JSON.stringify(json).replace(/[0-9a-f]{64}(\.zip|\.json)?/g, 'ASSET_HASH$1'));
}

/** Resource types and how many of each, in one template. */
export function census(template: Template): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const resource of Object.values<{ Type: string }>(template.toJSON().Resources)) {
    counts[resource.Type] = (counts[resource.Type] ?? 0) + 1;
  }
  return counts;
}

/** The only resource of `type` in the template, with its logical id. */
export function only(template: Template, type: string): [string, any] {
  const found = Object.entries(template.findResources(type));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

/** The logical id of the only resource of `type` whose logical id starts with `prefix`. */
export function idOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0];
}

/** The statements of every AWS::IAM::Policy attached to the role. */
export function statementsOf(template: Template, roleId: string): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes(JSON.stringify({ Ref: roleId })))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

/** The statements of every AWS::IAM::Policy attached to the role, and the role's own inline and managed policies. */
export function permissionsOf(template: Template, roleId: string): { statements: any[]; managed: unknown; inline: unknown } {
  const role = template.toJSON().Resources[roleId];
  return {
    statements: statementsOf(template, roleId),
    managed: role.Properties.ManagedPolicyArns,
    inline: role.Properties.Policies,
  };
}

export interface Finding {
  /** `AwsSolutions-IAM5[Resource::*]` */
  readonly rule: string;
  readonly level: string;
  /** The construct path of the resource. */
  readonly resource: string;
  readonly reason?: string;
}

/** What a user's cdk-nag run over the app sees: every resource it evaluated, and every finding, suppressed or not. */
export class FindingCollector implements INagLogger {
  public readonly evaluated = new Set<string>();
  public readonly open: Finding[] = [];
  public readonly suppressed: Finding[] = [];
  /** The app the run is over, when the caller needs it after the run. */
  public readonly app?: App;
  constructor(app?: App) {
    this.app = app;
  }
  onCompliance(data: NagLoggerBaseData): void {
    this.evaluated.add(data.resource.node.path);
  }
  onNotApplicable(data: NagLoggerBaseData): void {
    this.evaluated.add(data.resource.node.path);
  }
  onSuppressedError(): void {}
  onNonCompliance(data: NagLoggerNonComplianceData): void {
    this.evaluated.add(data.resource.node.path);
    this.open.push({ rule: ruleOf(data), level: data.ruleLevel, resource: data.resource.node.path });
  }
  onSuppressed(data: NagLoggerSuppressedData): void {
    this.evaluated.add(data.resource.node.path);
    this.suppressed.push({ rule: ruleOf(data), level: data.ruleLevel, resource: data.resource.node.path, reason: data.suppressionReason });
  }
  onError(data: NagLoggerErrorData): void {
    // A rule that cannot evaluate a resource is a finding nobody reviewed.
    this.open.push({ rule: `${data.ruleId} (rule error: ${data.errorMessage})`, level: data.ruleLevel, resource: data.resource.node.path });
  }
}

function ruleOf(data: NagLoggerNonComplianceData): string {
  return data.findingId ? `${data.ruleId}[${data.findingId}]` : data.ruleId;
}

/** Runs cdk-nag's AwsSolutions pack over a new app holding what `build` adds to it, as a user runs it, and collects what it saw. */
export function runAwsSolutions(build: (app: App) => void): FindingCollector {
  const app = new App();
  build(app);
  const collector = new FindingCollector(app);
  Aspects.of(app).add(new AwsSolutionsChecks({ reports: false, additionalLoggers: [collector] }));
  app.synth();
  return collector;
}

/**
 * What cdk-nag 3 finds acknowledged on each resource of the app, as
 * `path rule — reason` lines: the acknowledgements aws-cdk-lib records
 * (Validations.of(scope).acknowledge) on the resource and on its scopes, read
 * the way cdk-nag 3 reads them (an `annotation::` prefix dropped).
 */
export function acknowledgedFindings(root: IConstruct): string[] {
  const lines = new Set<string>();
  for (const resource of root.node.findAll().filter(CfnResource.isCfnResource)) {
    for (let scope: IConstruct | undefined = resource; scope; scope = scope.node.scope) {
      for (const entry of scope.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          lines.add(`${resource.node.path} ${id.replace(/^annotation::/i, '')} — ${reason}`);
        }
      }
    }
  }
  return [...lines].sort();
}

/**
 * What cdk-nag 3 must find acknowledged, in the lines of `acknowledgedFindings`,
 * after a cdk-nag 2 run over the app: each finding cdk-nag 2 suppressed (the
 * rule with its finding, as both majors name it), and each rule the template
 * metadata suppresses whole on a resource (no `applies_to`), which cdk-nag 3
 * takes by the rule's id whether or not the resource breaks it today.
 */
export function suppressedFindings(collector: FindingCollector): string[] {
  const lines = new Set<string>();
  for (const f of collector.suppressed) {
    // cdk-nag 2 reports the reason of a finding with the finding in front.
    const finding = f.rule.match(/\[.*\]$/)?.[0];
    const reason = finding && f.reason?.startsWith(`${finding} `) ? f.reason.slice(finding.length + 1) : f.reason;
    lines.add(`${f.resource} ${f.rule} — ${reason}`);
  }
  for (const resource of collector.app!.node.findAll().filter(CfnResource.isCfnResource)) {
    const rules: Array<{ id: string; reason: string; applies_to?: unknown[] }> = resource.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
    for (const rule of rules.filter((r) => !r.applies_to)) lines.add(`${resource.node.path} ${rule.id} — ${rule.reason}`);
  }
  return [...lines].sort();
}

/**
 * Tells whether the library created the resource at a construct path in the
 * stack `stackName`: everything under the pipeline construct, and
 * aws-cdk-lib's auto-delete provider that the archive bucket's
 * autoDeleteObjects brings. Their findings are the library's to fix or
 * suppress, in src/.
 */
export function isLibraryResourceIn(stackName: string): (constructPath: string) => boolean {
  return (constructPath) => constructPath.startsWith(`${stackName}/Pipeline/`)
    || constructPath.startsWith(`${stackName}/Custom::S3AutoDeleteObjectsCustomResourceProvider/`);
}
