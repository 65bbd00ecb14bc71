import { awscdk, javascript } from 'projen';
// The handler names and the runtime come from the contract the constructs and
// the handlers share, so that the bundles' esbuild target always matches the
// runtime the functions are deployed on.
import { addLocalPackage } from './projenrc/local-package';
import { esbuildTarget, HANDLER_NAMES, HANDLER_RUNTIME } from './src/private/handler-contract';

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-iot-ingest',
  description:
    'AWS CDK constructs for a serverless IoT sensor-data backend: Kinesis ingest, DynamoDB storage, CloudWatch metrics, S3 archive and a query API.',
  author: 'cdk-iot-ingest contributors',
  authorAddress: 'dev@cdk-iot-ingest.invalid',
  repositoryUrl: 'https://github.com/cdk-iot-ingest/cdk-iot-ingest.git',
  license: 'Apache-2.0',
  keywords: ['cdk', 'awscdk', 'iot', 'kinesis', 'dynamodb', 'sensors', 'lambda'],
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  cdkVersion: '2.257.0',
  jsiiVersion: '~6.0.0',
  stability: 'experimental',

  // Not hosted on GitHub: CI is .ci/run.
  github: false,
  release: false,
  buildWorkflow: false,
  depsUpgrade: false,
  pullRequestTemplate: false,

  publishToPypi: {
    distName: 'cdk-iot-ingest',
    module: 'cdk_iot_ingest',
  },
  publishToMaven: {
    javaPackage: 'io.github.cdkiotingest',
    mavenGroupId: 'io.github.cdkiotingest',
    mavenArtifactId: 'cdk-iot-ingest',
  },

  tsconfigDevFile: 'tsconfig.dev.json',
  eslintOptions: {
    dirs: ['src'],
    devdirs: ['test', 'examples', 'bench', 'local', 'docs', 'projenrc', '.projenrc.ts'],
    tsconfigPath: './tsconfig.dev.json',
    projectService: false,
  },
  tsconfigDev: {
    include: ['examples/**/*.ts', 'bench/**/*.ts', '.projenrc.ts', 'projenrc/**/*.ts'],
    exclude: ['examples/cdk.out', 'examples/python', 'examples/java', 'local/lib'],
    compilerOptions: {},
  },

  // Handlers are bundled by the tasks below, with minification, not by
  // projen's *.lambda.ts auto-discovery (which generates a Function subclass
  // per handler and cannot minify).
  lambdaAutoDiscover: false,

  // Compiles the user's JSON Schema at synth to refuse an invalid one with
  // the prop named (src/private/payload-schema.ts); the processor's bundle
  // holds its own copy.
  bundledDeps: ['ajv@^8.17.1'],

  devDeps: [
    // Runtime code of the handlers: bundled into assets/, never loaded by the
    // constructs, so none of these is a dependency of the published package.
    '@aws-sdk/client-dynamodb',
    '@aws-sdk/client-s3',
    '@aws-sdk/client-cloudwatch',
    '@aws-sdk/client-sqs',
    '@aws-lambda-powertools/logger',
    '@types/aws-lambda',
    // Keeps each number's text: the oracle of the processor's search for numbers too small for a double (test/handlers/reading.test.ts).
    'lossless-json',
    // KPL aggregates: AWS's own (de)aggregation of the Kinesis Producer Library's
    // format (src/handlers/kpl.ts; local/src/kpl-aggregate.ts for devices and tests).
    'aws-kinesis-agg',
    'esbuild',
    // Tests, examples and benchmarks.
    '@aws-sdk/client-kinesis',
    '@smithy/node-http-handler',
    'aws-cdk',
    // cdk-nag 2, the aspect, at our floor. cdk-nag 3, a validation plugin,
    // needs the construct tree that aws-cdk-lib gives plugins from 2.262.0
    // on: integ:npm-newest runs it on the newest.
    'cdk-nag@^2.37.55',
    'dynalite',
    'kinesalite',
    's3rver',
    'fast-check',
    // Deploy tests (test/integ/): the runner, and the assertion constructs.
    // integ-tests-alpha is released apart from aws-cdk-lib; its peer range
    // (^2.245.0) covers our aws-cdk-lib floor.
    '@aws-cdk/integ-runner',
    '@aws-cdk/integ-tests-alpha',
    // The local run's test page, bundled for the browser, and its browser tests.
    '@aws-sdk/client-lambda',
    '@aws-sdk/credential-providers',
    'uplot',
    'playwright-core',
    // The local run's IoT Core publish endpoint, tested with the SDK's own client.
    '@aws-sdk/client-iot-data-plane',
    // The browser build of the v2 SDK (dist/aws-sdk.min.js), which the reference's own test page loads.
    'aws-sdk',
    // The local runner package's API docs (local/API.md).
    'typedoc@^0.28.20',
    'typedoc-plugin-markdown@^4.14.1',
  ],

  jestOptions: {
    // Snapshots are written on purpose (npm run test:update), never by a test run.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    jestConfig: {
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/examples/cdk.out/'],
      // The minified bundles are loaded by the integration tests; coverage is of the sources.
      coveragePathIgnorePatterns: ['/node_modules/', '/assets/'],
      coverageProvider: 'v8',
    },
  },

  gitignore: ['cdk.out/', '/assets/', '/local/page/dist/', '/local/page/config.json', 'examples/outputs.json', '.venv/', 'examples/java/target/', '__pycache__/', '.jsii.tabl.json', '.pytest_cache/'],
  npmignoreEnabled: true,
});

