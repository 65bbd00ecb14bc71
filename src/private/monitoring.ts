import { Duration, Lazy, Names } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LogMetric } from './handler-contract';
import { validateDuration, validateInteger } from './validation';
import { AgeAlarmOptions, CountAlarmOptions, LimitAlarmOptions, PipelineAlarmsProps } from '../pipeline-monitoring';

/** The namespace of the metrics the pipeline makes from its handlers' logs. */
export const LOG_METRICS_NAMESPACE = 'SensorIngestPipeline';

/**
 * A metric counted from a handler's log line by a metric filter on its log
 * group: the handlers log one line per batch, so counting needs no API call.
 */
export function logMetric(fn: lambda.Function, id: string, line: LogMetric): cloudwatch.Metric {
  const filter = fn.logGroup.addMetricFilter(id, {
    filterPattern: logs.FilterPattern.stringValue('$.message', '=', line.message),
    metricNamespace: LOG_METRICS_NAMESPACE,
    // One metric per function: a filter's dimensions can only come from the log line.
    metricName: `${Names.uniqueId(fn)}-${id}`,
    metricValue: `$.${line.field}`,
  });
  return filter.metric({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(1) });
}

/** Validates the alarm props, naming each as `<prop>.<alarm>.<field>`. */
export function validateAlarmsProps(prop: string, props: PipelineAlarmsProps = {}): void {
  const counts = ['functionErrors', 'functionThrottles', 'deadLetters', 'failedBatches', 'tableWriteThrottles',
    'streamWriteThroughputExceeded', 'streamReadThroughputExceeded', 'ingressFailures', 'archiveDeliveryFailures',
    'archiveRejectedRecords', 'queryEndpointServerErrors'] as const;
  for (const name of counts) {
    const options = props[name] ?? {};
    validateInteger(`${prop}.${name}.threshold`, options.threshold, 1, 1_000_000_000);
    validateCommon(`${prop}.${name}`, options);
  }
  for (const name of ['iteratorAge', 'failedBatchesAge', 'archiveDataFreshness'] as const) {
    const options = props[name] ?? {};
    validateDuration(`${prop}.${name}.threshold`, options.threshold, Duration.minutes(1), Duration.days(365));
    validateCommon(`${prop}.${name}`, options);
  }
  validateCommon(`${prop}.archivePartitionCountExceeded`, props.archivePartitionCountExceeded ?? {});
}

function validateCommon(prop: string, options: CountAlarmOptions | AgeAlarmOptions | LimitAlarmOptions): void {
  validateInteger(`${prop}.evaluationPeriods`, options.evaluationPeriods, 1, 100);
  const period = options.period;
  validateDuration(`${prop}.period`, period, Duration.minutes(1), Duration.days(1));
  if (period && !period.isUnresolved() && period.toSeconds() % 60 !== 0) {
    throw new Error(`${prop}.period must be whole minutes, got ${period.toHumanString()}`);
  }
}

/**
 * What the pipeline watches of a Firehose delivery stream's dynamic
 * partitioning, read by its alarms and its dashboard alike.
 */
export function partitioningMetrics(deliveryStream: firehose.IDeliveryStream) {
  return {
    /** 1 while the active partitions are at the delivery stream's quota: the records past it go to the error output prefix. */
    exceeded: deliveryStream.metric('PartitionCountExceeded', { statistic: cloudwatch.Stats.MAXIMUM }),
    /** The active partitions: partitions holding records not yet delivered. */
    count: deliveryStream.metric('PartitionCount', { statistic: cloudwatch.Stats.MAXIMUM, label: 'active partitions' }),
    /** The delivery stream's quota of active partitions. */
    limit: deliveryStream.metric('ActivePartitionsLimit', { statistic: cloudwatch.Stats.MAXIMUM, label: 'active partitions quota' }),
  };
}

/** What the alarms of a consumer of the stream watch. */
export interface MonitoredConsumer {
  /** A construct id prefix, unique in the pipeline. */
  readonly id: string;
  /** What a person reads in the alarm: "the processor", "the archiver". */
  readonly label: string;
  readonly fn: lambda.IFunction;
  readonly failedBatchesQueue?: sqs.IQueue;
  readonly deadLettersMetric?: cloudwatch.IMetric;
}

/**
 * The pipeline's alarms, one per sign of trouble, and the composite
 * "pipeline unhealthy" alarm over all of them.
 */
export class PipelineAlarms extends Construct {
  /** Every alarm created so far, the composite excluded; alarms added later join this very array. */
  public readonly created: cloudwatch.Alarm[] = [];
  private composite?: cloudwatch.CompositeAlarm;

