/**
 * The app of test/packages/newest-consumer.sh, which transpiles it (with the
 * examples and the cdk-nag test's user apps) and runs it on the packed npm
 * tarball twice:
 *
 * - `floor OUT.json`: on our aws-cdk-lib floor, synthesizes the default
 *   pipeline, the example stacks and every user app of the cdk-nag test, and
 *   writes their resource census (resource types and counts in each template);
 * - `newest FLOOR.json`: on the newest aws-cdk-lib with cdk-nag 3 registered
 *   as users do (`Validations.of(app).addPlugins(new AwsSolutionsChecks(app))`),
 *   synthesizes the same apps, checks that cdk-nag 3 reports nothing on each,
 *   and compares their census with the floor's.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, AppProps, IPolicyValidationPlugin, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { IConstruct } from 'constructs';
import { FullDeploymentStack } from '../../examples/full-stack';
import { ReferenceDeploymentStack } from '../../examples/reference-stack';
import { SensorIngestPipeline } from '../../src';
import { allUserApps } from '../constructs/nag-user-apps';

/** Resource types and their counts, by template file (a nested stack's template is a file of its own). */
type Census = Record<string, Record<string, number>>;

/**
 * Where the newest aws-cdk-lib synthesizes other resources than our floor,
 * as `{ template: 'app / template file', type, floor, newest, why }`, each
 * with the reason; any other difference fails, and so does one of these that
 * is gone (then delete it here). Up to aws-cdk-lib 2.276.0 there is none: all
 * 29 templates hold the same resource types in the same numbers.
 */
const KNOWN_DIFFERENCES: Array<{ template: string; type: string; floor: number; newest: number; why: string }> = [];

/**
 * The apps, each as what it makes in a new app: the default pipeline and the
 * example stacks, as a user synthesizes them; the user apps of the cdk-nag
 * test without aws-cdk-lib's built-in template validation, which takes most
 * of their synthesis time and is cdk-nag's concern here (lint:cfn runs
 * cfn-lint over the pipeline's variants).
 */
const APPS: Array<{ name: string; make: (app: App) => void; builtinValidation: boolean }> = [
  { name: 'the default pipeline', builtinValidation: true, make: (app) => new SensorIngestPipeline(new Stack(app, 'Consumer'), 'Pipeline') },
  {
    name: 'the example stacks',
    builtinValidation: true,
    make: (app) => {
      new ReferenceDeploymentStack(app, 'IotBackendReference');
      new FullDeploymentStack(app, 'IotBackendFull');
    },
  },
  ...allUserApps.map(([name, make]) => ({
    name,
    builtinValidation: false,
    make: (app: App) => make(new Stack(app, 'UserStack', { env: { account: '111111111111', region: 'eu-west-1' } })),
  })),
];

/** The stack of one non-compliant queue that every cdk-nag 3 run must report, proving the plugin ran over that app. */
const CANARY = 'error AwsSolutions-SQS3: Canary/Queue/Resource';

let passed = 0;
let failed = 0;
function check(ok: boolean, what: string, detail?: unknown): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok && detail !== undefined) console.log(`     ${JSON.stringify(detail, undefined, 2).replace(/\n/g, '\n     ')}`);
  if (ok) passed++; else failed++;
}

let apps = 0;
function newApp(context?: Record<string, unknown>, builtinValidation = true): App {
  // A prop of the aws-cdk-lib releases that have the built-in validation; older ones have neither.
  const props: AppProps & { builtinCloudFormationValidation?: boolean } = {
    outdir: path.join('cdk.out', String(apps++)),
    context,
    builtinCloudFormationValidation: builtinValidation,
  };
  return new App(props);
}

function census(outdir: string): Census {
  const result: Census = {};
  for (const file of fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json') && !f.startsWith('Canary.')).sort()) {
    const counts: Record<string, number> = {};
    const template = JSON.parse(fs.readFileSync(path.join(outdir, file), 'utf8'));
    for (const resource of Object.values<{ Type: string }>(template.Resources ?? {})) counts[resource.Type] = (counts[resource.Type] ?? 0) + 1;
    result[file.replace(/\.template\.json$/, '')] = counts;
  }
  return result;
}

/** The violations of each plugin in the app's validation report, as `severity rule: construct path` lines. */
function violations(outdir: string): Record<string, string[]> {
  const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
  const result: Record<string, string[]> = { AwsSolutions: [] };
  for (const plugin of report.pluginReports ?? []) {
    result[plugin.pluginName] = (plugin.violations ?? []).flatMap((v: any) => (v.violatingConstructs ?? v.violatingResources ?? [])
      .map((c: any) => `${v.severity} ${v.ruleName}: ${c.constructPath ?? c.resourceLogicalId}`)).sort();
  }
  return result;
}

