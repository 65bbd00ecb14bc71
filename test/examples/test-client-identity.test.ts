import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { only } from './template-helpers';
import { TestClientIdentity } from '../../examples/test-client-identity';
import { DeadLetterDestination, IngestProcessor, QueryEndpoint, SensorIngestPipeline, SensorIngestPipelineProps } from '../../src';

function identityFor(props: SensorIngestPipelineProps): Template {
  const stack = new Stack(new App(), 'Identity');
  const pipeline = new SensorIngestPipeline(stack, 'Pipeline', props);
  new TestClientIdentity(stack, 'TestClientIdentityPool', { pipeline });
  return Template.fromStack(stack);
}

function cog7Reason(template: Template): string {
  const [, pool] = only(template, 'AWS::Cognito::IdentityPool');
  const rules = pool.Metadata.cdk_nag.rules_to_suppress;
  expect(rules.map((r: { id: string }) => r.id)).toEqual(['AwsSolutions-COG7']);
  return rules[0].reason;
}

describe('TestClientIdentity', () => {
  test("the COG7 reason names the query permission grantQuery gave: the Lambda API, and the endpoint's when it has one", () => {
    expect(cog7Reason(identityFor({}))).toContain("put records on this pipeline's stream, invoke its query function, read its dead-letter queue");
    expect(cog7Reason(identityFor({ queryEndpoint: QueryEndpoint.httpApi() })))
      .toContain("put records on this pipeline's stream, call its query function and HTTP API, read its dead-letter queue");
    const functionUrl = identityFor({ queryEndpoint: QueryEndpoint.functionUrl() });
    expect(cog7Reason(functionUrl)).toContain("put records on this pipeline's stream, call its query function and Function URL, read its dead-letter queue");
    expect(JSON.stringify(functionUrl.findResources('AWS::IAM::Policy'))).toContain('lambda:InvokeFunctionUrl');
  });

  test('refuses a pipeline without a dead-letter queue, naming the prop', () => {
    const stack = new Stack(new App(), 'Identity');
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', {
      processor: IngestProcessor.dynamoDb({ deadLetterDestination: DeadLetterDestination.bucket(new s3.Bucket(stack, 'DeadLetters')) }),
    });
    expect(() => new TestClientIdentity(stack, 'TestClientIdentityPool', { pipeline }))
      .toThrow(/^TestClientIdentityProps\.pipeline must have a dead-letter queue, which the test page shows; got a pipeline whose processor has another dead-letter destination$/);
  });
});