  constructor(scope: Construct, id: string, private readonly props: PipelineAlarmsProps, private readonly retention: Duration) {
    super(scope, id);
  }

  /** The composite alarm, once `addComposite` made it. */
  public get unhealthy(): cloudwatch.CompositeAlarm | undefined {
    return this.composite;
  }

  /** Alarms on how far behind a consumer is, its errors and throttles, its failed batches and its dead letters. */
  public addConsumer(consumer: MonitoredConsumer, streamName: string): void {
    const { id, label, fn } = consumer;
    const ageThreshold = this.props.iteratorAge?.threshold ?? Duration.millis(this.retention.toMilliseconds() / 4);
    this.age(`${id}IteratorAge`, this.props.iteratorAge, ageThreshold, fn.metric('IteratorAge'), 'ms',
      `${label} is behind the stream ${streamName} by the threshold or more; its records expire at the stream's retention. Check its errors and throttles.`);
    this.addFunction(id, label, fn);
    if (consumer.failedBatchesQueue) {
      const queue = consumer.failedBatchesQueue;
      this.count(`${id}FailedBatches`, this.props.failedBatches, 1, queue.metricNumberOfMessagesSent(),
        `The event source mapping of ${label} gave up on a batch of ${streamName} and reported it to its failed-batches queue: `
        + 'those records were skipped. Read the message for the shard and sequence range, and process the records before they expire.');
      this.age(`${id}FailedBatchesAge`, this.props.failedBatchesAge, Duration.days(1), queue.metricApproximateAgeOfOldestMessage(), 's',
        `A failed batch of ${label} has been waiting in its failed-batches queue for the threshold or more.`);
    }
    if (consumer.deadLettersMetric) {
      this.count(`${id}DeadLetters`, this.props.deadLetters, 1, consumer.deadLettersMetric,
        `${label} sent records of ${streamName} to its dead-letter destination: they failed validation. Each dead letter carries the reason.`);
    }
  }

  /** Alarms on a function's errors and throttles. */
  public addFunction(id: string, label: string, fn: lambda.IFunction): void {
    this.count(`${id}Errors`, this.props.functionErrors, 1, fn.metricErrors(),
      `${label} failed: its invocations end in errors. See its log group.`);
    this.count(`${id}Throttles`, this.props.functionThrottles, 1, fn.metricThrottles(),
      `${label} is throttled: the account or function concurrency limit is reached.`);
  }

  public addTable(table: dynamodb.ITable): void {
    this.count('TableWriteThrottles', this.props.tableWriteThrottles, 1, table.metric('WriteThrottleEvents', { statistic: cloudwatch.Stats.SUM }),
      'Writes to the sensor table are throttled. The processor retries them, but it falls behind while they last.');
  }

  public addStream(stream: kinesis.IStream): void {
    this.count('StreamWriteThroughputExceeded', this.props.streamWriteThroughputExceeded, 1,
      stream.metricWriteProvisionedThroughputExceeded({ statistic: cloudwatch.Stats.SUM }),
      'Puts on the stream are refused for throughput: devices are throttled. Add shards or use on-demand mode.');
    this.count('StreamReadThroughputExceeded', this.props.streamReadThroughputExceeded, 3,
      stream.metricReadProvisionedThroughputExceeded({ statistic: cloudwatch.Stats.SUM }),
      'Reads of the stream are refused for throughput: its consumers share 5 reads and 2 MB per second per shard. '
      + 'Fewer consumers, larger batches or enhanced fan-out help.');
  }

  /** Alarms on the messages an ingress could not put on the stream. */
  public addIngress(failedMessages: cloudwatch.IMetric): void {
    this.count('IngressFailures', this.props.ingressFailures, 1, failedMessages,
      'The ingress could not put device messages on the stream. Each one is in its error log with the reason and its payload.');
  }

