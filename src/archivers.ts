import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ArchiveBucketOptions } from './archive-bucket-options';
import { FirehoseArchiver, FirehoseArchiverProps } from './firehose-archiver';
import { HandlerFunctionOptions, StreamConsumerOptions } from './options';
import { ArchiverBinding, IArchiver, ISensorIngestPipeline } from './pipeline-interfaces';
import { archiveBucket, DEFAULT_ARCHIVE_PREFIX, validateArchiveBucketOptions } from './private/archive-bucket';
import { LOG_METRICS } from './private/handler-contract';
import { createBundledFunction, validateHandlerOptions } from './private/handler-function';
import { logMetric } from './private/monitoring';
import { withDefaults } from './private/payload';
import { grantPutObjects } from './private/resources';
import { attachToStream, validateConsumerOptions } from './private/stream-consumer';

/** Props of the built-in S3 archiver. */
export interface S3ArchiverProps extends StreamConsumerOptions, HandlerFunctionOptions, ArchiveBucketOptions {}

/**
 * The built-in archiver: a function that writes each batch as gzip-compressed
 * NDJSON to S3, one object per hour of event time (the pipeline's payload
 * mapping names the timestamp field) under
 * `<prefix>year=YYYY/month=MM/day=DD/hour=HH/`, named after the shard and the
 * first sequence number so that a retried batch overwrites, never duplicates.
 */
export class S3Archiver implements IArchiver {
  constructor(private readonly props: S3ArchiverProps = {}) {
    const name = 'S3ArchiverProps';
    validateConsumerOptions(name, props, true);
    validateHandlerOptions(name, props);
    validateArchiveBucketOptions(name, props);
  }

  public bind(scope: Construct, pipeline: ISensorIngestPipeline): ArchiverBinding {
    const props = this.props;
    const prefix = props.prefix ?? DEFAULT_ARCHIVE_PREFIX;
    const bucket = archiveBucket(scope, pipeline, props, 'S3ArchiverProps');
    const fn = createBundledFunction(scope, 'Function', {
      ...props,
      handler: 'archiver',
      description: 'Archives the raw sensor records of the stream to S3 as gzip NDJSON',
      defaultTimeout: Duration.seconds(60),
      settings: {
        archiveBucket: bucket.bucketName,
        archivePrefix: prefix,
        timestampField: withDefaults(pipeline.payloadMapping).timestampField,
      },
    });
    grantPutObjects(bucket, prefix, fn, 'The archiver writes one object per batch and hour of event time');
    const { failedBatchesQueue, replayFunction } = attachToStream(scope, fn, pipeline.stream, props, {
      batchSize: 1_000,
      maxBatchingWindow: Duration.seconds(60),
      encryptionKey: pipeline.encryptionKey,
      handlerOptions: props,
    });
    return {
      lambdaFunction: fn,
      bucket,
      failedBatchesQueue,
      replayFunction,
      archiveObjectsMetric: logMetric(fn, 'ArchiveObjects', LOG_METRICS.archiveObjects),
    };
  }
}

class NoArchiver implements IArchiver {
  public bind(): ArchiverBinding {
    return {};
  }
}

/** The built-in archivers. */
export abstract class Archiver {
  /** The S3 archiver (the pipeline's default). */
  public static s3(props?: S3ArchiverProps): IArchiver {
    return new S3Archiver(props);
  }

  /**
   * The Firehose archiver: an Amazon Data Firehose delivery stream reads the
   * stream and writes it to S3, partitioned by hour of event time, with no
   * Lambda function in the path.
   */
  public static firehose(props?: FirehoseArchiverProps): IArchiver {
    return new FirehoseArchiver(props);
  }

  /** No archive. */
  public static none(): IArchiver {
    return new NoArchiver();
  }

  private constructor() {}
}
