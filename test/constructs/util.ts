import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SensorIngestPipeline, SensorIngestPipelineProps } from '../../src';

export function newStack(): Stack {
  return new Stack(new App(), 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
}

export function synth(props?: SensorIngestPipelineProps): { stack: Stack; pipeline: SensorIngestPipeline; template: Template } {
  const stack = newStack();
  const pipeline = new SensorIngestPipeline(stack, 'Pipeline', props);
  return { stack, pipeline, template: Template.fromStack(stack) };
}

/** The logical id of the only resource of `type` whose id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0];
}

/** Environment variables of the function whose logical id starts with `prefix`. */
export function environmentOf(template: Template, prefix: string): Record<string, unknown> {
  const id = logicalId(template, 'AWS::Lambda::Function', prefix);
  return template.findResources('AWS::Lambda::Function')[id].Properties.Environment.Variables;
}

/** Every IAM action granted in the template's policies. */
export function allActions(template: Template): string[] {
  const actions: string[] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement) {
      actions.push(...[statement.Action].flat());
    }
  }
  return actions;
}
