/**
 * The local runner as a package of its own, `cdk-iot-ingest-local`, from
 * local/: a Node.js package (not jsii), compiled with the root's TypeScript
 * and node_modules (one `npm ci`, one `npx projen build`), packed into
 * dist/local/. The construct library does not depend on it.
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { JsonFile, Project, Task } from 'projen';

export const LOCAL_PACKAGE_NAME = 'cdk-iot-ingest-local';

/** What the runner loads at run time: each ships as a dependency, at the version the repository tests. */
const RUNTIME_DEPENDENCIES = [
  '@aws-sdk/client-cloudwatch',
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/client-kinesis',
  '@aws-sdk/client-s3',
  '@smithy/node-http-handler',
  'aws-kinesis-agg',
  'dynalite',
  'kinesalite',
  's3rver',
  // Types of the Lambda events in the declarations.
  '@types/aws-lambda',
].sort();

function installedVersion(root: string, name: string): string {
  return JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
}

export interface LocalPackageTasks {
  readonly compile: Task;
  readonly pack: Task;
  readonly docs: Task;
}

export function addLocalPackage(project: Project, pageBuild: Task): LocalPackageTasks {
  new JsonFile(project, 'local/package.json', {
    obj: {
      name: LOCAL_PACKAGE_NAME,
      version: '0.1.0',
      description: 'Runs a synthesized cdk-iot-ingest app (cdk.out) on your machine: local DynamoDB, Kinesis, S3, SQS and CloudWatch, its Lambda functions in Node.js processes, a device simulator and a test page; an API for tests. No AWS account, no Docker.',
      license: 'Apache-2.0',
      author: { name: 'cdk-iot-ingest contributors', email: 'dev@cdk-iot-ingest.invalid', organization: false },
      repository: { type: 'git', url: 'https://github.com/cdk-iot-ingest/cdk-iot-ingest.git', directory: 'local' },
      keywords: ['cdk', 'awscdk', 'iot', 'kinesis', 'dynamodb', 'local', 'testing', 'lambda'],
      engines: { node: '>= 18.0.0' },
      main: 'lib/api.js',
      types: 'lib/api.d.ts',
      bin: { [LOCAL_PACKAGE_NAME]: 'bin/cdk-iot-ingest-local.js' },
      files: ['lib/**/*.js', 'lib/**/*.d.ts', 'bin/', 'page/index.html', 'page/dist/', 'API.md', 'CHANGELOG.md'],
      dependencies: Object.fromEntries(RUNTIME_DEPENDENCIES.map((d) => [d, `^${installedVersion(project.outdir, d)}`])),
    },
    marker: true,
  });

  new JsonFile(project, 'local/tsconfig.json', {
    obj: {
      compilerOptions: {
        target: 'ES2020',
        module: 'commonjs',
        lib: ['es2022'],
        types: ['node'],
        declaration: true,
        strict: true,
        esModuleInterop: true,
        skipLibCheck: true,
        resolveJsonModule: true,
        rootDir: 'src',
        outDir: 'lib',
        stripInternal: true,
      },
      // The API, the bin and the function bootstrap, with what they import:
      // the test kit in src/ (servers, fault proxy, crafted records) stays out.
      files: ['src/api.ts', 'src/bin.ts', 'src/runner/lambda-bootstrap.ts'],
    },
    marker: true,
  });

  project.gitignore.addPatterns('/local/lib/', '/local/*.tgz');

  // Imports in local/ are checked against local/package.json: what the
  // runner imports must ship as its dependency. The page is bundled for the
  // browser at build time, and the test kit (crafted records for the
  // integration tests) is not shipped: both use the root's packages.
  const eslint = (project as unknown as { eslint?: { addOverride(o: Record<string, unknown>): void } }).eslint;
  eslint?.addOverride({
    files: ['local/page/**/*.ts', 'local/src/crafted-records.ts'],
    rules: { 'import/no-extraneous-dependencies': ['error', { devDependencies: true, packageDir: '.' }] },
  });

  const compile = project.addTask('local:compile', {
    description: 'Compile the local runner package (local/) into local/lib',
    steps: [{ exec: 'rm -rf local/lib' }, { exec: 'tsc -p local/tsconfig.json' }],
  });
  const docs = project.addTask('local:docs', {
    description: 'Write local/API.md, the API of the local runner package, from its sources',
    exec: [
      'typedoc --plugin typedoc-plugin-markdown --tsconfig local/tsconfig.json --entryPoints local/src/api.ts',
      '--out local/.api-docs --router module --outputFileStrategy modules --hidePageHeader --hideBreadcrumbs --disableSources --readme none --logLevel Warn',
      '&& mv local/.api-docs/api.md local/API.md 2>/dev/null || mv local/.api-docs/README.md local/API.md; rm -rf local/.api-docs',
    ].join(' '),
  });
  const pack = project.addTask('local:package', {
    description: 'Pack the local runner package into dist/local',
    steps: [
      { spawn: compile.name },
      { spawn: pageBuild.name },
      { exec: 'rm -rf dist/local && mkdir -p dist/local && npm pack ./local --pack-destination dist/local --loglevel=warn' },
    ],
  });
  return { compile, pack, docs };
}
