/**
 * A stack's template with its intrinsic functions resolved against the local
 * run: Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::If and
 * conditions, Fn::FindInMap, Fn::ImportValue, Fn::Base64, Fn::GetAZs, pseudo
 * parameters, and nested stacks' parameters and outputs. Resolution is lazy:
 * only what the run needs is resolved, so a deploy-time-only resource with an
 * attribute the run cannot know does not stop it.
 */
import { createHash } from 'crypto';
import { AssetIndex, Template, TemplateResource } from './assembly';
import { LocalRunError } from './errors';
import { physicalName } from './names';
import { isDeployTimeOnly, NOT_EMULATED, PhysicalContext, PLACEHOLDER_TYPE, RUN_TYPES, SHAPED_TYPES, TypeInfo } from './resource-types';

/** Removes the property or list element it stands in (AWS::NoValue). */
export const NO_VALUE = Symbol('AWS::NoValue');

export interface RunContext {
  readonly region: string;
  readonly account: string;
  readonly partition: string;
  readonly urlSuffix: string;
  /** The local run's gateway (HTTP APIs, Function URLs). */
  readonly gatewayEndpoint: string;
  /** Exported output values of every stack, by export name. */
  readonly exports: Map<string, () => unknown>;
  /** Types the user asked to run without (`--ignore-type`), resolved as placeholders. */
  readonly ignoredTypes: ReadonlySet<string>;
  queueUrl(queueName: string): string;
  /** Notes for the start-up listing: placeholders that reached something that runs. */
  note(message: string): void;
}

export interface StackSource {
  readonly template: Template;
  readonly assets: AssetIndex;
  readonly directory: string;
}

export class StackModel {
  readonly resources: ReadonlyMap<string, TemplateResource>;
  readonly stackId: string;
  private readonly conditionCache = new Map<string, boolean>();
  private readonly propsCache = new Map<string, Record<string, unknown>>();
  private readonly nameCache = new Map<string, string>();
  private readonly resolving = new Set<string>();
  private readonly nestedCache = new Map<string, StackModel>();
  private nestedFactory?: (parent: StackModel, logicalId: string) => StackModel;
  /** Above 0 while resolving a value whose placeholders are expected (no note). */
  private quiet = 0;

  constructor(
    readonly run: RunContext,
    readonly source: StackSource,
    readonly stackName: string,
    private readonly parameterValues: Record<string, unknown>,
    /** The nested stack resource in the parent that created this stack. */
    readonly parent?: { readonly model: StackModel; readonly logicalId: string },
  ) {
    this.resources = new Map(Object.entries(source.template.Resources ?? {}));
    this.stackId = `arn:${run.partition}:cloudformation:${run.region}:${run.account}:stack/${stackName}/00000000-0000-4000-8000-${hex12(stackName)}`;
  }

  /** `Stack/LogicalId` (`Stack/NestedStack/LogicalId` in a nested stack), for messages. */
  path(logicalId: string): string {
    return `${this.displayName}/${logicalId}`;
  }

  get displayName(): string {
    return this.parent ? this.parent.model.path(this.parent.logicalId) : this.stackName;
  }

  /** Whether the resource's Condition (if any) holds. */
  isActive(logicalId: string): boolean {
    const c = this.resources.get(logicalId)?.Condition;
    return c === undefined || this.condition(c);
  }

  condition(name: string): boolean {
    const cached = this.conditionCache.get(name);
    if (cached !== undefined) return cached;
    const expr = this.source.template.Conditions?.[name];
    if (expr === undefined) throw new LocalRunError(`${this.stackName}: condition ${name} is not defined in the template`);
    const value = this.conditionValue(expr, `condition ${name}`);
    this.conditionCache.set(name, value);
    return value;
  }