// The handlers' compiled sources are not needed at synth time: the bundles in assets/ are.
project.npmignore?.addPatterns('/examples/', '/bench/', '/local/', '/docs/', '/.ci/', 'tsconfig.dev.json', '/lib/handlers/');
// The bundled handlers are part of the package.
project.addPackageIgnore('!/assets/');

// Each handler is bundled by esbuild into assets/handlers/<name>.lambda/index.js
// when the library is built, and those files ship inside the npm tarball (and
// so inside the Python wheel and the Maven jar): nobody needs esbuild, Docker
// or Node.js at synth time.
for (const name of HANDLER_NAMES) {
  project.bundler.addBundle(`src/handlers/${name}.lambda.ts`, {
    platform: 'node',
    target: esbuildTarget(HANDLER_RUNTIME),
    // The AWS SDK is bundled on purpose (docs/handlers.md, "Runtime and bundling decisions").
    externals: [],
    minify: true,
    sourcemap: false,
    watchTask: false,
  });
}

// README and @example code must compile (rosetta/default.ts-fixture), and is
// translated into the Python, Java, C# and Go docs.
project.postCompileTask.exec('jsii-rosetta extract --strict');

// jsii no longer supports Node.js 20 and says so in a 20-line banner from
// every process; the build machine runs 20 (the handlers run on the pinned
// runtime in Lambda).
project.tasks.addEnvironment('JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION', '20');

// Handler code is bundled into assets/: its imports are build-time dependencies.
project.eslint?.addOverride({
  files: ['src/handlers/**/*.ts'],
  rules: { 'import/no-extraneous-dependencies': ['error', { devDependencies: true }] },
});

// The local run's test page: the AWS SDK clients and the chart, bundled for
// the browser (no CDN, no external script). Built output is not committed.
// The credential providers' package maps its browser entry point without the
// file extension, which esbuild does not match: the alias names it.
const pageBuild = project.addTask('page:build', {
  description: 'Bundle the test page of the local run (local/page) for the browser',
  exec: [
    'esbuild local/page/src/main.ts --bundle --minify --format=esm --target=es2020 --platform=browser',
    '--outdir=local/page/dist --log-level=warning',
    '--alias:@aws-sdk/credential-providers=./node_modules/@aws-sdk/credential-providers/dist-es/index.browser.js',
  ].join(' '),
});

// The local runner, a package of its own (local/): compiled, documented and
// packed into dist/local/ with the library's packages.
const localPackage = addLocalPackage(project, pageBuild);

