import { Aspects } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { newStack } from './util';
import { SensorIngestPipeline } from '../../src';

/** AwsSolutions findings of a default pipeline, as `rule: construct path` lines. */
function findings(level: 'error' | 'warning'): string[] {
  const stack = newStack();
  new SensorIngestPipeline(stack, 'Pipeline');
  Aspects.of(stack).add(new AwsSolutionsChecks());
  const annotations = Annotations.fromStack(stack);
  const found = level === 'error'
    ? annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))
    : annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  // 'AwsSolutions-IAM5[Resource::<arn>]: message' -> 'AwsSolutions-IAM5[Resource: <path>'
  return found.map((f) => `${String(f.entry.data).split(':')[0]}: ${f.id}`).sort();
}

describe('cdk-nag AwsSolutions on a default pipeline', () => {
  test('only the findings we accept, each for a stated reason', () => {
    expect(findings('error')).toEqual([
      // The bucket holds the archive; access logs are a separate bucket the user decides on.
      'AwsSolutions-S1: /Test/Pipeline/Archiver/Bucket/Resource',
      // The runtime is pinned to Node.js 22 on purpose, so that templates do not drift.
      'AwsSolutions-L1: /Test/Pipeline/Archiver/Function/Resource',
      'AwsSolutions-L1: /Test/Pipeline/Processor/Function/Resource',
      'AwsSolutions-L1: /Test/Pipeline/QueryFunction/Resource',
      // s3:PutObject on <bucket>/raw/*: object keys are made per batch.
      'AwsSolutions-IAM5[Resource: /Test/Pipeline/Archiver/FunctionRole/DefaultPolicy/Resource',
      // The failed-batches and dead-letter queues are themselves where failures end.
      'AwsSolutions-SQS3: /Test/Pipeline/Archiver/FailedBatches/Resource',
      'AwsSolutions-SQS3: /Test/Pipeline/Processor/FailedBatches/Resource',
      'AwsSolutions-SQS3: /Test/Pipeline/Processor/DeadLetterQueue/Resource',
    ].sort());
  });
});