  private conditionValue(expr: unknown, where: string): boolean {
    if (typeof expr === 'boolean') return expr;
    if (expr && typeof expr === 'object' && !Array.isArray(expr)) {
      const [fn, arg] = Object.entries(expr)[0] ?? [];
      switch (fn) {
        case 'Condition': return this.condition(String(arg));
        case 'Fn::Equals': {
          const [a, b] = (arg as unknown[]).map((v) => this.resolve(v, where));
          return JSON.stringify(a) === JSON.stringify(b);
        }
        case 'Fn::And': return (arg as unknown[]).every((c) => this.conditionValue(c, where));
        case 'Fn::Or': return (arg as unknown[]).some((c) => this.conditionValue(c, where));
        case 'Fn::Not': return !this.conditionValue((arg as unknown[])[0], where);
      }
    }
    const resolved = this.resolve(expr, where);
    if (resolved === 'true' || resolved === true) return true;
    if (resolved === 'false' || resolved === false) return false;
    throw new LocalRunError(`${this.stackName}: ${where} is not a condition the local run can evaluate`);
  }

  typeInfo(logicalId: string): TypeInfo {
    const type = this.resources.get(logicalId)!.Type;
    return RUN_TYPES[type] ?? SHAPED_TYPES[type] ?? PLACEHOLDER_TYPE;
  }

  /** The resource's physical name: the one the template gives, or one in CloudFormation's shape. */
  physicalName(logicalId: string): string {
    const cached = this.nameCache.get(logicalId);
    if (cached) return cached;
    const info = this.typeInfo(logicalId);
    const resource = this.resources.get(logicalId)!;
    const explicit = info.nameProperty ? resource.Properties?.[info.nameProperty] : undefined;
    const name = explicit !== undefined
      ? String(this.resolve(explicit, `${this.path(logicalId)} ${info.nameProperty}`))
      : physicalName(this.stackName, logicalId, info.nameRules);
    this.nameCache.set(logicalId, name);
    return name;
  }

  /** The resource's properties, resolved. */
  properties(logicalId: string): Record<string, unknown> {
    const cached = this.propsCache.get(logicalId);
    if (cached) return cached;
    const key = `props:${logicalId}`;
    if (this.resolving.has(key)) throw new LocalRunError(`${this.path(logicalId)}: its properties refer to themselves`);
    this.resolving.add(key);
    try {
      const resource = this.resources.get(logicalId)!;
      const props = this.resolve(resource.Properties ?? {}, `${this.path(logicalId)} properties`) as Record<string, unknown>;
      this.propsCache.set(logicalId, props);
      return props;
    } finally {
      this.resolving.delete(key);
    }
  }

  /** One property, resolved alone (so that the others need not resolve). */
  property(logicalId: string, name: string): unknown {
    const raw = this.resources.get(logicalId)?.Properties?.[name];
    if (raw === undefined) return undefined;
    const value = this.resolve(raw, `${this.path(logicalId)} ${name}`);
    return value === NO_VALUE ? undefined : value;
  }

  private physicalContext(logicalId: string): PhysicalContext {
    const type = this.resources.get(logicalId)!.Type;
    return {
      name: this.physicalName(logicalId),
      logicalId,
      stackName: this.stackName,
      region: this.run.region,
      account: this.run.account,
      partition: this.run.partition,
      urlSuffix: this.run.urlSuffix,
      queueUrl: (n) => this.run.queueUrl(n),
      gatewayEndpoint: this.run.gatewayEndpoint,
      property: (n) => (n === '__type' ? type : this.property(logicalId, n)),
    };
  }

  ref(name: string, where: string): unknown {
    switch (name) {
      case 'AWS::Region': return this.run.region;
      case 'AWS::AccountId': return this.run.account;
      case 'AWS::Partition': return this.run.partition;
      case 'AWS::URLSuffix': return this.run.urlSuffix;
      case 'AWS::StackName': return this.stackName;
      case 'AWS::StackId': return this.stackId;
      case 'AWS::NoValue': return NO_VALUE;
      case 'AWS::NotificationARNs': return [];
    }
    if (this.source.template.Parameters?.[name] !== undefined) return this.parameter(name, where);
    const resource = this.resources.get(name);
    if (!resource) throw new LocalRunError(`${this.stackName}: ${where} refers to ${name}, which the template does not define`);
    this.checkReachable(name, where);
    if (resource.Type === 'AWS::CloudFormation::Stack') return this.nestedStackId(name);
    return this.typeInfo(name).ref(this.physicalContext(name));
  }