// Tests load the bundled handlers and the example synthesizes them, so both
// need the bundles first; the browser tests need the page.
project.testTask.prependSpawn(project.bundler.bundleTask);
project.testTask.prependSpawn(pageBuild);
// jest transpiles each file alone (isolatedModules): the tests, examples, bench,
// local run and page are type-checked here, in one pass.
project.testTask.spawn(project.addTask('typecheck', {
  description: 'Type-check everything outside src/ (tests, examples, bench, the local run and its page)',
  exec: 'tsc --noEmit -p tsconfig.dev.json',
}));

// `npx projen build` packages for npm, PyPI and Maven everywhere, CI included
// (projen's default packages only the npm tarball when CI is set).
const packageTask = project.tasks.tryFind('package')!;
packageTask.reset();
packageTask.spawn(project.tasks.tryFind('package-all')!);
packageTask.spawn(localPackage.docs);
packageTask.spawn(localPackage.pack);

// After packaging: each package is installed the way its users install it,
// and a CDK app synthesizes the pipeline from it.
const integ = project.addTask('integ', { description: 'Install the built packages as users do and synthesize from them' });
integ.spawn(project.addTask('integ:npm', {
  description: 'A separate CDK app installs the npm tarball and synthesizes a pipeline',
  exec: 'bash test/packages/npm-consumer.sh',
}));
// The runner package as a user gets it: a TypeScript CDK app installs both
// tarballs, runs its own pipeline with the bin and tests it with the API.
integ.spawn(project.addTask('integ:local', {
  description: 'A fresh TypeScript CDK app installs both tarballs, runs its pipeline with npx cdk-iot-ingest-local and tests its own processor with the API',
  exec: 'bash test/packages/local-consumer.sh',
}));
integ.spawn(project.addTask('integ:python', {
  description: 'A fresh virtualenv installs the wheel; a Python CDK app synthesizes the reference deployment; pytest checks it',
  exec: 'bash examples/python/check.sh',
}));
integ.spawn(project.addTask('integ:java', {
  description: 'The jar goes into the local Maven repository; a Java CDK app synthesizes the reference deployment; JUnit checks it',
  exec: 'bash examples/java/check.sh',
}));
// `build` itself is locked by projen; packaging is its last step.
packageTask.spawn(integ);

// The newest aws-cdk-lib, constructs and cdk-nag 3, resolved when the build
// runs (not pinned), so that a change upstream shows here before users meet
// it: the tarball in a user's app on them, cdk-nag 3 over the default
// pipeline, the examples and the cdk-nag test's user apps, and the resource
// census of each compared with our aws-cdk-lib floor's.
integ.spawn(project.addTask('integ:npm-newest', {
  description: 'A CDK app on the newest aws-cdk-lib and cdk-nag 3 installs the npm tarball; cdk-nag 3 finds nothing and the resource census matches the floor',
  exec: 'bash test/packages/newest-consumer.sh',
}));

// Deploy tests (test/integ/integ.*.ts): CDK apps whose assertions
// (integ-tests-alpha) run in the account they are deployed to. Without an
// account, integ-runner synthesizes each app and compares its templates with
// the committed snapshot (test/integ/*.snapshot/), asset hashes aside; the
// build runs that comparison with the tests.
const INTEG_RUNNER = 'integ-runner --directory test/integ --language typescript';
const integSnapshots = project.addTask('integ:snapshots', {
  description: 'Synthesize the deploy tests (test/integ) and compare their templates with the committed snapshots; needs no AWS account',
  steps: [{ spawn: 'bundle' }, {
    // integ-runner's own hint (--update-on-failed) would deploy.
    exec: `${INTEG_RUNNER} || (echo 'Deploy test snapshots differ: npx projen integ:snapshots:update rewrites them (no deploy); npx projen integ:deploy --parallel-regions REGION proves them in an account' >&2; exit 1)`,
  }],
});
project.addTask('integ:snapshots:update', {
  description: 'Rewrite the snapshot of each deploy test whose templates changed, without deploying it (--force: every snapshot)',
  // --dry-run: write the snapshot of a failed comparison instead of deploying.
  // integ-runner compares only the stacks under test; --force also records a
  // change to the assertions alone (and a new timestamp salt in each of them).
  steps: [{ spawn: 'bundle' }, { exec: `${INTEG_RUNNER} --update-on-failed --dry-run`, receiveArgs: true }],
});
project.addTask('integ:deploy', {
  description: 'Deploy every deploy test to the AWS account of the current credentials, run its assertions, destroy it and rewrite its snapshot (pass --parallel-regions REGION)',
  steps: [{ spawn: 'bundle' }, { exec: `${INTEG_RUNNER} --force`, receiveArgs: true }],
});
project.testTask.spawn(integSnapshots);