  /** Alarms on a Firehose archiver: records left undelivered and failed S3 writes. */
  public addDeliveryStream(deliveryStream: firehose.IDeliveryStream): void {
    const name = deliveryStream.deliveryStreamName;
    this.age('ArchiveDataFreshness', this.props.archiveDataFreshness, Duration.hours(1),
      deliveryStream.metric('DeliveryToS3.DataFreshness'), 's',
      `The Firehose archiver ${name} holds records it has not written to S3 for the threshold or more. See its error log and the DeliveryToS3 metrics.`);
    this.count('ArchiveDeliveryFailures', this.props.archiveDeliveryFailures, 1, new cloudwatch.MathExpression({
      expression: '100 * (1 - success)',
      usingMetrics: { success: deliveryStream.metric('DeliveryToS3.Success', { statistic: cloudwatch.Stats.AVERAGE }) },
      label: 'failed S3 writes (%)',
    }), `Writes of the Firehose archiver ${name} to S3 failed (the threshold is a percentage of its writes). Firehose retries them `
      + 'for up to a day; see its error log.');
    const limit = this.props.archivePartitionCountExceeded;
    if (limit?.enabled !== false) {
      // A 0-or-1 metric: the maximum says whether the quota was reached at any time of the period.
      this.alarm('ArchivePartitionCountExceeded', partitioningMetrics(deliveryStream).exceeded, 1, limit?.evaluationPeriods ?? 1, limit?.period,
        cloudwatch.Stats.MAXIMUM, `The Firehose archiver ${name} reached its quota of active partitions (500 per delivery stream unless raised): `
        + 'the records past it went to its error output prefix under activePartitionExceeded/, not to the archive. Raise the quota '
        + '(up to 5,000), partition less finely or buffer for less time, then put those records back on the stream.');
    }
  }

  /** Alarms on the records an archiver kept out of the archive's data. */
  public addArchiveRejectedRecords(rejectedRecords: cloudwatch.IMetric): void {
    this.count('ArchiveRejectedRecords', this.props.archiveRejectedRecords, 1, rejectedRecords,
      'The archiver wrote records to its error prefix instead of the archive\'s data: each is there whole, with the reason.');
  }

  /** Alarms on the 5xx answers of the query endpoint. */
  public addQueryEndpoint(serverErrors: cloudwatch.IMetric): void {
    this.count('QueryEndpointServerErrors', this.props.queryEndpointServerErrors, 1, serverErrors,
      'The query endpoint answered requests with a 5xx status. See the query function\'s log group and the endpoint\'s access logs.');
  }

  /**
   * The composite "pipeline unhealthy" alarm: fires when any alarm of the
   * pipeline does, those added later included.
   */
  public addComposite(): cloudwatch.CompositeAlarm {
    const rule = Lazy.string({ produce: () => cloudwatch.AlarmRule.anyOf(...this.created).renderAlarmRule() });
    this.composite = new cloudwatch.CompositeAlarm(this, 'PipelineUnhealthy', {
      alarmRule: cloudwatch.AlarmRule.fromString(rule),
      alarmDescription: 'The sensor ingest pipeline is unhealthy: one of its alarms fires. The alarm that fires says what is wrong.',
    });
    for (const action of this.props.actions ?? []) this.composite.addAlarmAction(action);
    return this.composite;
  }

  private count(id: string, options: CountAlarmOptions | undefined, defaultPeriods: number, metric: cloudwatch.IMetric, description: string): void {
    if (options?.enabled === false) return;
    this.alarm(id, metric, options?.threshold ?? 1, options?.evaluationPeriods ?? defaultPeriods, options?.period, cloudwatch.Stats.SUM, description);
  }

  /** An alarm on an age metric, which is in milliseconds (`ms`, Lambda's IteratorAge) or seconds (`s`, SQS). */
  private age(id: string, options: AgeAlarmOptions | undefined, defaultThreshold: Duration, metric: cloudwatch.IMetric,
    unit: 'ms' | 's', description: string): void {
    if (options?.enabled === false) return;
    const threshold = options?.threshold ?? defaultThreshold;
    this.alarm(id, metric, unit === 'ms' ? threshold.toMilliseconds() : threshold.toSeconds(), options?.evaluationPeriods ?? 1,
      options?.period, cloudwatch.Stats.MAXIMUM, `${description} (threshold ${threshold.toHumanString()})`);
  }

  private alarm(id: string, metric: cloudwatch.IMetric, threshold: number, evaluationPeriods: number, period: Duration | undefined,
    statistic: string, description: string): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric: withStatistic(metric, statistic, period ?? Duration.minutes(5)),
      threshold,
      evaluationPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data is no trouble: a quiet stream sends no records, a healthy queue receives none.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description.charAt(0).toUpperCase() + description.slice(1),
    });
    if (this.props.actionsOnEveryAlarm) for (const action of this.props.actions ?? []) alarm.addAlarmAction(action);
    this.created.push(alarm);
  }
}

/** The metric with its statistic and period set; a metric of another kind (an expression) keeps its own statistic. */
export function withStatistic(metric: cloudwatch.IMetric, statistic: string, period: Duration): cloudwatch.IMetric {
  if (metric instanceof cloudwatch.Metric) return metric.with({ statistic, period });
  if (metric instanceof cloudwatch.MathExpression) return metric.with({ period });
  return metric;
}