  getAtt(logicalId: string, attribute: string, where: string): unknown {
    const resource = this.resources.get(logicalId);
    if (!resource) throw new LocalRunError(`${this.stackName}: ${where} refers to ${logicalId}, which the template does not define`);
    this.checkReachable(logicalId, where);
    if (resource.Type === 'AWS::CloudFormation::Stack') {
      const m = /^Outputs\.(.+)$/.exec(attribute);
      if (!m) throw new LocalRunError(`${this.path(logicalId)}: nested stack attribute ${attribute} is not known locally`);
      return this.nested(logicalId).output(m[1], where);
    }
    try {
      return this.typeInfo(logicalId).attribute(this.physicalContext(logicalId), attribute);
    } catch (err) {
      if (err instanceof LocalRunError) throw err;
      throw new LocalRunError(`${where}: ${this.path(logicalId)} (${resource.Type}): ${(err as Error).message}`);
    }
  }

  /**
   * Resolves a value that may name resources that do not run, without a
   * note: for values the run uses as names only (a log group's name, where
   * the run writes that log itself).
   */
  resolveQuietly(value: unknown, where: string): unknown {
    this.quiet++;
    try {
      return this.resolve(value, where);
    } finally {
      this.quiet--;
    }
  }

  /** A placeholder value from a resource that does not run reaches something that does: say so once. */
  private checkReachable(logicalId: string, where: string): void {
    const type = this.resources.get(logicalId)!.Type;
    if (RUN_TYPES[type] || type === 'AWS::CloudFormation::Stack') return;
    if (isDeployTimeOnly(type) || NOT_EMULATED[type] || this.run.ignoredTypes.has(type)) {
      if (this.quiet === 0) this.run.note(`${where} uses ${this.path(logicalId)} (${type}), which is not run locally: it gets a placeholder value`);
      return;
    }
    throw new LocalRunError(`${where} refers to ${this.path(logicalId)} (${type}), which the local run cannot emulate`);
  }

  private parameter(name: string, where: string): unknown {
    if (name in this.parameterValues) return this.parameterValues[name];
    const declared = this.source.template.Parameters![name];
    if (declared.Type?.startsWith('AWS::SSM::Parameter::')) {
      throw new LocalRunError(`${where} uses parameter ${name}, read from SSM at deploy time: pass --parameter ${name}=<value>`);
    }
    if (declared.Default === undefined) {
      throw new LocalRunError(`${where} uses parameter ${name}, which has no default: pass --parameter ${name}=<value>`);
    }
    if (declared.Type === 'CommaDelimitedList' || declared.Type?.startsWith('List<')) return String(declared.Default).split(',');
    return declared.Default;
  }

  output(name: string, where: string): unknown {
    const out = this.source.template.Outputs?.[name];
    if (!out) throw new LocalRunError(`${where}: stack ${this.stackName} has no output ${name}`);
    return this.resolve(out.Value, `${this.stackName} output ${name}`);
  }

  /** Set by the deployment, which knows where nested templates are. */
  setNestedFactory(factory: (parent: StackModel, logicalId: string) => StackModel): void {
    this.nestedFactory = factory;
  }

  nested(logicalId: string): StackModel {
    let model = this.nestedCache.get(logicalId);
    if (!model) {
      if (!this.nestedFactory) throw new LocalRunError(`${this.path(logicalId)}: nested stacks are not available here`);
      model = this.nestedFactory(this, logicalId);
      this.nestedCache.set(logicalId, model);
    }
    return model;
  }

  private nestedStackId(logicalId: string): string {
    return this.nested(logicalId).stackId;
  }

