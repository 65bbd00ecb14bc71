import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { logicalId, newStack, synth } from './util';
import { FunctionUrlQueryEndpointProps, HttpApiQueryEndpointProps, QueryEndpoint, SensorIngestPipeline } from '../../src';

const jwt = () => new HttpJwtAuthorizer('Jwt', 'https://issuer.example.com', { jwtAudience: ['sensors'] });

/** The statements of the policies attached to a role. */
function statementsOf(template: Template, roleId: string): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe('no query endpoint by default', () => {
  test('nothing reachable over HTTP: no Function URL, no API, no URL', () => {
    const { template, pipeline } = synth();
    template.resourceCountIs('AWS::Lambda::Url', 0);
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    expect(pipeline.queryUrl).toBeUndefined();
    expect(pipeline.queryEndpointBinding).toEqual({});
  });
});

describe('QueryEndpoint.functionUrl()', () => {
  test('AWS_IAM auth, no CORS, no reserved concurrency by default; its URL on the pipeline', () => {
    const { template, pipeline } = synth({ queryEndpoint: QueryEndpoint.functionUrl() });
    const fn = logicalId(template, 'AWS::Lambda::Function', 'PipelineQueryFunction');
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', TargetFunctionArn: { 'Fn::GetAtt': [fn, 'Arn'] }, Cors: Match.absent() });
    expect(template.toJSON().Resources[fn].Properties.ReservedConcurrentExecutions).toBeUndefined();
    expect(Stack.of(pipeline).resolve(pipeline.queryUrl)).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::Lambda::Url', 'PipelineQueryEndpointFunctionUrl'), 'FunctionUrl'] });
    // No resource policy: only principals granted with grantQuery may call it.
    template.resourceCountIs('AWS::Lambda::Permission', 0);
  });

  test('CORS for a page on another origin, SigV4 headers allowed; reserved concurrency throttles', () => {
    const { template } = synth({
      queryEndpoint: QueryEndpoint.functionUrl({ cors: { allowOrigins: ['http://localhost:3000'] }, reservedConcurrency: 5 }),
    });
    template.hasResourceProperties('AWS::Lambda::Url', {
      Cors: {
        AllowOrigins: ['http://localhost:3000'],
        AllowMethods: ['GET', 'POST'],
        AllowHeaders: ['authorization', 'content-type', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
        MaxAge: 3600,
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: "Returns a sensor's newest readings", ReservedConcurrentExecutions: 5 });
  });

  test('CORS headers and preflight cache of your own', () => {
    const { template } = synth({
      queryEndpoint: QueryEndpoint.functionUrl({ cors: { allowOrigins: ['*'], allowHeaders: ['content-type'], maxAge: Duration.minutes(5) } }),
    });
    template.hasResourceProperties('AWS::Lambda::Url', { Cors: { AllowOrigins: ['*'], AllowHeaders: ['content-type'], MaxAge: 300 } });
  });

  test('unauthenticated only when asked, and then only with reserved concurrency', () => {
    const { template } = synth({ queryEndpoint: QueryEndpoint.functionUrl({ allowUnauthenticated: true, reservedConcurrency: 2 }) });
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE' });
    template.hasResourceProperties('AWS::Lambda::Permission', { Action: 'lambda:InvokeFunctionUrl', Principal: '*', FunctionUrlAuthType: 'NONE' });
  });

  test('grantQuery: the Lambda API and the URL, with IAM auth only', () => {
    const stack = newStack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { queryEndpoint: QueryEndpoint.functionUrl() });
    pipeline.grantQuery(new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
    const template = Template.fromStack(stack);
    const fnArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::Lambda::Function', 'PipelineQueryFunction'), 'Arn'] };
    expect(statementsOf(template, logicalId(template, 'AWS::IAM::Role', 'Reader'))).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: fnArn },
      { Effect: 'Allow', Action: 'lambda:InvokeFunctionUrl', Resource: fnArn, Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } } },
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: fnArn, Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': true } } },
    ]);
  });

  test('an alarm and a dashboard line on the URL\'s 5xx answers', () => {
    const { template } = synth({ dashboard: true, queryEndpoint: QueryEndpoint.functionUrl() });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Url5xxCount',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(template, 'AWS::Lambda::Function', 'PipelineQueryFunction') } }],
      Statistic: 'Sum',
      Threshold: 1,
    });
    expect(JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody)).toContain('query endpoint 5xx');
  });
});

