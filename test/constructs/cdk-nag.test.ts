/**
 * cdk-nag's AwsSolutions pack over the pipeline, the way a user's app runs it:
 * every finding the library accepts carries its suppression, with the reason,
 * in the template, so that a user's own run reports nothing. This is cdk-nag 2
 * (an aspect that reads template metadata) on our aws-cdk-lib floor; the same
 * apps go through cdk-nag 3 (a validation plugin that reads aws-cdk-lib's
 * acknowledgements) on the newest aws-cdk-lib in test/packages/newest-consumer.sh.
 */
import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { allUserApps, ownWildcardOnArchiverRole } from './nag-user-apps';
import {
  Archiver,
  Ingress,
  IngestProcessor,
  MetricsMode,
  QueryEndpoint,
  SensorIngestPipeline,
  SensorIngestPipelineProps,
} from '../../src';
import { escapeRegex, findingPattern, NagSuppression, suppressNag } from '../../src/private/nag';
import { acknowledgedFindings, FindingCollector, suppressedFindings } from '../examples/template-helpers';

/** AwsSolutions errors and warnings of a stack, as `rule: construct path` lines. */
function findings(stack: Stack): string[] {
  const annotations = Annotations.fromStack(stack);
  return [
    ...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ].map((f) => `${String(f.entry.data).split(': ')[0]} ${f.id}`).sort();
}

/**
 * A fresh user app: a stack, what the user makes in it, and AwsSolutionsChecks
 * over the whole app, reporting as annotations and to a collector.
 */
function userApp(make: (stack: Stack) => void): { stack: Stack; collector: FindingCollector } {
  const app = new App();
  const stack = new Stack(app, 'UserStack', { env: { account: '111111111111', region: 'eu-west-1' } });
  make(stack);
  const collector = new FindingCollector(app);
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true, additionalLoggers: [collector] }));
  app.synth();
  return { stack, collector };
}

describe('cdk-nag AwsSolutions over a user app with the pipeline', () => {
  test.each(allUserApps)('%s: no error and no warning; for cdk-nag 3, an acknowledgement of exactly each finding suppressed', (_name, make) => {
    const { stack, collector } = userApp(make);
    expect(findings(stack)).toEqual([]);
    // The rules are the same code in cdk-nag 2 and 3, so a finding has the
    // same id in both: cdk-nag 3 must find each suppressed one acknowledged,
    // with the same reason, and no other finding.
    expect(collector.suppressed.length).toBeGreaterThan(0);
    expect(acknowledgedFindings(stack.node.root)).toEqual(suppressedFindings(collector));
  });

  test('a wildcard of the user\'s own on the archiver\'s role stays reported, and is not acknowledged for cdk-nag 3', () => {
    const { stack, collector } = userApp(ownWildcardOnArchiverRole);
    const policy = 'UserStack/Pipeline/Archiver/FunctionRole/DefaultPolicy/Resource';
    const own = [
      'AwsSolutions-IAM5[Action::s3:GetBucket*]',
      'AwsSolutions-IAM5[Action::s3:GetObject*]',
      'AwsSolutions-IAM5[Action::s3:List*]',
      'AwsSolutions-IAM5[Resource::<PipelineArchiverBucket29C417E9.Arn>/*]',
    ];
    expect(collector.open.filter((f) => f.resource === policy).map((f) => f.rule).sort()).toEqual(own);
    const acknowledged = acknowledgedFindings(stack.node.root).filter((line) => line.startsWith(`${policy} `));
    expect(acknowledged.map((line) => line.split(' ')[1])).toEqual(['AwsSolutions-IAM5[Resource::<PipelineArchiverBucket29C417E9.Arn>/raw/*]']);
  });

  test('the new parts carry exactly the suppressions they need: the delivery stream\'s encryption, its prefixes, an unauthenticated route when asked', () => {
    const suppressed = (props: (stack: Stack) => SensorIngestPipelineProps) => {
      const { stack } = userApp((s) => {
        new SensorIngestPipeline(s, 'Pipeline', props(s));
      });
      return stack.node.findAll().flatMap((c) => {
        const resource = c as unknown as { cfnResourceType?: string; getMetadata?: (key: string) => any };
        const rules = resource.cfnResourceType ? resource.getMetadata?.('cdk_nag')?.rules_to_suppress ?? [] : [];
        return rules.map((r: { id: string; applies_to?: unknown[] }) => `${c.node.path.replace('UserStack/Pipeline/', '')} ${r.id} ${JSON.stringify(r.applies_to ?? [])}`);
      }).sort();
    };
    expect(suppressed(() => ({
      archiver: Archiver.firehose({ prefix: 'iot/', errorOutputPrefix: 'iot-errors/' }),
      ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
      queryEndpoint: QueryEndpoint.httpApi(),
    })).filter((line) => !/^(Processor|Archiver\/AccessLogsBucket)\//.test(line))).toEqual([
      `Archiver/DeliveryRole/DefaultPolicy/Resource AwsSolutions-IAM5 ${JSON.stringify([{ regex: String.raw`/^Resource::.*/iot\/\*$/` }, { regex: String.raw`/^Resource::.*/iot-errors\/\*$/` }])}`,
      'Archiver/DeliveryStream/Resource AwsSolutions-KDF1 []',
      'QueryFunction/Resource AwsSolutions-L1 []',
    ]);
    expect(suppressed(() => ({ archiver: Archiver.none(), queryEndpoint: QueryEndpoint.httpApi({ allowUnauthenticated: true }) }))
      .filter((line) => line.startsWith('QueryEndpoint/'))).toEqual([
      'QueryEndpoint/HttpApi/GET--readings/Resource AwsSolutions-APIG4 []',
      'QueryEndpoint/HttpApi/POST--readings/Resource AwsSolutions-APIG4 []',
    ]);
  });

  test('every suppression the pipeline writes has a reason a reviewer can read', () => {
    const { stack } = userApp((s) => {
      new SensorIngestPipeline(s, 'Pipeline', {
        encryptionKey: new kms.Key(s, 'Key', { enableKeyRotation: true }),
        processor: IngestProcessor.dynamoDb({ metricsMode: MetricsMode.PUT_METRIC_DATA }),
        archiver: Archiver.firehose({ parquet: {} }),
        queryEndpoint: QueryEndpoint.httpApi({ allowUnauthenticated: true }),
      });
    });
    const resources = Object.values(stack.node.root.node.findAll()).flatMap((c) => {
      const metadata = (c as { getMetadata?: (key: string) => any }).getMetadata?.('cdk_nag');
      return metadata ? metadata.rules_to_suppress : [];
    }) as Array<{ id: string; reason: string }>;
    expect(resources.length).toBeGreaterThan(5);
    for (const rule of resources) {
      expect(rule.id).toMatch(/^AwsSolutions-[A-Z]+\d+$/);
      expect(rule.reason.length).toBeGreaterThan(40);
    }
  });
});

