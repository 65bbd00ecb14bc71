import * as fs from 'fs';
import * as path from 'path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { emptyOnDelete } from './pipeline-assertions';

/** The templates of the stacks under test in each committed deploy-test snapshot (nested stacks included). */
function stacksUnderTest(): Array<[string, any]> {
  const out: Array<[string, any]> = [];
  for (const dir of fs.readdirSync(__dirname).filter((d) => d.endsWith('.snapshot'))) {
    const full = path.join(__dirname, dir);
    const integ = JSON.parse(fs.readFileSync(path.join(full, 'integ.json'), 'utf8'));
    const stacks = Object.values<any>(integ.testCases).flatMap((c) => c.stacks as string[]);
    for (const file of fs.readdirSync(full).filter((f) => f.endsWith('.template.json'))) {
      if (stacks.some((s) => file === `${s}.template.json` || (file.startsWith(s) && file.endsWith('.nested.template.json')))) {
        out.push([`${dir}/${file}`, JSON.parse(fs.readFileSync(path.join(full, file), 'utf8'))]);
      }
    }
  }
  return out;
}

describe('deploy tests leave nothing behind in the account', () => {
  const templates = stacksUnderTest();

  test('both apps have a snapshot, the example with its nested stack', () => {
    expect(templates.map(([name]) => name).sort()).toEqual([
      'integ.pipeline.ts.snapshot/IotIngestIntegDefaultPipeline.template.json',
      'integ.reference-deployment.ts.snapshot/IotIngestIntegReference.template.json',
      expect.stringMatching(/^integ\.reference-deployment\.ts\.snapshot\/IotIngestIntegReferenceConfigHelperStack.*\.nested\.template\.json$/),
    ]);
  });

  test.each(templates)('%s: every resource is deleted with its stack', (_name, template) => {
    const kept = Object.entries<any>(template.Resources)
      .filter(([, r]) => r.DeletionPolicy !== undefined && r.DeletionPolicy !== 'Delete')
      .map(([id, r]) => `${id} (${r.Type}): ${r.DeletionPolicy}`);
    expect(kept).toEqual([]);
  });

  test.each(templates)('%s: every bucket is emptied before it is deleted', (_name, template) => {
    const resources = Object.values<any>(template.Resources);
    const buckets = Object.keys(template.Resources).filter((id) => template.Resources[id].Type === 'AWS::S3::Bucket');
    const emptied = resources
      .filter((r) => r.Type === 'Custom::S3AutoDeleteObjects')
      .map((r) => r.Properties.BucketName.Ref);
    expect(emptied.sort()).toEqual(buckets.sort());
  });
});

/** The logical ids a resource depends on: DependsOn, Ref, Fn::GetAtt and Fn::Sub's ${...}, pseudo parameters left out. */
function dependenciesOf(resource: any, ids: Set<string>): Set<string> {
  const out = new Set<string>([resource.DependsOn ?? []].flat());
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach(walk);
      return;
    }
    if (!v || typeof v !== 'object') return;
    for (const [k, inner] of Object.entries(v)) {
      if (k === 'Ref' && typeof inner === 'string') {
        out.add(inner);
      } else if (k === 'Fn::GetAtt') {
        out.add(Array.isArray(inner) ? inner[0] : String(inner).split('.')[0]);
      } else if (k === 'Fn::Sub') {
        const text = Array.isArray(inner) ? inner[0] : inner;
        for (const m of String(text).matchAll(/\$\{([^}.!]+)[^}]*\}/g)) out.add(m[1]);
        if (Array.isArray(inner)) walk(inner[1]);
      } else {
        walk(inner);
      }
    }
  };
  walk(resource.Properties);
  return new Set([...out].filter((id) => ids.has(id)));
}

