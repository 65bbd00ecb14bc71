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
  /** The local run's gateway, where HTTP APIs and Function URLs are served. */
  readonly gatewayEndpoint: string;
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

/** An id in the shape AWS gives one (lower-case letters and digits), the same on every run. */
export function shortId(seed: string, length: number): string {
  const digest = createHash('sha256').update(seed).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[digest[i % digest.length] % alphabet.length];
  return out;
}

/** An HTTP API's id: the host name's first label in AWS, the path's second part locally. */
export const httpApiId = (p: { stackName: string; logicalId: string }) => shortId(`api/${p.stackName}/${p.logicalId}`, 10);
/** A Function URL's id (32 characters in AWS). */
export const functionUrlId = (p: { stackName: string; logicalId: string }) => shortId(`url/${p.stackName}/${p.logicalId}`, 32);

/** A resource of an HTTP API (route, integration, authorizer): Ref gives its id. */
function apiChild(type: string, idAttribute: string, length: number): TypeInfo {
  return {
    nameRules: { maxLength: 64 },
    ref: (p) => shortId(`${type}/${p.stackName}/${p.logicalId}`, length),
    attribute: (p, a) => (a === idAttribute ? shortId(`${type}/${p.stackName}/${p.logicalId}`, length) : unknownAttribute(type, a)),
  };
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
  'AWS::IoT::TopicRule': {
    nameProperty: 'RuleName',
    // Rule names take letters, digits and underscores only.
    nameRules: { maxLength: 128, underscores: true },
    ref: (p) => p.name,
    attribute: (p, a) => (a === 'Arn' ? arn(p, 'iot', `rule/${p.name}`) : unknownAttribute('AWS::IoT::TopicRule', a)),
  },
  'AWS::ApiGatewayV2::Api': {
    nameRules: { maxLength: 128 },
    ref: (p) => httpApiId(p),
    attribute: (p, a) => {
      switch (a) {
        case 'ApiId': return httpApiId(p);
        // The local URL, so that what reads it reaches the local API.
        case 'ApiEndpoint': return `${p.gatewayEndpoint}/http-apis/${httpApiId(p)}`;
        default: return unknownAttribute('AWS::ApiGatewayV2::Api', a);
      }
    },
  },
  'AWS::ApiGatewayV2::Stage': {
    nameRules: { maxLength: 128 },
    ref: (p) => String(p.property('StageName')),
    attribute: (_p, a) => unknownAttribute('AWS::ApiGatewayV2::Stage', a),
  },
  'AWS::ApiGatewayV2::Route': apiChild('AWS::ApiGatewayV2::Route', 'RouteId', 7),
  'AWS::ApiGatewayV2::Integration': apiChild('AWS::ApiGatewayV2::Integration', 'IntegrationId', 7),
  'AWS::Lambda::Url': {
    nameRules: { maxLength: 64 },
    ref: (p) => String(p.property('TargetFunctionArn')),
    attribute: (p, a) => {
      switch (a) {
        case 'FunctionArn': return p.property('TargetFunctionArn');
        case 'FunctionUrl': return `${p.gatewayEndpoint}/function-urls/${functionUrlId(p)}/`;
        default: return unknownAttribute('AWS::Lambda::Url', a);
      }
    },
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
 * Refs and attributes of types that do not run locally but whose values have
 * a shape worth keeping (a name the template sets, an id), so that outputs
 * and environments read as they would in AWS.
 */
export const SHAPED_TYPES: Record<string, TypeInfo> = {
  'AWS::KinesisFirehose::DeliveryStream': {
    nameProperty: 'DeliveryStreamName',
    nameRules: { maxLength: 64 },
    ref: (p) => p.name,
    attribute: (p, a) => (a === 'Arn' ? arn(p, 'firehose', `deliverystream/${p.name}`) : unknownAttribute('AWS::KinesisFirehose::DeliveryStream', a)),
  },
  'AWS::Glue::Database': {
    nameRules: { maxLength: 255 },
    ref: (p) => String((p.property('DatabaseInput') as { Name?: string } | undefined)?.Name ?? p.name.toLowerCase()),
    attribute: (_p, a) => unknownAttribute('AWS::Glue::Database', a),
  },
  'AWS::Glue::Table': {
    nameRules: { maxLength: 255 },
    ref: (p) => String((p.property('TableInput') as { Name?: string } | undefined)?.Name ?? p.name.toLowerCase()),
    attribute: (_p, a) => unknownAttribute('AWS::Glue::Table', a),
  },
  'AWS::ApiGatewayV2::Authorizer': apiChild('AWS::ApiGatewayV2::Authorizer', 'AuthorizerId', 6),
};

/**
 * Types that do their work at run time but have no local emulation. The run
 * accepts them, lists each at start-up with what does not happen, and goes
 * on: the rest of the pipeline runs without them.
 */
export const NOT_EMULATED: Record<string, string> = {
  'AWS::KinesisFirehose::DeliveryStream': 'Amazon Data Firehose is not emulated: it reads nothing and delivers nothing, so the bucket it writes to stays empty',
  'AWS::Glue::Database': 'the Glue Data Catalog is not emulated (and there is no Athena to query it)',
  'AWS::Glue::Table': 'the Glue Data Catalog is not emulated (and there is no Athena to query it)',
  'AWS::ApiGatewayV2::DomainName': 'custom domain names are not served: use the API\'s local URL',
  'AWS::ApiGatewayV2::ApiMapping': 'custom domain names are not served: use the API\'s local URL',
};

/**
 * Resource types that matter only at deploy time: permissions, keys, logs,
 * alarms, identities, secrets and custom resources. The local run lists them
 * once at start-up as "not run locally" and otherwise ignores them.
 */
const IGNORED_PREFIXES = [
  'AWS::IAM::', 'AWS::KMS::', 'AWS::Logs::', 'AWS::CloudWatch::', 'AWS::Cognito::', 'AWS::SecretsManager::',
  'AWS::ApplicationAutoScaling::', 'Custom::',
];
/** Identities, authorization and deployment bookkeeping of IoT Core and API Gateway: not checked locally. */
const IGNORED_IOT_AND_API = [
  'AWS::IoT::Policy', 'AWS::IoT::PolicyPrincipalAttachment', 'AWS::IoT::Thing', 'AWS::IoT::ThingPrincipalAttachment', 'AWS::IoT::Certificate',
  'AWS::IoT::ThingType', 'AWS::IoT::RoleAlias', 'AWS::ApiGatewayV2::Authorizer', 'AWS::ApiGatewayV2::Deployment',
];
const IGNORED_TYPES = new Set([
  'AWS::S3::BucketPolicy', 'AWS::SQS::QueuePolicy', 'AWS::SQS::QueueInlinePolicy', 'AWS::SNS::TopicPolicy',
  'AWS::Lambda::Permission', 'AWS::Lambda::EventInvokeConfig', 'AWS::CDK::Metadata',
  'AWS::CloudFormation::CustomResource', 'AWS::CloudFormation::WaitCondition', 'AWS::CloudFormation::WaitConditionHandle',
  ...IGNORED_IOT_AND_API,
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
