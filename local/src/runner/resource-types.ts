/**
 * What the local run knows of each CloudFormation resource type: whether it
 * runs it, how its physical name is made, and what `Ref` and `Fn::GetAtt`
 * return for it. Values follow CloudFormation's documented return values,
 * with local endpoints and names in them.
 */
import { createHash } from 'crypto';
import { NameRules } from './names';

/** What a type's Ref and attributes are computed from. */
export interface PhysicalContext {
  readonly name: string;
  readonly logicalId: string;
  readonly stackName: string;
  readonly region: string;
  readonly account: string;
  readonly partition: string;
  readonly urlSuffix: string;
  /** The queue URL the local SQS endpoint answers for a queue name. */
  queueUrl(queueName: string): string;
  /** A resolved property of the resource. */
  property(name: string): unknown;
}

export interface TypeInfo {
  /** The property that names the resource explicitly, if it has one. */
  readonly nameProperty?: string;
  readonly nameRules: NameRules;
  ref(p: PhysicalContext): string;
  attribute(p: PhysicalContext, attribute: string): unknown;
}

/** A table and a global table answer the same, and a global table has a TableId too. */
function dynamoDbTable(type: string, more: Record<string, (p: PhysicalContext) => string> = {}): TypeInfo {
  return {
    nameProperty: 'TableName',
    nameRules: { maxLength: 255 },
    ref: (p) => p.name,
    attribute: (p, a) => {
      switch (a) {
        case 'Arn': return arn(p, 'dynamodb', `table/${p.name}`);
        case 'StreamArn': return arn(p, 'dynamodb', `table/${p.name}/stream/1970-01-01T00:00:00.000`);
        default: return more[a] ? more[a](p) : unknownAttribute(type, a);
      }
    },
  };
}

const arn = (p: PhysicalContext, service: string, resource: string, region = p.region, account: string = p.account) =>
  `arn:${p.partition}:${service}:${region}:${account}:${resource}`;

function unknownAttribute(type: string, attribute: string): never {
  throw new Error(`${type} has no attribute ${attribute} that the local run knows`);
}

/** Resource types the local run creates or runs. */
export const RUN_TYPES: Record<string, TypeInfo> = {
  'AWS::Kinesis::Stream': {
    nameProperty: 'Name',
    nameRules: { maxLength: 128 },
    ref: (p) => p.name,
    attribute: (p, a) => (a === 'Arn' ? arn(p, 'kinesis', `stream/${p.name}`) : unknownAttribute('AWS::Kinesis::Stream', a)),
  },
  'AWS::Kinesis::StreamConsumer': {
    nameProperty: 'ConsumerName',
    nameRules: { maxLength: 128 },
    ref: (p) => `${String(p.property('StreamARN'))}/consumer/${p.name}:1700000000`,
    attribute: (p, a) => {
      switch (a) {
        case 'ConsumerARN': return `${String(p.property('StreamARN'))}/consumer/${p.name}:1700000000`;
        case 'ConsumerName': return p.name;
        case 'StreamARN': return p.property('StreamARN');
        case 'ConsumerStatus': return 'ACTIVE';
        case 'ConsumerCreationTimestamp': return '1700000000';
        default: return unknownAttribute('AWS::Kinesis::StreamConsumer', a);
      }
    },
  },
  'AWS::DynamoDB::Table': dynamoDbTable('AWS::DynamoDB::Table'),
  'AWS::DynamoDB::GlobalTable': dynamoDbTable('AWS::DynamoDB::GlobalTable', { TableId: (p) => p.name }),
  'AWS::S3::Bucket': {
    nameProperty: 'BucketName',
    nameRules: { maxLength: 63, lowerCase: true },
    ref: (p) => p.name,
    attribute: (p, a) => {
      switch (a) {
        case 'Arn': return `arn:${p.partition}:s3:::${p.name}`;
        case 'DomainName': return `${p.name}.s3.${p.urlSuffix}`;
        case 'RegionalDomainName': return `${p.name}.s3.${p.region}.${p.urlSuffix}`;
        case 'DualStackDomainName': return `${p.name}.s3.dualstack.${p.region}.${p.urlSuffix}`;
        case 'WebsiteURL': return `http://${p.name}.s3-website-${p.region}.${p.urlSuffix}`;
        default: return unknownAttribute('AWS::S3::Bucket', a);
      }
    },
  },
  'AWS::SQS::Queue': {
    nameProperty: 'QueueName',
    nameRules: { maxLength: 80 },
    ref: (p) => p.queueUrl(p.name),
    attribute: (p, a) => {
      switch (a) {
        case 'Arn': return arn(p, 'sqs', p.name);
        case 'QueueName': return p.name;
        case 'QueueUrl': return p.queueUrl(p.name);
        default: return unknownAttribute('AWS::SQS::Queue', a);
      }
    },
  },
  'AWS::Lambda::Function': {
    nameProperty: 'FunctionName',
    nameRules: { maxLength: 64 },
    ref: (p) => p.name,
    attribute: (p, a) => (a === 'Arn' ? arn(p, 'lambda', `function:${p.name}`) : unknownAttribute('AWS::Lambda::Function', a)),
  },
  'AWS::Lambda::EventSourceMapping': {
    nameRules: { maxLength: 64 },
    ref: (p) => mappingUuid(p.name),
    attribute: (p, a) => {
      switch (a) {
        case 'Id': return mappingUuid(p.name);
        case 'EventSourceMappingArn': return arn(p, 'lambda', `event-source-mapping:${mappingUuid(p.name)}`);
        default: return unknownAttribute('AWS::Lambda::EventSourceMapping', a);
      }
    },
  },
};