describe('stack deletion takes the archive and its access-log bucket in an order that holds', () => {
  const templates = stacksUnderTest();

  // S3 delivers server access logs late (best effort), so the log bucket must
  // be emptied after the archive, whose emptying is a burst of logged
  // requests, and must refuse what still arrives: the auto-delete handler
  // denies s3:PutObject before it deletes the objects, and with ACLs
  // disabled no grant is left once the bucket policy is deleted.
  const withAccessLogs = templates.filter(([, t]) => Object.values<any>(t.Resources).some((r) => r.Type === 'AWS::S3::Bucket' && r.Properties?.LoggingConfiguration));

  test('both apps\' stacks under test have an archive with access logs', () => {
    expect(withAccessLogs.map(([name]) => name).sort()).toEqual([
      'integ.pipeline.ts.snapshot/IotIngestIntegDefaultPipeline.template.json',
      'integ.reference-deployment.ts.snapshot/IotIngestIntegReference.template.json',
    ]);
  });

  test.each(withAccessLogs)('%s: each archive is emptied before the bucket its access logs go to, which refuses late deliveries', (_name, template) => {
    const resources = template.Resources;
    const ids = new Set(Object.keys(resources));
    const emptyingOf = (bucket: string) => Object.keys(resources)
      .find((id) => resources[id].Type === 'Custom::S3AutoDeleteObjects' && resources[id].Properties.BucketName.Ref === bucket);
    const logged = Object.entries<any>(resources)
      .filter(([, r]) => r.Type === 'AWS::S3::Bucket' && r.Properties?.LoggingConfiguration)
      .map(([id, r]) => [id, r.Properties.LoggingConfiguration.DestinationBucketName.Ref] as const);
    for (const [archive, logs] of logged) {
      const archiveEmptying = emptyingOf(archive);
      const logsEmptying = emptyingOf(logs);
      expect({ archive, archiveEmptying, logsEmptying }).toEqual({ archive, archiveEmptying: expect.any(String), logsEmptying: expect.any(String) });
      // CloudFormation deletes a resource before the resources it depends on.
      expect({ archive, dependsOn: [...dependenciesOf(resources[archiveEmptying!], ids)] })
        .toEqual({ archive, dependsOn: expect.arrayContaining([logsEmptying]) });

      expect(resources[logs].Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
      expect(resources[logs].Properties.AccessControl).toBeUndefined();
      const [policyId, policy] = Object.entries<any>(resources)
        .find(([, r]) => r.Type === 'AWS::S3::BucketPolicy' && r.Properties.Bucket.Ref === logs)!;
      // The handler's deny needs s3:PutBucketPolicy, from the policy it keeps until it is done.
      expect(dependenciesOf(resources[logsEmptying!], ids)).toContain(policyId);
      const handlerRole = resources[logsEmptying!].Properties.ServiceToken['Fn::GetAtt'][0].replace(/Handler[0-9A-F]{8}$/, 'Role');
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(expect.objectContaining({
        Effect: 'Allow',
        Action: expect.arrayContaining(['s3:PutBucketPolicy']),
        Principal: { AWS: { 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${handlerRole}`)), 'Arn'] } },
      }));
    }
  });

  test.each(templates)('%s: the resources\' dependencies have no cycle, which CloudFormation would refuse', (_name, template) => {
    expect(dependencyCycle(template)).toEqual([]);
  });

  test('the cycle check finds one', () => {
    const cyclic = { Resources: { A: { DependsOn: 'B' }, B: { Properties: { X: { 'Fn::GetAtt': ['C', 'Arn'] } } }, C: { Properties: { Y: { 'Fn::Sub': '${A.Arn}/x' } } } } };
    expect(dependencyCycle(cyclic)).toEqual(['A', 'B', 'C', 'A']);
    expect(dependencyCycle({ Resources: { A: { DependsOn: ['B'] }, B: { Properties: { Z: { Ref: 'AWS::Region' } } } } })).toEqual([]);
  });
});

/** A cycle of the template's resource dependencies, as the ids along it; empty when there is none. */
function dependencyCycle(template: any): string[] {
  const ids = new Set(Object.keys(template.Resources));
  const state = new Map<string, 'visiting' | 'done'>();
  const cycle: string[] = [];
  const visit = (id: string, trail: string[]): boolean => {
    if (state.get(id) === 'done') return false;
    if (state.get(id) === 'visiting') {
      cycle.push(...trail.slice(trail.indexOf(id)), id);
      return true;
    }
    state.set(id, 'visiting');
    for (const next of dependenciesOf(template.Resources[id], ids)) if (visit(next, [...trail, id])) return true;
    state.set(id, 'done');
    return false;
  };
  for (const id of ids) if (visit(id, [])) break;
  return cycle;
}

describe('emptyOnDelete', () => {
  function autoDeleteCount(stack: Stack): number {
    return Object.keys(Template.fromStack(stack).findResources('Custom::S3AutoDeleteObjects')).length;
  }

  test('makes the bucket empty itself on delete, once however often it is called', () => {
    const stack = new Stack(new App(), 'S');
    const bucket = new s3.Bucket(stack, 'Bucket', { removalPolicy: RemovalPolicy.DESTROY });
    emptyOnDelete(bucket);
    emptyOnDelete(bucket);
    expect(autoDeleteCount(stack)).toBe(1);
  });

  test('leaves a bucket created with autoDeleteObjects as it is', () => {
    const stack = new Stack(new App(), 'S');
    const bucket = new s3.Bucket(stack, 'Bucket', { removalPolicy: RemovalPolicy.DESTROY, autoDeleteObjects: true });
    emptyOnDelete(bucket);
    expect(autoDeleteCount(stack)).toBe(1);
  });

  test('fails at synth on a bucket that is retained', () => {
    const stack = new Stack(new App(), 'S');
    emptyOnDelete(new s3.Bucket(stack, 'Bucket'));
    expect(() => Template.fromStack(stack)).toThrow(/removal policy to 'DESTROY'/);
  });
});
