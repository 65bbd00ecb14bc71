import { AwsApiCall, ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';
import { SensorIngestPipeline } from '../../src';

/** The app of a deploy test. */
export function newIntegApp(): App {
  // No stack traces in the snapshot's metadata: they hold the checkout's paths.
  return new App({ stackTraces: false, context: { 'aws:cdk:disable-creation-stack-traces': true } });
}

/**
 * How long each check waits for the deployed pipeline. The archiver holds a
 * batch for up to 60 s by default and an event source mapping can take a
 * minute to start polling a new stream, so a few minutes covers both with
 * room; a pipeline that has not caught up by then is broken, not slow.
 */
const WAIT = {
  totalTimeout: Duration.minutes(5),
  interval: Duration.seconds(15),
  backoffRate: 1,
};

/**
 * Puts readings and one malformed record on the pipeline's stream, then waits
 * until the readings can be queried through the query function, the archive
 * bucket holds objects under `raw/`, and the malformed record is in the
 * dead-letter queue with its reason, sequence number and payload.
 *
 * The pipeline must use its built-in processor, its S3 archiver with the
 * default `raw/` prefix and the default dead-letter queue.
 */
export function assertReadingsFlowThrough(integ: IntegTest, pipeline: SensorIngestPipeline, sensorId: string): void {
  const archiveBucket = pipeline.archiveBucket;
  const deadLetterQueue = pipeline.deadLetterQueue;
  if (!archiveBucket || !deadLetterQueue) {
    throw new Error('assertReadingsFlowThrough needs a pipeline with an archive bucket and a dead-letter queue');
  }

  // Fixed event times, so that the template (and so the snapshot) does not
  // change from one synth to the next, in each format the processor accepts.
  const readings = [
    { sensorid: sensorId, value: 21.5, timestamp: '2024-05-01T12:00:00Z' },
    { sensorid: sensorId, value: '22.25', timestamp: 1714564860 },
    { sensorid: sensorId, value: 23, timestamp: 1714564920000 },
  ];
  const malformed = JSON.stringify({ sensorid: sensorId, value: 'warm', timestamp: '2024-05-01T12:03:00Z' });

  const put = integ.assertions.awsApiCall('Kinesis', 'putRecords', {
    StreamName: pipeline.stream.streamName,
    Records: [
      ...readings.map((r) => ({ Data: JSON.stringify(r), PartitionKey: sensorId })),
      { Data: malformed, PartitionKey: sensorId },
    ],
  });
  // PutRecords answers 200 even when some records were throttled.
  put.assertAtPath('FailedRecordCount', ExpectedResult.exact(0));
  const malformedSequenceNumber = put.getAttString(`Records.${readings.length}.SequenceNumber`);

  // Newest first, timestamps stored as ISO-8601 UTC, numeric strings as numbers;
  // an exact match, so no more than these and no nextToken.
  const expectedItems = [
    { timestamp: '2024-05-01T12:02:00.000Z', value: 23 },
    { timestamp: '2024-05-01T12:01:00.000Z', value: 22.25 },
    { timestamp: '2024-05-01T12:00:00.000Z', value: 21.5 },
  ];
  // The request as the reference deployment's test page sends it; the answer
  // holds the rows twice, the second time as the `Items` that page reads.
  put.next(integ.assertions.invokeFunction({
    functionName: pipeline.queryFunction.functionName,
    payload: `{"operation": "query", "sensorid": "${sensorId}"}`,
  }).expect(ExpectedResult.objectLike({
    StatusCode: 200,
    Payload: Match.serializedJson({
      statusCode: 200,
      sensorId,
      items: expectedItems,
      Items: expectedItems.map((i) => ({ SensorId: sensorId, Timestamp: i.timestamp, Value: i.value })),
      Count: expectedItems.length,
    }),
  })).waitForAssertions(WAIT));

  // Every record, valid or not, is archived under its event hour.
  const listArchive = integ.assertions.awsApiCall('S3', 'listObjectsV2', {
    Bucket: archiveBucket.bucketName,
    Prefix: 'raw/',
    // Keeps the answer well inside the 4 KB a custom resource may return.
    MaxKeys: 10,
  }).expect(ExpectedResult.objectLike({
    Contents: Match.arrayWith([
      Match.objectLike({ Key: Match.stringLikeRegexp('^raw/year=2024/month=05/day=01/hour=12/shardId-[0-9]+-[0-9]+\\.ndjson\\.gz$') }),
    ]),
  })).waitForAssertions(WAIT) as AwsApiCall;
  // The provider derives s3:ListObjectsV2 from the call's name, which is not
  // an IAM action; listing a bucket is s3:ListBucket.
  listArchive.waiterProvider?.addToRolePolicy({
    Effect: 'Allow',
    Action: ['s3:ListBucket'],
    Resource: [archiveBucket.bucketArn],
  });
  put.next(listArchive);

  // The malformed record, matched by its sequence number. VisibilityTimeout 0
  // leaves the message visible to the next poll if this one does not match.
  put.next(integ.assertions.awsApiCall('SQS', 'receiveMessage', {
    QueueUrl: deadLetterQueue.queueUrl,
    MaxNumberOfMessages: 1,
    VisibilityTimeout: 0,
    WaitTimeSeconds: 5,
  }).expect(ExpectedResult.objectLike({
    Messages: Match.arrayWith([
      Match.objectLike({
        Body: Match.serializedJson(Match.objectLike({
          reason: Match.stringLikeRegexp('^invalid field "value"'),
          sequenceNumber: malformedSequenceNumber,
          payload: malformed,
        })),
      }),
    ]),
  })).waitForAssertions(WAIT));
}

/**
 * Invokes each replay function of the pipeline, as a user would with `aws
 * lambda invoke`: with its role's grants it receives from its failed-batches
 * queue (an empty one in a healthy deployment) and answers a summary.
 */
export function assertReplayFunctionsAnswer(integ: IntegTest, pipeline: SensorIngestPipeline): void {
  const functions = [pipeline.processorReplayFunction, pipeline.archiverReplayFunction].filter((f) => f !== undefined);
  if (functions.length === 0) throw new Error('assertReplayFunctionsAnswer needs a pipeline with replay functions');
  for (const fn of functions) {
    integ.assertions.invokeFunction({ functionName: fn.functionName, payload: JSON.stringify({ maxMessages: 10 }) })
      .expect(ExpectedResult.objectLike({
        StatusCode: 200,
        Payload: Match.serializedJson(Match.objectLike({ statusCode: 200, left: [], trimmed: [], stoppedBecause: 'no message to receive' })),
      }));
  }
}

/**
 * Lets the stack's deletion take the archive bucket with it: the checks above
 * leave objects in it, and CloudFormation cannot delete a bucket that holds
 * any. The bucket's removal policy must be DESTROY. Does nothing to a bucket
 * that already empties itself on delete.
 */
export function emptyOnDelete(scope: IConstruct): void {
  // Every bucket under scope: the archive and its access-log bucket. One
  // created with autoDeleteObjects has this custom resource already (the
  // mixin's own id; applying it twice would clash).
  for (const bucket of scope.node.findAll().filter((c): c is s3.Bucket => c instanceof s3.Bucket)) {
    if (bucket.node.tryFindChild('AutoDeleteObjectsCustomResource')) continue;
    bucket.with(new s3.mixins.BucketAutoDeleteObjects());
  }
}