/**
 * cdk-nag 3's pack, as its README registers it. The repository's own
 * devDependency is cdk-nag 2, whose constructor takes no scope: this app
 * installs cdk-nag 3 beside the newest aws-cdk-lib.
 */
function awsSolutionsChecks(app: App): IPolicyValidationPlugin {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nag = require('cdk-nag') as { AwsSolutionsChecks: new (scope: IConstruct) => IPolicyValidationPlugin };
  return new nag.AwsSolutionsChecks(app);
}

/** Synthesizes what `make` adds to a new app under cdk-nag 3 and returns the app's output folder. */
function synthWithNag3({ name, make, builtinValidation }: typeof APPS[number]): string {
  // The report is read from the assembly instead of failing the synthesis at the canary.
  const app = newApp({ '@aws-cdk/core:failSynthOnValidationErrors': false }, builtinValidation);
  make(app);
  new sqs.Queue(new Stack(app, 'Canary'), 'Queue', { enforceSSL: true });
  Validations.of(app).addPlugins(awsSolutionsChecks(app));
  app.synth();
  const { AwsSolutions: found, ...others } = violations(app.outdir);
  const ran = found.includes(CANARY);
  check(ran && found.length === 1, `cdk-nag 3: no error and no warning on ${name}`,
    ran ? found.filter((f) => f !== CANARY) : { 'cdk-nag 3 did not report the canary, so it did not run over the app; it found': found });
  // Other plugins: aws-cdk-lib's own template validation, say. Their errors
  // fail; their warnings (best practices, as cfn-lint's that lint:cfn lets
  // pass) are shown.
  for (const [plugin, lines] of Object.entries(others)) {
    const errors = lines.filter((l) => !l.startsWith('warning '));
    if (errors.length > 0) check(false, `${plugin}: no error on ${name}`, errors);
    for (const l of lines.filter((w) => w.startsWith('warning '))) console.log(`     note (${plugin}): ${l}`);
  }
  return app.outdir;
}

function compare(floor: Census, newest: Census): void {
  const differences: Array<{ template: string; type: string; floor: number; newest: number }> = [];
  for (const template of [...new Set([...Object.keys(floor), ...Object.keys(newest)])].sort()) {
    const [f, n] = [floor[template] ?? {}, newest[template] ?? {}];
    for (const type of [...new Set([...Object.keys(f), ...Object.keys(n)])].sort()) {
      if ((f[type] ?? 0) !== (n[type] ?? 0)) differences.push({ template, type, floor: f[type] ?? 0, newest: n[type] ?? 0 });
    }
  }
  const line = (d: { template: string; type: string; floor: number; newest: number }) => `${d.template} ${d.type}: ${d.floor} -> ${d.newest}`;
  const known = new Set(KNOWN_DIFFERENCES.map(line));
  const unexplained = differences.map(line).filter((d) => !known.has(d));
  const gone = [...known].filter((d) => !differences.map(line).includes(d));
  const templates = Object.keys(floor).length;
  const resources = Object.values(floor).reduce((sum, counts) => sum + Object.values(counts).reduce((a, b) => a + b, 0), 0);
  check(templates > 0 && unexplained.length === 0, `census of ${templates} templates (${resources} resources at the floor): no difference but the known ones`, unexplained);
  check(gone.length === 0, 'every known difference is still there', gone);
  for (const d of KNOWN_DIFFERENCES) console.log(`     known: ${line(d)} (${d.why})`);
}

const [mode, file] = process.argv.slice(2);
const started = process.hrtime.bigint();
if (mode === 'floor') {
  const result: Census = {};
  for (const { name, make } of APPS) {
    const app = newApp();
    make(app);
    app.synth();
    for (const [template, counts] of Object.entries(census(app.outdir))) result[`${name} / ${template}`] = counts;
  }
  fs.writeFileSync(file, JSON.stringify(result, undefined, 2));
  console.log(`floor census: ${Object.keys(result).length} templates in ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(0)} ms`);
} else if (mode === 'newest') {
  const newest: Census = {};
  for (const entry of APPS) {
    for (const [template, counts] of Object.entries(census(synthWithNag3(entry)))) newest[`${entry.name} / ${template}`] = counts;
  }
  compare(JSON.parse(fs.readFileSync(file, 'utf8')), newest);
  console.log(`${apps} apps synthesized with cdk-nag 3 in ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(0)} ms`);
  console.log(`newest consumer: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
} else {
  throw new Error(`usage: ${path.basename(process.argv[1])} floor OUT.json | newest FLOOR.json`);
}
