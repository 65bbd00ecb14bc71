/**
 * Reads a CDK cloud assembly (`cdk.out`): its manifest, each stack's template,
 * nested stack templates and the asset manifests that say where each asset's
 * files are. Only the cloud assembly's own files are read; nothing of the app
 * that produced it.
 */
import { existsSync, readFileSync, statSync } from 'fs';
import * as path from 'path';
import { LocalRunError } from './errors';

export interface Template {
  readonly Parameters?: Record<string, { Type?: string; Default?: unknown }>;
  readonly Conditions?: Record<string, unknown>;
  readonly Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  readonly Resources?: Record<string, TemplateResource>;
  readonly Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown }; Condition?: string }>;
}

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Condition?: string;
  readonly DependsOn?: string | string[];
  readonly Metadata?: Record<string, unknown>;
}

/** Where the files of one asset are, by the S3 object key or template URL the template names it with. */
export interface AssetIndex {
  /** Asset source paths (absolute) by destination object key, e.g. `<hash>.zip`. */
  readonly byObjectKey: ReadonlyMap<string, AssetSource>;
}

export interface AssetSource {
  readonly path: string;
  readonly packaging: 'zip' | 'file';
}

export interface StackArtifact {
  /** The stack name that CloudFormation would use. */
  readonly stackName: string;
  readonly artifactId: string;
  /** The name the CDK shows for it (`Stage/Stack` inside a stage). */
  readonly displayName: string;
  readonly templateFile: string;
  readonly template: Template;
  /** The directory the template and its assets sit in. */
  readonly directory: string;
  readonly assets: AssetIndex;
  /** Other stacks (artifact ids) this one depends on. */
  readonly dependencies: readonly string[];
  /**
   * The construct path of a resource (`Stack/Pipeline/Processor/Resource`),
   * from the assembly's metadata, by its logical id; undefined when the
   * metadata does not name it once. Read when first asked, for messages.
   */
  readonly constructPathOf?: (logicalId: string) => string | undefined;
}

type ArtifactMetadata = Record<string, ReadonlyArray<{ readonly type: string; readonly data?: unknown }>>;

interface Manifest {
  readonly artifacts?: Record<string, {
    readonly type: string;
    readonly properties?: Record<string, unknown>;
    readonly dependencies?: string[];
    readonly displayName?: string;
    readonly metadata?: ArtifactMetadata;
    readonly additionalMetadataFile?: string;
  }>;
}

interface AssetManifest {
  readonly files?: Record<string, {
    readonly source: { readonly path?: string; readonly packaging?: string };
    readonly destinations: Record<string, { readonly objectKey: string }>;
  }>;
}

function readJson<T>(file: string, what: string): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new LocalRunError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

/** Every stack of the assembly (nested assemblies of stages included), in dependency order. */
export function readCloudAssembly(directory: string): StackArtifact[] {
  const manifestFile = path.join(directory, 'manifest.json');
  if (!existsSync(manifestFile)) {
    throw new LocalRunError(
      `no cloud assembly at ${directory} (manifest.json is missing): synthesize the app first (\`npx cdk synth\` in its folder; \`npm run demo\` does it for the example)`,
    );
  }
  const stacks: StackArtifact[] = [];
  collect(path.resolve(directory), stacks);
  if (stacks.length === 0) throw new LocalRunError(`the cloud assembly at ${directory} holds no stack`);
  return orderByDependencies(stacks);
}

function collect(directory: string, stacks: StackArtifact[]): void {
  const manifest = readJson<Manifest>(path.join(directory, 'manifest.json'), 'the cloud assembly manifest');
  const artifacts = manifest.artifacts ?? {};
  const assetIndexes = new Map<string, AssetIndex>();
  for (const [id, artifact] of Object.entries(artifacts)) {
    if (artifact.type === 'cdk:asset-manifest') {
      assetIndexes.set(id, readAssetManifest(directory, String(artifact.properties?.file)));
    }
  }
  for (const [id, artifact] of Object.entries(artifacts)) {
    if (artifact.type === 'cdk:cloud-assembly') {
      collect(path.join(directory, String(artifact.properties?.directoryName)), stacks);
      continue;
    }
    if (artifact.type !== 'aws:cloudformation:stack') continue;
    const templateFile = path.join(directory, String(artifact.properties?.templateFile));
    const deps = artifact.dependencies ?? [];
    const merged = new Map<string, AssetSource>();
    for (const dep of deps) for (const [k, v] of assetIndexes.get(dep)?.byObjectKey ?? []) merged.set(k, v);
    stacks.push({
      stackName: String(artifact.properties?.stackName ?? artifact.displayName ?? id),
      artifactId: id,
      displayName: artifact.displayName ?? id,
      templateFile,
      template: readJson<Template>(templateFile, 'the stack template'),
      directory,
      assets: { byObjectKey: merged },
      dependencies: deps.filter((d) => artifacts[d]?.type === 'aws:cloudformation:stack'),
      constructPathOf: constructPaths(directory, artifact),
    });
  }
}

