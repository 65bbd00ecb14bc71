import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { suppressNag } from './private/nag';
import { validateDuration, validateInteger } from './private/validation';

/**
 * Cross-origin requests to the query endpoint, for a web page on another
 * origin (the test page, a dashboard). Methods GET and POST.
 */
export interface QueryEndpointCors {
  /** The origins allowed, for example `https://dashboard.example.com`; "*" for any. */
  readonly allowOrigins: string[];

  /**
   * The request headers allowed.
   *
   * @default - what a SigV4-signed or token-bearing request sends: authorization, content-type, x-amz-date, x-amz-security-token, x-amz-content-sha256
   */
  readonly allowHeaders?: string[];

  /**
   * How long a browser may cache the answer to a preflight request, at most a day.
   *
   * @default Duration.hours(1)
   */
  readonly maxAge?: Duration;
}

/** What a query endpoint hands back to the pipeline once bound. */
export interface QueryEndpointBinding {
  /** The endpoint's URL. */
  readonly url?: string;
  /** The Function URL, when the endpoint is one. */
  readonly functionUrl?: lambda.IFunctionUrl;
  /** The HTTP API, when the endpoint is one. */
  readonly httpApi?: apigwv2.IHttpApi;
  /** The ARNs of the routes authorized by IAM, on which `grantQuery` grants `execute-api:Invoke`. */
  readonly invokeArns?: string[];
  /** Counts the requests the endpoint answered with a 5xx status; the pipeline alarms on it. */
  readonly serverErrorsMetric?: cloudwatch.IMetric;
}

/**
 * Publishes the query function over HTTP. Implement it to plug in an
 * endpoint of your own; `QueryEndpoint` has the built-in ones.
 */
export interface IQueryEndpoint {
  /** Creates the endpoint's resources in `scope` in front of the query function. Called once by the pipeline. */
  bind(scope: Construct, queryFunction: lambda.IFunction): QueryEndpointBinding;
}

/** Props of a Function URL in front of the query function. */
export interface FunctionUrlQueryEndpointProps {
  /**
   * Cross-origin requests.
   *
   * @default - none: only same-origin pages and non-browser clients
   */
  readonly cors?: QueryEndpointCors;

  /**
   * The most invocations of the query function at once, the throttle of a
   * Function URL (requests beyond it are answered 429). It is taken from the
   * account's concurrency, which must keep at least 100 unreserved.
   *
   * @default - none: the account's concurrency limit; required with `allowUnauthenticated`
   */
  readonly reservedConcurrency?: number;

  /**
   * Let anyone on the internet call the URL, without AWS credentials
   * (`FunctionUrlAuthType.NONE`). Without it the URL takes only requests
   * signed (SigV4) by principals granted with `grantQuery`.
   *
   * @default false
   */
  readonly allowUnauthenticated?: boolean;
}

/** Props of an HTTP API in front of the query function. */
export interface HttpApiQueryEndpointProps {
  /**
   * Who may call the API: `new HttpIamAuthorizer()` (SigV4-signed requests
   * of principals granted with `grantQuery`), an `HttpJwtAuthorizer` or
   * `HttpUserPoolAuthorizer` (tokens of your identity provider), or an
   * `HttpLambdaAuthorizer`. An authorizer that lets every request through
   * is refused: say so with `allowUnauthenticated` instead.
   *
   * @default new HttpIamAuthorizer()
   */
  readonly authorizer?: apigwv2.IHttpRouteAuthorizer;

  /**
   * The scopes a token must hold (JWT and Cognito authorizers).
   *
   * @default - none
   */
  readonly authorizationScopes?: string[];

  /**
   * Let anyone on the internet call the API, with no authorizer. Not
   * together with `authorizer`.
   *
   * @default false
   */
  readonly allowUnauthenticated?: boolean;

  /**
   * Cross-origin requests (answered by API Gateway, preflight included).
   *
   * @default - none: only same-origin pages and non-browser clients
   */
  readonly cors?: QueryEndpointCors;

  /**
   * The stage's steady request rate, per second, beyond which requests are
   * answered 429.
   *
   * @default 50
   */
  readonly throttleRateLimit?: number;

