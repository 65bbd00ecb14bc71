import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { HANDLER_ARCHITECTURE, HANDLER_RUNTIME, handlerCode } from './handler-code';
import { HandlerFunctionOptions, HandlerLogLevel } from './options';
import { validateDuration, validateInteger } from './validation';

/** @internal */
export interface BundledFunctionProps extends HandlerFunctionOptions {
  readonly handler: 'processor' | 'archiver' | 'query';
  readonly description: string;
  readonly defaultTimeout: Duration;
  readonly environment: Record<string, string>;
}

/** A function running one of the bundled handlers, with its own log group. */
export function createBundledFunction(scope: Construct, id: string, props: BundledFunctionProps): lambda.Function {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // A role of its own instead of AWSLambdaBasicExecutionRole, whose log
  // permissions cover every log group of the account.
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: props.description,
  });
  logGroup.grantWrite(role);
  return new lambda.Function(scope, id, {
    role,
    description: props.description,
    runtime: HANDLER_RUNTIME,
    architecture: HANDLER_ARCHITECTURE,
    code: handlerCode(props.handler),
    handler: 'index.handler',
    memorySize: props.memorySize ?? (props.handler === 'processor' ? 512 : 256),
    timeout: props.timeout ?? props.defaultTimeout,
    logGroup,
    environment: {
      POWERTOOLS_SERVICE_NAME: `sensor-${props.handler}`,
      POWERTOOLS_LOG_LEVEL: props.logLevel ?? HandlerLogLevel.INFO,
      ...props.environment,
    },
  });
}

/** Validates the options, naming the prop as `<propsName>.<prop>`. */
export function validateHandlerOptions(propsName: string, options: HandlerFunctionOptions): void {
  validateInteger(`${propsName}.memorySize`, options.memorySize, 128, 10_240);
  validateDuration(`${propsName}.timeout`, options.timeout, Duration.seconds(1), Duration.minutes(15));
}