// cfn-lint (PyPI, in a virtualenv the script makes) over every template worth
// checking: the pipeline in each prop combination that changes its template,
// the example app with its nested stack, and the deploy tests' snapshots.
project.testTask.spawn(project.addTask('lint:cfn', {
  description: 'Synthesize the pipeline variants and the example and run cfn-lint over them and the deploy test snapshots; fails on any error',
  steps: [{ spawn: 'bundle' }, { exec: 'bash test/cfn-lint/run.sh' }],
}));
// The assertion provider's bundle, copied from node_modules into each
// snapshot; the comparison reads templates only. (Added here, after projen's
// own "!/test/", which would drop it.)
project.gitignore.addPatterns('/test/integ/*.snapshot/asset.*');

project.addTask('bench', {
  description: 'Measure API calls, invocations and CPU per reading for 10,000 readings against local servers, then the whole pipeline in a local run',
  steps: [
    { spawn: 'bundle' },
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json bench/bench.ts' },
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json bench/many-readings.ts' },
    { exec: 'npx cdk synth --quiet', cwd: 'examples' },
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json bench/e2e.ts' },
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json bench/no-loss.ts' },
  ],
});

// Records of many readings: readings/s through one processor at 1 to 100
// readings per record, and what a payload schema adds (also part of bench).
project.addTask('bench:many-readings', {
  description: 'Measure readings/s and CPU per record and per reading at 1, 10, 25 and 100 readings per record, and the cost of a payload schema',
  steps: [
    { spawn: 'bundle' },
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json bench/many-readings.ts', receiveArgs: true },
  ],
});

// What each table layout costs per reading (WRU and RRU from DynamoDB's
// ConsumedCapacity), and the table of dollars per million readings in docs/costs.md.
project.addTask('bench:layouts', {
  description: 'Measure write and read units per reading of each table layout, and the cost per million readings by service',
  steps: [
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json bench/table-layouts.ts', receiveArgs: true },
  ],
});

project.addTask('demo', {
  description: 'Synthesize the example app and run it locally with a device simulator and the test page (npm run demo -- --help)',
  steps: [
    { spawn: 'bundle' },
    { spawn: 'page:build' },
    { exec: 'npx cdk synth --quiet', cwd: 'examples' },
    // The example app has two stacks: the reference deployment runs unless --stack names another.
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json local/src/runner/cli.ts --cdk-out examples/cdk.out --default-stack IotBackendReference', receiveArgs: true },
  ],
});

project.addTask('docs:dashboard', {
  description: 'Draw docs/dashboard.svg, the layout of the dashboard a pipeline synthesizes',
  exec: 'ts-node --transpile-only --project tsconfig.dev.json docs/dashboard-picture.ts',
});

project.addTask('docs:limits', {
  description: 'Write docs/limits.md, the table of service limits the handlers validate against',
  exec: 'ts-node --transpile-only --project tsconfig.dev.json docs/limits-table.ts',
});

project.addTask('reference', {
  description: 'Synthesize the full reference deployment (examples/) and print where the template is',
  steps: [
    { spawn: 'bundle' },
    { exec: 'npx cdk synth --quiet', cwd: 'examples' },
    { exec: 'ts-node --transpile-only --project tsconfig.dev.json examples/summary.ts' },
  ],
});

project.synth();