  /**
   * The stage's burst: requests taken at once above the steady rate.
   *
   * @default 100
   */
  readonly throttleBurstLimit?: number;

  /**
   * How long the stage's access logs (one JSON line per request) are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: logs.RetentionDays;

  /**
   * The API's name.
   *
   * @default - the construct's path
   */
  readonly apiName?: string;
}

/** The headers of a SigV4-signed request, and of one bearing a token. */
const DEFAULT_CORS_HEADERS = ['authorization', 'content-type', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'];

/** The path the HTTP API answers on: GET with a query string, or POST with a JSON body. */
const QUERY_ROUTE_PATH = '/readings';

function validateCors(prop: string, cors: QueryEndpointCors | undefined): void {
  if (!cors) return;
  if (cors.allowOrigins.length === 0) throw new Error(`${prop}.allowOrigins must name at least one origin ("*" for any)`);
  for (const origin of cors.allowOrigins) {
    if (Token.isUnresolved(origin) || origin === '*') continue;
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new Error(`${prop}.allowOrigins must hold origins such as "https://example.com" (scheme and host, no path), or "*", got "${origin}"`);
    }
  }
  for (const header of cors.allowHeaders ?? []) {
    if (!Token.isUnresolved(header) && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) {
      throw new Error(`${prop}.allowHeaders must hold header names, got "${header}"`);
    }
  }
  validateDuration(`${prop}.maxAge`, cors.maxAge, Duration.seconds(0), Duration.days(1));
}

/** A Function URL in front of the query function. */
export class FunctionUrlQueryEndpoint implements IQueryEndpoint {
  constructor(private readonly props: FunctionUrlQueryEndpointProps = {}) {
    const name = 'FunctionUrlQueryEndpointProps';
    validateCors(`${name}.cors`, props.cors);
    validateInteger(`${name}.reservedConcurrency`, props.reservedConcurrency, 1, 100_000);
    if (props.allowUnauthenticated && props.reservedConcurrency === undefined) {
      throw new Error(`${name}.reservedConcurrency must be set with allowUnauthenticated: anyone on the internet could then run `
        + 'the query function (and its DynamoDB reads) as often as they like');
    }
  }

  public bind(scope: Construct, queryFunction: lambda.IFunction): QueryEndpointBinding {
    const props = this.props;
    if (props.reservedConcurrency !== undefined) {
      const cfn = queryFunction.node.defaultChild;
      if (!(cfn instanceof lambda.CfnFunction)) throw new Error('FunctionUrlQueryEndpointProps.reservedConcurrency needs a function defined in this app');
      cfn.reservedConcurrentExecutions = props.reservedConcurrency;
    }
    const cors = props.cors;
    const functionUrl = new lambda.FunctionUrl(scope, 'FunctionUrl', {
      function: queryFunction,
      authType: props.allowUnauthenticated ? lambda.FunctionUrlAuthType.NONE : lambda.FunctionUrlAuthType.AWS_IAM,
      cors: cors ? {
        allowedOrigins: cors.allowOrigins,
        allowedMethods: [lambda.HttpMethod.GET, lambda.HttpMethod.POST],
        allowedHeaders: cors.allowHeaders ?? DEFAULT_CORS_HEADERS,
        maxAge: cors.maxAge ?? Duration.hours(1),
      } : undefined,
    });
    return {
      url: functionUrl.url,
      functionUrl,
      serverErrorsMetric: queryFunction.metric('Url5xxCount', { statistic: cloudwatch.Stats.SUM }),
    };
  }
}

/** An HTTP API (API Gateway v2) in front of the query function: `GET` and `POST` on `/readings`. */
export class HttpApiQueryEndpoint implements IQueryEndpoint {
  constructor(private readonly props: HttpApiQueryEndpointProps = {}) {
    const name = 'HttpApiQueryEndpointProps';
    validateCors(`${name}.cors`, props.cors);
    validateInteger(`${name}.throttleRateLimit`, props.throttleRateLimit, 1, 10_000);
    validateInteger(`${name}.throttleBurstLimit`, props.throttleBurstLimit, 1, 5_000);
    if (props.allowUnauthenticated && props.authorizer) {
      throw new Error(`${name}.allowUnauthenticated means no authorizer; it must not be set together with ${name}.authorizer`);
    }
  }

