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
