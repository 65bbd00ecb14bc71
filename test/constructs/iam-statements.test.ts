/**
 * Every IAM statement the pipeline writes (role policies and resource
 * policies: actions, resources, conditions), for the defaults and for each
 * option that changes them, as reviewed. A statement nobody reviewed fails
 * the test: look at the diff, and update the snapshot (`npm run test:update`)
 * only once the new statement is right.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { newStack } from './util';
import {
  ArchiveAccessLogs, Archiver, DeadLetterDestination, Ingress, IngestProcessor, MetricsMode, QueryEndpoint, SensorIngestPipeline,
} from '../../src';

/** A logical id without its hash: the construct path, readable. */
const readable = (id: string) => id.replace(/[0-9A-F]{8}$/, '');

/** A value of a policy with references shown as `<LogicalId.Attribute>`. */
function show(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(show).join(', ');
  const v = value as Record<string, any>;
  if (v.Ref) return `<${readable(v.Ref)}>`;
  if (v['Fn::GetAtt']) return `<${readable(v['Fn::GetAtt'][0])}.${v['Fn::GetAtt'][1]}>`;
  if (v['Fn::Join']) return v['Fn::Join'][1].map(show).join(v['Fn::Join'][0]);
  return JSON.stringify(value);
}

function statementLines(owner: string, document: { Statement: any[] }): string[] {
  return document.Statement.map((s) => [
    `${owner}: ${s.Effect} ${[s.Action].flat().sort().join(', ')}`,
    s.Principal ? ` by ${show(Object.values(s.Principal).flat())}` : '',
    s.Resource ? ` on ${[s.Resource].flat().map(show).sort().join(', ')}` : '',
    s.Condition ? ` if ${Object.entries(s.Condition).map(([op, c]) => `${op} ${Object.entries(c as object).map(([k, val]) => `${k}=${show(val)}`).join(', ')}`).join('; ')}` : '',
  ].join(''));
}

/** Every statement of the template's role policies and resource policies, one line each, sorted. */
function statements(stack: Stack): string[] {
  const template = Template.fromStack(stack);
  const lines: string[] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const owners = [...(policy.Properties.Roles ?? []), ...(policy.Properties.Users ?? [])].map(show).join(', ');
    lines.push(...statementLines(owners, policy.Properties.PolicyDocument));
  }
  for (const role of Object.entries(template.findResources('AWS::IAM::Role'))) {
    const [id, resource] = role;
    lines.push(...statementLines(`<${readable(id)}> may be assumed`, resource.Properties.AssumeRolePolicyDocument));
    for (const managed of resource.Properties.ManagedPolicyArns ?? []) lines.push(`<${readable(id)}>: managed policy ${show(managed)}`);
  }
  for (const [type, prop, target] of [['AWS::S3::BucketPolicy', 'PolicyDocument', 'Bucket'], ['AWS::SQS::QueuePolicy', 'PolicyDocument', 'Queues']] as const) {
    for (const policy of Object.values(template.findResources(type))) {
      lines.push(...statementLines(`${type.split('::')[1]} policy of ${show(policy.Properties[target])}`, policy.Properties[prop]));
    }
  }
  for (const permission of Object.values(template.findResources('AWS::Lambda::Permission'))) {
    const p = permission.Properties;
    lines.push([
      `Lambda permission: ${p.Action} by ${show(p.Principal)} on ${show(p.FunctionName)}`,
      p.SourceArn ? ` from ${show(p.SourceArn)}` : '',
      p.FunctionUrlAuthType ? ` if FunctionUrlAuthType=${p.FunctionUrlAuthType}` : '',
      p.InvokedViaFunctionUrl ? ' if InvokedViaFunctionUrl' : '',
    ].join(''));
  }
  return lines.sort();
}

function pipelineStatements(make: (stack: Stack) => void): string[] {
  const stack = newStack();
  make(stack);
  return statements(stack);
}

