import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { environmentOf, logicalId, newStack, synth } from './util';
import { Archiver, S3ArchiverProps, SensorIngestPipeline } from '../../src';

describe('S3Archiver', () => {
  test('a bucket of your own and a prefix: no bucket created, put granted on the prefix', () => {
    const stack = newStack();
    const bucket = new s3.Bucket(stack, 'Lake');
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', {
      payloadMapping: { timestampField: 'ts' },
      archiver: Archiver.s3({ bucket, prefix: 'iot/raw/' }),
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 1);
    expect(pipeline.archiveBucket).toBe(bucket);
    expect(environmentOf(template, 'PipelineArchiverFunction')).toMatchObject({
      ARCHIVE_BUCKET: { Ref: logicalId(template, 'AWS::S3::Bucket', 'Lake') },
      ARCHIVE_PREFIX: 'iot/raw/',
      PAYLOAD_TIMESTAMP_FIELD: 'ts',
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(template, 'AWS::S3::Bucket', 'Lake'), 'Arn'] }, '/iot/raw/*']] } })]) },
    });
  });

  test('lifecycle, removal policy and event source options of a created bucket', () => {
    const { template } = synth({
      archiver: Archiver.s3({
        transitionToGlacierAfter: Duration.days(30),
        removalPolicy: RemovalPolicy.DESTROY,
        batchSize: 5000,
        maxBatchingWindow: Duration.minutes(5),
        memorySize: 512,
      }),
    });
    template.hasResource('AWS::S3::Bucket', {
      Properties: { LifecycleConfiguration: { Rules: [Match.objectLike({ Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }] })] } },
      DeletionPolicy: 'Delete',
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'PipelineArchiverFunction') },
      BatchSize: 5000,
      MaximumBatchingWindowInSeconds: 300,
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('Archives'), MemorySize: 512 });
  });

  test('a created bucket follows the pipeline removal policy unless the archiver sets its own', () => {
    synth({ removalPolicy: RemovalPolicy.DESTROY, archiver: Archiver.s3({ prefix: 'x/' }) }).template
      .hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    synth({ removalPolicy: RemovalPolicy.DESTROY, archiver: Archiver.s3({ removalPolicy: RemovalPolicy.RETAIN }) }).template
      .hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    synth({ archiver: Archiver.s3({ prefix: 'x/' }) }).template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });

  test('autoDeleteObjects empties a destroyed bucket so that the stack can be deleted', () => {
    const { template } = synth({ removalPolicy: RemovalPolicy.DESTROY, archiver: Archiver.s3({ autoDeleteObjects: true }) });
    const bucket = logicalId(template, 'AWS::S3::Bucket', 'PipelineArchiverBucket');
    template.hasResourceProperties('Custom::S3AutoDeleteObjects', { BucketName: { Ref: bucket } });
    // Without it, no custom resource.
    synth({ removalPolicy: RemovalPolicy.DESTROY }).template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  test('autoDeleteObjects needs RemovalPolicy.DESTROY', () => {
    expect(() => synth({ archiver: Archiver.s3({ autoDeleteObjects: true }) }))
      .toThrow(/S3ArchiverProps\.autoDeleteObjects needs RemovalPolicy.DESTROY \(on the archiver or the pipeline\), got retain/);
  });

  const invalid: Array<[string, S3ArchiverProps, RegExp]> = [
    ['prefix without a slash', { prefix: 'raw' }, /S3ArchiverProps\.prefix must be empty or end with "\/", got "raw"/],
    ['transition after 0 days', { transitionToGlacierAfter: Duration.days(0) }, /S3ArchiverProps\.transitionToGlacierAfter must be from 1 day to 36500 days, got 0 days/],
    ['transition after 36 hours', { transitionToGlacierAfter: Duration.hours(36) }, /S3ArchiverProps\.transitionToGlacierAfter must be whole days, got 1 day 12 hours/],
    ['batchSize 10,001', { batchSize: 10_001 }, /S3ArchiverProps\.batchSize/],
    ['timeout 0 seconds', { timeout: Duration.seconds(0) }, /S3ArchiverProps\.timeout/],
    ['reportBatchItemFailures false', { reportBatchItemFailures: false }, /S3ArchiverProps\.reportBatchItemFailures must not be false/],
  ];
  test.each(invalid)('%s fails naming the prop', (_name, props, message) => {
    expect(() => Archiver.s3(props)).toThrow(message);
  });

  test('bucket settings together with a bucket of your own are refused', () => {
    const stack = newStack();
    const bucket = new s3.Bucket(stack, 'Lake');
    expect(() => Archiver.s3({ bucket, transitionToGlacierAfter: Duration.days(10) })).toThrow(/S3ArchiverProps\.transitionToGlacierAfter applies only to a bucket the archiver creates/);
    expect(() => Archiver.s3({ bucket, removalPolicy: RemovalPolicy.DESTROY })).toThrow(/S3ArchiverProps\.removalPolicy applies only to a bucket the archiver creates/);
    expect(() => Archiver.s3({ bucket, autoDeleteObjects: true })).toThrow(/S3ArchiverProps\.autoDeleteObjects applies only to a bucket the archiver creates/);
  });
});