  public bind(scope: Construct, queryFunction: lambda.IFunction): QueryEndpointBinding {
    const props = this.props;
    const name = 'HttpApiQueryEndpointProps';
    const cors = props.cors;
    const api = new apigwv2.HttpApi(scope, 'HttpApi', {
      apiName: props.apiName,
      description: 'Answers queries for a sensor\'s newest readings',
      // The stage is made below, with throttling and access logs.
      createDefaultStage: false,
      corsPreflight: cors ? {
        allowOrigins: cors.allowOrigins,
        allowMethods: [apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST, apigwv2.CorsHttpMethod.OPTIONS],
        allowHeaders: cors.allowHeaders ?? DEFAULT_CORS_HEADERS,
        maxAge: cors.maxAge ?? Duration.hours(1),
      } : undefined,
    });
    const accessLogs = new logs.LogGroup(scope, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stage = api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttleRateLimit ?? 50, burstLimit: props.throttleBurstLimit ?? 100 },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigw.AccessLogFormat.custom(JSON.stringify({
          requestId: '$context.requestId',
          time: '$context.requestTime',
          ip: '$context.identity.sourceIp',
          method: '$context.httpMethod',
          route: '$context.routeKey',
          status: '$context.status',
          latency: '$context.responseLatency',
          integrationError: '$context.integrationErrorMessage',
          authorizerError: '$context.authorizer.error',
        })),
      },
    });
    const authorizer = props.allowUnauthenticated ? new apigwv2.HttpNoneAuthorizer() : props.authorizer ?? new HttpIamAuthorizer();
    const routes = api.addRoutes({
      path: QUERY_ROUTE_PATH,
      methods: [apigwv2.HttpMethod.GET, apigwv2.HttpMethod.POST],
      integration: new HttpLambdaIntegration('Query', queryFunction),
      authorizer,
      authorizationScopes: props.authorizationScopes,
    });
    const types = routes.map((route) => (route.node.defaultChild as apigwv2.CfnRoute).authorizationType ?? 'NONE');
    if (types.includes('NONE') && !props.allowUnauthenticated) {
      throw new Error(`${name}.authorizer lets every request through; an unauthenticated endpoint needs ${name}.allowUnauthenticated: true`);
    }
    if (props.allowUnauthenticated) {
      for (const route of routes) {
        suppressNag(route, [{
          id: 'AwsSolutions-APIG4',
          reason: 'The user asked for an unauthenticated query endpoint (HttpApiQueryEndpointProps.allowUnauthenticated: true); '
            + 'the stage throttles requests.',
        }]);
      }
    }
    return {
      url: stage.url,
      httpApi: api,
      // The stage by name, not "*": the API has the one stage.
      invokeArns: types.every((t) => t === 'AWS_IAM')
        ? [apigwv2.HttpMethod.GET, apigwv2.HttpMethod.POST].map((method) => api.arnForExecuteApi(method, QUERY_ROUTE_PATH, stage.stageName))
        : undefined,
      serverErrorsMetric: api.metricServerError({ statistic: cloudwatch.Stats.SUM }),
    };
  }
}

class NoQueryEndpoint implements IQueryEndpoint {
  public bind(): QueryEndpointBinding {
    return {};
  }
}

/** The built-in query endpoints. */
export abstract class QueryEndpoint {
  /**
   * A Lambda Function URL with `AWS_IAM` auth: requests signed with SigV4 by
   * principals granted with `grantQuery`.
   */
  public static functionUrl(props?: FunctionUrlQueryEndpointProps): IQueryEndpoint {
    return new FunctionUrlQueryEndpoint(props);
  }

  /**
   * An HTTP API with an IAM authorizer by default, or a JWT, Cognito or
   * Lambda authorizer; throttled, with access logs.
   */
  public static httpApi(props?: HttpApiQueryEndpointProps): IQueryEndpoint {
    return new HttpApiQueryEndpoint(props);
  }

  /** No HTTP endpoint (the default): callers invoke the query function with the Lambda API. */
  public static none(): IQueryEndpoint {
    return new NoQueryEndpoint();
  }

  private constructor() {}
}