describe('QueryEndpoint.httpApi()', () => {
  const { template, pipeline } = synth({ dashboard: true, queryEndpoint: QueryEndpoint.httpApi({ cors: { allowOrigins: ['https://dashboard.example.com'], maxAge: Duration.minutes(10) } }) });
  const api = logicalId(template, 'AWS::ApiGatewayV2::Api', 'PipelineQueryEndpointHttpApi');

  test('GET and POST /readings, IAM-authorized, to the query function (payload format 2.0)', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(['GET /readings', 'POST /readings']);
    for (const route of routes) expect(route.AuthorizationType).toBe('AWS_IAM');
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [logicalId(template, 'AWS::Lambda::Function', 'PipelineQueryFunction'), 'Arn'] },
    });
  });

  test('the $default stage: auto-deployed, throttled at 50 requests a second with bursts of 100, JSON access logs kept a month', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: api },
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [logicalId(template, 'AWS::Logs::LogGroup', 'PipelineQueryEndpointAccessLogs'), 'Arn'] },
        Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
      },
    });
    const format = JSON.parse(Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0].Properties.AccessLogSettings.Format);
    expect(Object.keys(format)).toEqual(['requestId', 'time', 'ip', 'method', 'route', 'status', 'latency', 'integrationError', 'authorizerError']);
    template.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Delete' });
  });

  test('CORS answered by API Gateway, preflight included', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: {
        AllowOrigins: ['https://dashboard.example.com'],
        AllowMethods: ['GET', 'POST', 'OPTIONS'],
        AllowHeaders: ['authorization', 'content-type', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
        MaxAge: 600,
      },
    });
  });

  test('the URL is the stage\'s; an alarm and a dashboard line on its 5xx answers', () => {
    expect(JSON.stringify(Stack.of(pipeline).resolve(pipeline.queryUrl))).toContain(api);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: [{ Name: 'ApiId', Value: { Ref: api } }], Statistic: 'Sum', Threshold: 1,
    });
    expect(JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody)).toContain('query endpoint 5xx');
  });

  test('grantQuery: the Lambda API and execute-api:Invoke on the two routes of the $default stage', () => {
    const stack = newStack();
    const p = new SensorIngestPipeline(stack, 'Pipeline', { queryEndpoint: QueryEndpoint.httpApi() });
    p.grantQuery(new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
    const t = Template.fromStack(stack);
    const statements = statementsOf(t, logicalId(t, 'AWS::IAM::Role', 'Reader'));
    expect(statements.map((s) => s.Action)).toEqual(['lambda:InvokeFunction', 'execute-api:Invoke']);
    // The stage by name: no wildcard in the resource.
    expect(statements[1].Resource.map((arn: unknown) => JSON.stringify(arn).replace(/.*"(\/[^"]*)"\]\]\}$/, '$1'))).toEqual(['/$default/GET/readings', '/$default/POST/readings']);
    expect(JSON.stringify(statements[1].Resource)).not.toContain('*');
  });

  test('a JWT authorizer with scopes, throttling and log retention of your own; grantQuery then grants the Lambda API only', () => {
    const stack = newStack();
    const p = new SensorIngestPipeline(stack, 'Pipeline', {
      queryEndpoint: QueryEndpoint.httpApi({
        authorizer: jwt(),
        authorizationScopes: ['sensors/read'],
        throttleRateLimit: 10,
        throttleBurstLimit: 20,
        accessLogRetention: logs.RetentionDays.ONE_WEEK,
        apiName: 'sensor-query',
      }),
    });
    p.grantQuery(new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() }));
    const t = Template.fromStack(stack);
    for (const route of Object.values(t.findResources('AWS::ApiGatewayV2::Route'))) {
      expect(route.Properties).toMatchObject({ AuthorizationType: 'JWT', AuthorizationScopes: ['sensors/read'] });
    }
    t.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'JWT', JwtConfiguration: { Audience: ['sensors'], Issuer: 'https://issuer.example.com' } });
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 } });
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'sensor-query' });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    expect(statementsOf(t, logicalId(t, 'AWS::IAM::Role', 'Reader')).map((s) => s.Action)).toEqual(['lambda:InvokeFunction']);
  });

  test('unauthenticated only when asked', () => {
    const { template: t } = synth({ queryEndpoint: QueryEndpoint.httpApi({ allowUnauthenticated: true }) });
    for (const route of Object.values(t.findResources('AWS::ApiGatewayV2::Route'))) expect(route.Properties.AuthorizationType).toBe('NONE');
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 } });
  });
});