describe('suppressNag carries each suppression to both majors', () => {
  /** A role of the user's with a policy of wildcards, half of them suppressed by `suppressions`. */
  function wildcards(suppressions: NagSuppression[]): { stack: Stack; collector: FindingCollector } {
    return userApp((s) => {
      const bucket = s3.Bucket.fromBucketName(s, 'Imported', 'imported-bucket');
      const role = new iam.Role(s, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
      role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:Get*', 's3:PutObject'], resources: [bucket.arnForObjects('in/*'), bucket.arnForObjects('out/*')] }));
      suppressNag(role.node.findChild('DefaultPolicy'), suppressions);
    });
  }
  const reason = 'the reason a reviewer reads, long enough for cdk-nag';

  test('a rule suppressed whole: every finding of it, each acknowledged by its id', () => {
    const { stack, collector } = wildcards([{ id: 'AwsSolutions-IAM5', reason }]);
    expect(collector.open).toEqual([]);
    expect(collector.suppressed.map((f) => f.rule).sort()).toEqual([
      'AwsSolutions-IAM5[Action::s3:Get*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::imported-bucket/in/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::imported-bucket/out/*]',
    ]);
    expect(acknowledgedFindings(stack.node.root)).toEqual(suppressedFindings(collector));
  });

  test('findings named exactly and by pattern: those alone, under both majors', () => {
    const { stack, collector } = wildcards([{
      id: 'AwsSolutions-IAM5', reason, appliesTo: ['Action::s3:Get*', findingPattern(`^Resource::.*/${escapeRegex('in/')}\\*$`)],
    }]);
    expect(collector.open.map((f) => f.rule)).toEqual(['AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::imported-bucket/out/*]']);
    expect(acknowledgedFindings(stack.node.root).map((line) => line.split(' ')[1])).toEqual([
      'AwsSolutions-IAM5[Action::s3:Get*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::imported-bucket/in/*]',
    ]);
    expect(acknowledgedFindings(stack.node.root)).toEqual(suppressedFindings(collector));
  });

  test('a pattern for a rule whose findings it cannot list is refused, naming the resource and the rule', () => {
    expect(() => wildcards([{ id: 'AwsSolutions-IAM4', reason, appliesTo: [findingPattern('^Policy::.*$')] }]))
      .toThrow(/UserStack\/Role\/DefaultPolicy\/Resource: a pattern of findings .* AwsSolutions-IAM5 only; name the findings of AwsSolutions-IAM4 exactly/);
  });
});