  /** Resolves every intrinsic function in a value. */
  resolve(value: unknown, where: string): unknown {
    if (Array.isArray(value)) {
      return value.map((v) => this.resolve(v, where)).filter((v) => v !== NO_VALUE);
    }
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [key, arg] = entries[0];
      if (key === 'Ref') return this.ref(String(arg), where);
      if (key.startsWith('Fn::')) return this.fn(key, arg, where);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const r = this.resolve(v, `${where}.${k}`);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }

  private fn(name: string, arg: unknown, where: string): unknown {
    const list = () => {
      const v = this.resolve(arg, where);
      if (!Array.isArray(v)) throw new LocalRunError(`${where}: ${name} takes a list`);
      return v;
    };
    switch (name) {
      case 'Fn::GetAtt': {
        const [id, attr] = typeof arg === 'string' ? splitOnce(arg, '.') : (arg as unknown[]);
        return this.getAtt(String(id), String(this.resolve(attr, where)), where);
      }
      case 'Fn::Join': {
        const [delimiter, items] = arg as [string, unknown];
        const values = this.resolve(items, where);
        if (!Array.isArray(values)) throw new LocalRunError(`${where}: Fn::Join takes a list`);
        return values.map((v) => scalar(v, where)).join(delimiter);
      }
      case 'Fn::Sub': return this.sub(arg, where);
      case 'Fn::Select': {
        const [index, items] = list();
        const i = Number(index);
        if (!Array.isArray(items) || !(i >= 0 && i < items.length)) throw new LocalRunError(`${where}: Fn::Select index ${index} is out of range`);
        return items[i];
      }
      case 'Fn::Split': {
        const [delimiter, source] = list();
        return String(source).split(String(delimiter));
      }
      case 'Fn::If': {
        const [cond, a, b] = arg as [string, unknown, unknown];
        return this.condition(cond) ? this.resolve(a, where) : this.resolve(b, where);
      }
      case 'Fn::Equals': case 'Fn::And': case 'Fn::Or': case 'Fn::Not':
        return this.conditionValue({ [name]: arg }, where);
      case 'Fn::FindInMap': {
        const [map, top, second] = list();
        const value = this.source.template.Mappings?.[String(map)]?.[String(top)]?.[String(second)];
        if (value === undefined) throw new LocalRunError(`${where}: Fn::FindInMap found nothing at ${map}.${top}.${second}`);
        return value;
      }
      case 'Fn::Base64': return Buffer.from(String(this.resolve(arg, where)), 'utf8').toString('base64');
      case 'Fn::GetAZs': return ['a', 'b', 'c'].map((z) => `${this.run.region}${z}`);
      case 'Fn::ImportValue': {
        const exportName = String(this.resolve(arg, where));
        const value = this.run.exports.get(exportName);
        if (!value) throw new LocalRunError(`${where}: no stack of this cloud assembly exports ${exportName}`);
        return value();
      }
      case 'Fn::Length': return list().length;
      case 'Fn::ToJsonString': return JSON.stringify(this.resolve(arg, where));
      default:
        throw new LocalRunError(`${where}: ${name} is not an intrinsic function the local run resolves`);
    }
  }

  private sub(arg: unknown, where: string): string {
    const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
    const variables = this.resolve(vars, where) as Record<string, unknown>;
    return text.replace(/\$\{([^}]*)\}/g, (_, expr: string) => {
      if (expr.startsWith('!')) return `\${${expr.slice(1)}}`;
      const name = expr.trim();
      if (name in variables) return scalar(variables[name], where);
      if (name.includes('.') && !name.startsWith('AWS::')) {
        const [id, attr] = splitOnce(name, '.');
        return scalar(this.getAtt(id, attr, where), where);
      }
      return scalar(this.ref(name, where), where);
    });
  }
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

function scalar(v: unknown, where: string): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new LocalRunError(`${where}: expected a string, got ${JSON.stringify(v)}`);
}

function hex12(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}