describe('query endpoints refuse at synth, naming the prop', () => {
  test.each<[string, FunctionUrlQueryEndpointProps, RegExp]>([
    ['an unauthenticated Function URL without reserved concurrency', { allowUnauthenticated: true },
      /FunctionUrlQueryEndpointProps\.reservedConcurrency must be set with allowUnauthenticated/],
    ['reserved concurrency of 0, which would stop the function', { reservedConcurrency: 0 }, /FunctionUrlQueryEndpointProps\.reservedConcurrency must be an integer from 1 to 100,000, got 0/],
    ['no origin', { cors: { allowOrigins: [] } }, /FunctionUrlQueryEndpointProps\.cors\.allowOrigins must name at least one origin/],
    ['an origin with a path', { cors: { allowOrigins: ['https://example.com/page'] } }, /FunctionUrlQueryEndpointProps\.cors\.allowOrigins must hold origins such as "https:\/\/example\.com"/],
    ['a header that is no header name', { cors: { allowOrigins: ['*'], allowHeaders: ['x y'] } }, /FunctionUrlQueryEndpointProps\.cors\.allowHeaders must hold header names, got "x y"/],
    ['a preflight cached over a day', { cors: { allowOrigins: ['*'], maxAge: Duration.days(2) } }, /FunctionUrlQueryEndpointProps\.cors\.maxAge must be from 0 seconds to 1 day/],
  ])('Function URL: %s', (_name, props, message) => {
    expect(() => QueryEndpoint.functionUrl(props)).toThrow(message);
  });

  test.each<[string, HttpApiQueryEndpointProps, RegExp]>([
    ['unauthenticated together with an authorizer', { allowUnauthenticated: true, authorizer: new apigwv2.HttpNoneAuthorizer() },
      /HttpApiQueryEndpointProps\.allowUnauthenticated means no authorizer; it must not be set together with HttpApiQueryEndpointProps\.authorizer/],
    ['a rate of 0', { throttleRateLimit: 0 }, /HttpApiQueryEndpointProps\.throttleRateLimit must be an integer from 1 to 10,000, got 0/],
    ['a burst over the account\'s', { throttleBurstLimit: 6_000 }, /HttpApiQueryEndpointProps\.throttleBurstLimit must be an integer from 1 to 5,000/],
    ['an origin without a scheme', { cors: { allowOrigins: ['example.com'] } }, /HttpApiQueryEndpointProps\.cors\.allowOrigins must hold origins/],
  ])('HTTP API: %s', (_name, props, message) => {
    expect(() => QueryEndpoint.httpApi(props)).toThrow(message);
  });

  test('HTTP API: an authorizer that lets every request through, without allowUnauthenticated', () => {
    expect(() => synth({ queryEndpoint: QueryEndpoint.httpApi({ authorizer: new apigwv2.HttpNoneAuthorizer() }) }))
      .toThrow(/HttpApiQueryEndpointProps\.authorizer lets every request through; an unauthenticated endpoint needs HttpApiQueryEndpointProps\.allowUnauthenticated: true/);
  });
});