describe('the IAM statements of the pipeline, as reviewed', () => {
  test('defaults', () => {
    expect(pipelineStatements((s) => new SensorIngestPipeline(s, 'Pipeline'))).toMatchSnapshot();
  });

  test('PutMetricData, and dead letters to a bucket', () => {
    expect(pipelineStatements((s) => new SensorIngestPipeline(s, 'Pipeline', {
      processor: IngestProcessor.dynamoDb({
        metricsMode: MetricsMode.PUT_METRIC_DATA,
        deadLetterDestination: DeadLetterDestination.bucket(new s3.Bucket(s, 'Rejects'), 'bad/'),
      }),
    }))).toMatchSnapshot();
  });

  test('a customer-managed key, destroy with auto-delete, access logs to a bucket of your own', () => {
    expect(pipelineStatements((s) => new SensorIngestPipeline(s, 'Pipeline', {
      encryptionKey: new kms.Key(s, 'Key'),
      removalPolicy: RemovalPolicy.DESTROY,
      archiver: Archiver.s3({ autoDeleteObjects: true, accessLogs: ArchiveAccessLogs.toBucket(new s3.Bucket(s, 'Audit')) }),
    }))).toMatchSnapshot();
  });

  test('a function of your own, one more processor, no archive', () => {
    expect(pipelineStatements((s) => {
      const fn = new lambda.Function(s, 'Mine', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
      const pipeline = new SensorIngestPipeline(s, 'Pipeline', { processor: IngestProcessor.fromFunction(fn), archiver: Archiver.none() });
      pipeline.addProcessor('Hot', IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE }));
    })).toMatchSnapshot();
  });

  test('an IoT topic rule ingress, with a customer-managed key: its put role and its error-log role', () => {
    expect(pipelineStatements((s) => new SensorIngestPipeline(s, 'Pipeline', {
      encryptionKey: new kms.Key(s, 'Key'),
      archiver: Archiver.none(),
      ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
    })).filter((line) => /Ingress/.test(line))).toMatchSnapshot();
  });

  test('the Firehose archiver, gzip JSON lines, and with a key, Parquet and a Glue table', () => {
    expect(pipelineStatements((s) => new SensorIngestPipeline(s, 'Pipeline', { archiver: Archiver.firehose() }))
      .filter((line) => /Archiver/.test(line))).toMatchSnapshot();
    expect(pipelineStatements((s) => new SensorIngestPipeline(s, 'Pipeline', {
      encryptionKey: new kms.Key(s, 'Key'),
      archiver: Archiver.firehose({ parquet: {}, partitionBySensor: true }),
    })).filter((line) => /Archiver/.test(line))).toMatchSnapshot();
  });

  test('enhanced fan-out: each consumer reads through a stream consumer of its own', () => {
    expect(pipelineStatements((s) => {
      const fn = new lambda.Function(s, 'Mine', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = async () => ({})') });
      const pipeline = new SensorIngestPipeline(s, 'Pipeline', {
        encryptionKey: new kms.Key(s, 'Key'),
        processor: IngestProcessor.dynamoDb({ enhancedFanOut: true }),
        archiver: Archiver.s3({ enhancedFanOut: true }),
      });
      pipeline.addProcessor('Mine', IngestProcessor.fromFunction(fn, { enhancedFanOut: true, grantTableAccess: false }));
    }).filter((line) => /kinesis:|Mine/.test(line))).toMatchSnapshot();
  });

  test('the query endpoints: a Function URL, an IAM-authorized HTTP API, a JWT-authorized one; grantQuery on each', () => {
    for (const queryEndpoint of [
      QueryEndpoint.functionUrl(),
      QueryEndpoint.httpApi(),
      QueryEndpoint.httpApi({ authorizer: new HttpJwtAuthorizer('Jwt', 'https://issuer.example.com', { jwtAudience: ['sensors'] }) }),
    ]) {
      expect(pipelineStatements((s) => {
        const pipeline = new SensorIngestPipeline(s, 'Pipeline', { archiver: Archiver.none(), queryEndpoint });
        pipeline.grantQuery(new iam.Role(s, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
      }).filter((line) => /Reader|Lambda permission/.test(line))).toMatchSnapshot();
    }
  });

  test('the grants: put records, query, read data', () => {
    expect(pipelineStatements((s) => {
      const pipeline = new SensorIngestPipeline(s, 'Pipeline', { archiver: Archiver.none(), alarms: { enabled: false } });
      pipeline.grantPutRecords(new iam.Role(s, 'Device', { assumedBy: new iam.ServicePrincipal('iot.amazonaws.com') }));
      pipeline.grantQuery(new iam.Role(s, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
      pipeline.grantReadData(new iam.Role(s, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() }));
    }).filter((line) => /Device|Reader|Analyst/.test(line))).toMatchSnapshot();
  });
});