/** A UUID-shaped id made from the mapping's physical name, stable across runs. */
function mappingUuid(name: string): string {
  const d = createHash('sha256').update(name).digest('hex');
  return `${d.slice(0, 8)}-${d.slice(8, 12)}-${d.slice(12, 16)}-${d.slice(16, 20)}-${d.slice(20, 32)}`;
}

/**
 * Resource types that matter only at deploy time: permissions, keys, logs,
 * alarms, identities, secrets and custom resources. The local run lists them
 * once at start-up as "not run locally" and otherwise ignores them.
 */
const IGNORED_PREFIXES = [
  'AWS::IAM::', 'AWS::KMS::', 'AWS::Logs::', 'AWS::CloudWatch::', 'AWS::Cognito::', 'AWS::SecretsManager::',
  'AWS::ApplicationAutoScaling::', 'Custom::',
];
const IGNORED_TYPES = new Set([
  'AWS::S3::BucketPolicy', 'AWS::SQS::QueuePolicy', 'AWS::SQS::QueueInlinePolicy', 'AWS::SNS::TopicPolicy',
  'AWS::Lambda::Permission', 'AWS::Lambda::EventInvokeConfig', 'AWS::Lambda::Url', 'AWS::CDK::Metadata',
  'AWS::CloudFormation::CustomResource', 'AWS::CloudFormation::WaitCondition', 'AWS::CloudFormation::WaitConditionHandle',
]);

export function isDeployTimeOnly(type: string): boolean {
  return IGNORED_TYPES.has(type) || IGNORED_PREFIXES.some((p) => type.startsWith(p));
}

export function isCustomResource(type: string): boolean {
  return type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';
}

/**
 * Ref and attributes of a resource that does not run locally: the values have
 * CloudFormation's shape (a name, an ARN for `*Arn` attributes) so that
 * templates resolve, but nothing exists behind them.
 */
export const PLACEHOLDER_TYPE: TypeInfo = {
  nameRules: { maxLength: 64 },
  ref: (p) => p.name,
  attribute: (p, a) => {
    if (/arn$/i.test(a)) {
      const service = p.property('__type') as string;
      const [, svc = 'unknown', kind = 'resource'] = service.split('::');
      const global = svc === 'IAM';
      return arn(p, svc.toLowerCase(), `${kind.toLowerCase()}/${p.name}`, global ? '' : p.region);
    }
    return p.name;
  },
};
