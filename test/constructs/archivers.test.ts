import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { environmentOf, logicalId, newStack, synth } from './util';
import { ArchiveAccessLogs, Archiver, S3ArchiverProps, SensorIngestPipeline } from '../../src';

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

  test('server access logs go to a log bucket of the archiver\'s own by default: private, TLS only, S3-managed, kept a year', () => {
    const { template } = synth();
    const archive = logicalId(template, 'AWS::S3::Bucket', 'PipelineArchiverBucket');
    const logs = logicalId(template, 'AWS::S3::Bucket', 'PipelineArchiverAccessLogsBucket');
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: logs }, LogFilePrefix: 'archive-access-logs/' },
    });
    expect(template.findResources('AWS::S3::Bucket')[archive].Properties.LoggingConfiguration).toBeDefined();
    expect(template.findResources('AWS::S3::Bucket')[logs]).toMatchObject({
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 365 })] },
      },
      DeletionPolicy: 'Retain',
    });
    // Delivery by bucket policy, from this archive bucket and account only.
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logs },
      PolicyDocument: {
        Statement: Match.arrayWith([{
          Action: 's3:PutObject',
          Effect: 'Allow',
          Principal: { Service: 'logging.s3.amazonaws.com' },
          Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logs, 'Arn'] }, '/archive-access-logs/*']] },
          Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [archive, 'Arn'] } }, StringEquals: { 'aws:SourceAccount': '111111111111' } },
        }]),
      },
    });
  });

  test('access logs to a bucket of your own, or off with the reason written for reviewers', () => {
    const stack = newStack();
    const audit = new s3.Bucket(stack, 'Audit');
    new SensorIngestPipeline(stack, 'Pipeline', { archiver: Archiver.s3({ accessLogs: ArchiveAccessLogs.toBucket(audit, 'iot/') }) });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 2);
    template.hasResourceProperties('AWS::S3::Bucket', { LoggingConfiguration: { DestinationBucketName: { Ref: logicalId(template, 'AWS::S3::Bucket', 'Audit') }, LogFilePrefix: 'iot/' } });

    const off = synth({ archiver: Archiver.s3({ accessLogs: ArchiveAccessLogs.disabled('synthetic data of a load test') }) }).template;
    off.resourceCountIs('AWS::S3::Bucket', 1);
    off.hasResource('AWS::S3::Bucket', {
      Metadata: { cdk_nag: { rules_to_suppress: [{ id: 'AwsSolutions-S1', reason: 'Server access logs are turned off: synthetic data of a load test' }] } },
    });
    expect(Object.values(off.findResources('AWS::S3::Bucket'))[0].Properties.LoggingConfiguration).toBeUndefined();
  });

  test('access-log choices that cannot hold are refused', () => {
    expect(() => ArchiveAccessLogs.disabled('no')).toThrow(/ArchiveAccessLogs\.disabled: reason must say why, in at least 10 characters, got "no"/);
    expect(() => ArchiveAccessLogs.toBucket(new s3.Bucket(newStack(), 'B'), 'logs')).toThrow(/ArchiveAccessLogs\.toBucket: prefix must be empty or end with "\/", got "logs"/);
    const stack = newStack();
    expect(() => Archiver.s3({ bucket: new s3.Bucket(stack, 'Lake'), accessLogs: ArchiveAccessLogs.newBucket() }))
      .toThrow(/S3ArchiverProps\.accessLogs applies only to a bucket the archiver creates/);
  });

  test('destroy with auto-delete applies to the log bucket too, so that the stack can be deleted', () => {
    const { template } = synth({ removalPolicy: RemovalPolicy.DESTROY, archiver: Archiver.s3({ autoDeleteObjects: true }) });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete', Properties: { LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 365 })] } } });
  });

  describe('stack deletion: the archive is emptied before its access-log bucket', () => {
    /** The logical id of the custom resource that empties the bucket whose logical id starts with `bucketPrefix`. */
    const emptyingOf = (template: Template, bucketPrefix: string) => {
      const bucket = logicalId(template, 'AWS::S3::Bucket', bucketPrefix);
      const [id] = Object.entries(template.findResources('Custom::S3AutoDeleteObjects')).find(([, r]) => r.Properties.BucketName.Ref === bucket)!;
      return id;
    };
    const dependsOn = (template: Template, id: string): string[] => [template.toJSON().Resources[id].DependsOn ?? []].flat();

    test.each<[string, () => Template]>([
      ['autoDeleteObjects on the archiver', () => synth({ removalPolicy: RemovalPolicy.DESTROY, archiver: Archiver.s3({ autoDeleteObjects: true }) }).template],
      ['autoDeleteObjects on the Firehose archiver',
        () => synth({ removalPolicy: RemovalPolicy.DESTROY, archiver: Archiver.firehose({ autoDeleteObjects: true }) }).template],
      ['the auto-delete mixin applied to both buckets after the pipeline was made', () => {
        const stack = newStack();
        const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { removalPolicy: RemovalPolicy.DESTROY });
        const buckets = pipeline.node.findAll().filter((c): c is s3.Bucket => c instanceof s3.Bucket);
        for (const bucket of buckets) bucket.with(new s3.mixins.BucketAutoDeleteObjects());
        return Template.fromStack(stack);
      }],
    ])('%s', (_name, make) => {
      const template = make();
      // CloudFormation deletes a resource before the resources it depends on.
      expect(dependsOn(template, emptyingOf(template, 'PipelineArchiverBucket'))).toContain(emptyingOf(template, 'PipelineArchiverAccessLogsBucket'));
      // The log bucket's emptying keeps its policy until it is done, and the policy names the archive: no way round.
      expect(dependsOn(template, emptyingOf(template, 'PipelineArchiverAccessLogsBucket')))
        .toEqual([logicalId(template, 'AWS::S3::BucketPolicy', 'PipelineArchiverAccessLogsBucketPolicy')]);
    });

    test('a log bucket of your own that empties itself is emptied after the archive too; one that does not, or none, changes nothing', () => {
      const stack = newStack();
      const audit = new s3.Bucket(stack, 'Audit', { removalPolicy: RemovalPolicy.DESTROY, autoDeleteObjects: true });
      new SensorIngestPipeline(stack, 'Pipeline', {
        removalPolicy: RemovalPolicy.DESTROY,
        archiver: Archiver.s3({ autoDeleteObjects: true, accessLogs: ArchiveAccessLogs.toBucket(audit, 'iot/') }),
      });
      const template = Template.fromStack(stack);
      expect(dependsOn(template, emptyingOf(template, 'PipelineArchiverBucket'))).toContain(emptyingOf(template, 'Audit'));

      const kept = newStack();
      new SensorIngestPipeline(kept, 'Pipeline', {
        removalPolicy: RemovalPolicy.DESTROY,
        archiver: Archiver.s3({ autoDeleteObjects: true, accessLogs: ArchiveAccessLogs.toBucket(new s3.Bucket(kept, 'Audit')) }),
      });
      const keptTemplate = Template.fromStack(kept);
      expect(dependsOn(keptTemplate, emptyingOf(keptTemplate, 'PipelineArchiverBucket')))
        .toEqual([logicalId(keptTemplate, 'AWS::S3::BucketPolicy', 'PipelineArchiverBucketPolicy')]);
    });
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