/** Logical id to construct path, from a stack artifact's `aws:cdk:logicalId` metadata (inline, or in its metadata file). */
function constructPaths(directory: string, artifact: { readonly metadata?: ArtifactMetadata; readonly additionalMetadataFile?: string }) {
  let byLogicalId: Map<string, string> | undefined;
  return (logicalId: string): string | undefined => {
    if (!byLogicalId) {
      let metadata: ArtifactMetadata = artifact.metadata ?? {};
      if (artifact.additionalMetadataFile) {
        try {
          metadata = { ...metadata, ...JSON.parse(readFileSync(path.join(directory, artifact.additionalMetadataFile), 'utf8')) as ArtifactMetadata };
        } catch {
          // Metadata only names things in messages: without it, they name the logical id.
        }
      }
      const paths = new Map<string, string[]>();
      for (const [constructPath, entries] of Object.entries(metadata)) {
        for (const entry of entries) {
          if (entry.type === 'aws:cdk:logicalId' && typeof entry.data === 'string') paths.set(entry.data, [...paths.get(entry.data) ?? [], constructPath.replace(/^\//, '')]);
        }
      }
      byLogicalId = new Map([...paths].filter(([, list]) => list.length === 1).map(([id, [only]]) => [id, only]));
    }
    return byLogicalId.get(logicalId);
  };
}

function readAssetManifest(directory: string, file: string): AssetIndex {
  const manifest = readJson<AssetManifest>(path.join(directory, file), 'the asset manifest');
  const byObjectKey = new Map<string, AssetSource>();
  for (const asset of Object.values(manifest.files ?? {})) {
    if (!asset.source.path) continue;
    const source: AssetSource = {
      path: path.join(directory, asset.source.path),
      packaging: asset.source.packaging === 'zip' ? 'zip' : 'file',
    };
    for (const destination of Object.values(asset.destinations)) byObjectKey.set(destination.objectKey, source);
  }
  return { byObjectKey };
}

function orderByDependencies(stacks: StackArtifact[]): StackArtifact[] {
  return withDependencies(stacks, stacks);
}

/** `roots` and every stack they depend on, directly or not, each after its dependencies. */
function withDependencies(stacks: readonly StackArtifact[], roots: readonly StackArtifact[]): StackArtifact[] {
  const byId = new Map(stacks.map((s) => [s.artifactId, s]));
  const ordered: StackArtifact[] = [];
  const seen = new Set<string>();
  const visit = (s: StackArtifact) => {
    if (seen.has(s.artifactId)) return;
    seen.add(s.artifactId);
    for (const d of s.dependencies) {
      const dep = byId.get(d);
      if (dep) visit(dep);
    }
    ordered.push(s);
  };
  roots.forEach(visit);
  return ordered;
}

/**
 * The stacks a run covers: the ones named (by stack name, artifact id or
 * display name, as `cdk deploy` takes them) with the stacks they depend on,
 * since their exports resolve the named ones' imports; or, when none is
 * named, `defaultStack`, or the only stack of the assembly. Several stacks and
 * no name is an error listing them: an app's stacks are often alternatives
 * (two deployments of one pipeline) rather than parts of one system.
 */
export function selectStacks(
  stacks: readonly StackArtifact[], names: readonly string[], defaultStack?: string,
): { stacks: StackArtifact[]; lead: StackArtifact } {
  const listing = stacks.map((s) => s.displayName).join(', ');
  const find = (name: string, flag: string) => {
    const found = stacks.find((s) => s.stackName === name || s.artifactId === name || s.displayName === name);
    if (!found) throw new LocalRunError(`${flag} ${name}: the cloud assembly has no such stack; it has ${listing}`);
    return found;
  };
  let chosen: StackArtifact[];
  if (names.length > 0) {
    chosen = names.map((n) => find(n, '--stack'));
  } else if (defaultStack !== undefined) {
    chosen = [find(defaultStack, '--default-stack')];
  } else if (stacks.length === 1) {
    chosen = [stacks[0]];
  } else {
    throw new LocalRunError(`the cloud assembly has ${stacks.length} stacks (${listing}): pick one with --stack NAME (repeatable, to run several together)`);
  }
  const wanted = new Set(withDependencies(stacks, chosen).map((s) => s.artifactId));
  // In dependency order, as the assembly lists them; the first named stack
  // leads: the page and the simulator use its outputs.
  return { stacks: stacks.filter((s) => wanted.has(s.artifactId)), lead: chosen[0] };
}

/**
 * The local files of an asset that the template refers to by its S3 object key
 * (`Code.S3Key`, the last part of a nested stack's `TemplateURL`), or by the
 * `aws:asset:path` metadata that the CDK writes for local tools.
 */
export function findAsset(
  stack: { assets: AssetIndex; directory: string },
  objectKey: string | undefined,
  metadataPath: unknown,
): AssetSource | undefined {
  if (objectKey) {
    const found = stack.assets.byObjectKey.get(objectKey);
    if (found) return found;
  }
  if (typeof metadataPath === 'string') {
    const p = path.join(stack.directory, metadataPath);
    if (existsSync(p)) return { path: p, packaging: statSync(p).isDirectory() ? 'zip' : 'file' };
  }
  return undefined;
}
