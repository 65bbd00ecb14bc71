import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { logicalId, newStack, synth } from './util';
import { Archiver, DeadLetterDestination, Ingress, IngestProcessor, MetricsMode, PipelineAlarmsProps, QueryEndpoint, SensorIngestPipeline } from '../../src';

type Alarm = { Properties: Record<string, any> };

/** Alarms by the logical id prefix of their construct path under Pipeline/Alarms. */
function alarmsOf(template: Template): Record<string, Alarm> {
  const out: Record<string, Alarm> = {};
  for (const [id, alarm] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
    out[id.replace(/^PipelineAlarms/, '').replace(/[0-9A-F]{8}$/, '')] = alarm as Alarm;
  }
  return out;
}

const fnRef = (template: Template, prefix: string) => ({ Ref: logicalId(template, 'AWS::Lambda::Function', prefix) });

describe('alarms by default', () => {
  const { template, pipeline } = synth();
  const alarms = alarmsOf(template);

  test('one per sign of trouble, every one returned as pipeline.alarms', () => {
    expect(Object.keys(alarms).sort()).toEqual([
      'ArchiverErrors', 'ArchiverFailedBatches', 'ArchiverFailedBatchesAge', 'ArchiverIteratorAge', 'ArchiverThrottles',
      'ProcessorDeadLetters', 'ProcessorErrors', 'ProcessorFailedBatches', 'ProcessorFailedBatchesAge', 'ProcessorIteratorAge', 'ProcessorThrottles',
      'QueryErrors', 'QueryThrottles',
      'StreamReadThroughputExceeded', 'StreamWriteThroughputExceeded', 'TableWriteThrottles',
    ]);
    expect(pipeline.alarms).toHaveLength(16);
    // No actions unless asked: a pipeline never pages anyone by surprise.
    for (const alarm of Object.values(alarms)) expect(alarm.Properties.AlarmActions).toBeUndefined();
  });

  test('iterator age of each consumer, by its function, at a quarter of the stream retention', () => {
    expect(alarms.ProcessorIteratorAge.Properties).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: fnRef(template, 'PipelineProcessorFunction') }],
      Statistic: 'Maximum',
      Threshold: 6 * 3_600_000,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      Period: 300,
      TreatMissingData: 'notBreaching',
    });
    expect(alarms.ArchiverIteratorAge.Properties.Dimensions).toEqual([{ Name: 'FunctionName', Value: fnRef(template, 'PipelineArchiverFunction') }]);
    // The description names the stream the consumer falls behind.
    expect(JSON.stringify(alarms.ProcessorIteratorAge.Properties.AlarmDescription)).toContain(logicalId(template, 'AWS::Kinesis::Stream', 'PipelineStream'));
  });

  test('errors and throttles of each function', () => {
    for (const [alarm, fn] of [['ProcessorErrors', 'PipelineProcessorFunction'], ['ArchiverErrors', 'PipelineArchiverFunction'], ['QueryErrors', 'PipelineQueryFunction']]) {
      expect(alarms[alarm].Properties).toMatchObject({ MetricName: 'Errors', Statistic: 'Sum', Threshold: 1, Dimensions: [{ Name: 'FunctionName', Value: fnRef(template, fn) }] });
    }
    expect(alarms.QueryThrottles.Properties).toMatchObject({ MetricName: 'Throttles', Statistic: 'Sum', Threshold: 1 });
  });

  test('dead letters and failed batches: any message sent, and a failed batch left a day', () => {
    expect(alarms.ProcessorDeadLetters.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'NumberOfMessagesSent',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'PipelineProcessorDeadLetterQueue'), 'QueueName'] } }],
      Statistic: 'Sum',
      Threshold: 1,
    });
    expect(alarms.ArchiverFailedBatches.Properties.Dimensions).toEqual([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::SQS::Queue', 'PipelineArchiverFailedBatches'), 'QueueName'] } }]);
    expect(alarms.ProcessorFailedBatchesAge.Properties).toMatchObject({ MetricName: 'ApproximateAgeOfOldestMessage', Statistic: 'Maximum', Threshold: 86_400 });
  });

  test('the table\'s throttled writes and the stream\'s refused reads and writes, with their dimensions', () => {
    expect(alarms.TableWriteThrottles.Properties).toMatchObject({
      Namespace: 'AWS/DynamoDB',
      MetricName: 'WriteThrottleEvents',
      Statistic: 'Sum',
      Dimensions: [{ Name: 'TableName', Value: { Ref: logicalId(template, 'AWS::DynamoDB::Table', 'PipelineTable') } }],
    });
    const stream = [{ Name: 'StreamName', Value: { Ref: logicalId(template, 'AWS::Kinesis::Stream', 'PipelineStream') } }];
    expect(alarms.StreamWriteThroughputExceeded.Properties).toMatchObject({ MetricName: 'WriteProvisionedThroughputExceeded', Statistic: 'Sum', Dimensions: stream, EvaluationPeriods: 1 });
    // Event source mappings retry refused reads themselves: only a sustained refusal fires.
    expect(alarms.StreamReadThroughputExceeded.Properties).toMatchObject({ MetricName: 'ReadProvisionedThroughputExceeded', Dimensions: stream, EvaluationPeriods: 3 });
  });

  test('a composite "pipeline unhealthy" alarm over all of them', () => {
    const composites = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'));
    expect(composites).toHaveLength(1);
    const rule = JSON.stringify(composites[0].Properties.AlarmRule);
    for (const id of Object.keys(template.findResources('AWS::CloudWatch::Alarm'))) expect(rule).toContain(id);
    expect(rule.match(/ALARM\(/g)).toHaveLength(16);
    expect(pipeline.unhealthyAlarm).toBeDefined();
  });
});

describe('alarm props', () => {
  test('actions go on the composite alarm, or on every alarm when asked', () => {
    const stack = newStack();
    const topic = new sns.Topic(stack, 'Pager');
    new SensorIngestPipeline(stack, 'Pipeline', { alarms: { actions: [new cloudwatchActions.SnsAction(topic)] } });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', { AlarmActions: [{ Ref: logicalId(template, 'AWS::SNS::Topic', 'Pager') }] });
    for (const alarm of Object.values(alarmsOf(template))) expect(alarm.Properties.AlarmActions).toBeUndefined();

    const every = newStack();
    new SensorIngestPipeline(every, 'Pipeline', { alarms: { actions: [new cloudwatchActions.SnsAction(new sns.Topic(every, 'Pager'))], actionsOnEveryAlarm: true } });
    for (const alarm of Object.values(alarmsOf(Template.fromStack(every)))) expect(alarm.Properties.AlarmActions).toHaveLength(1);
  });

  test('each alarm can be turned off, and its threshold, periods and period set', () => {
    const props: PipelineAlarmsProps = {
      iteratorAge: { threshold: Duration.minutes(30), evaluationPeriods: 2, period: Duration.minutes(1) },
      functionThrottles: { enabled: false },
      tableWriteThrottles: { threshold: 100 },
      streamReadThroughputExceeded: { enabled: false },
      failedBatchesAge: { threshold: Duration.hours(2) },
    };
    const alarms = alarmsOf(synth({ alarms: props }).template);
    expect(alarms.ProcessorIteratorAge.Properties).toMatchObject({ Threshold: 1_800_000, EvaluationPeriods: 2, Period: 60 });
    expect(Object.keys(alarms).filter((id) => id.endsWith('Throttles') && id !== 'TableWriteThrottles')).toEqual([]);
    expect(alarms.StreamReadThroughputExceeded).toBeUndefined();
    expect(alarms.TableWriteThrottles.Properties.Threshold).toBe(100);
    expect(alarms.ArchiverFailedBatchesAge.Properties.Threshold).toBe(7_200);
  });

  test('the iterator age threshold follows the stream retention', () => {
    const alarms = alarmsOf(synth({ retentionPeriod: Duration.days(7) }).template);
    expect(alarms.ProcessorIteratorAge.Properties.Threshold).toBe(42 * 3_600_000);
  });

  test('alarms off: none, and no composite', () => {
    const { template, pipeline } = synth({ alarms: { enabled: false } });
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    template.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 0);
    expect(pipeline.alarms).toEqual([]);
    expect(pipeline.unhealthyAlarm).toBeUndefined();
  });

  test('processors added later get their alarms, and the composite watches them', () => {
    const stack = newStack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', { archiver: Archiver.none() });
    pipeline.addProcessor('Hot', IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE }));
    const template = Template.fromStack(stack);
    const alarms = alarmsOf(template);
    expect(Object.keys(alarms).filter((id) => id.startsWith('Hot')).sort())
      .toEqual(['HotDeadLetters', 'HotErrors', 'HotFailedBatches', 'HotFailedBatchesAge', 'HotIteratorAge', 'HotThrottles']);
    const rule = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'))[0].Properties.AlarmRule);
    expect(rule).toContain(logicalId(template, 'AWS::CloudWatch::Alarm', 'PipelineAlarmsHotIteratorAge'));
    expect(pipeline.alarms.length).toBe(Object.keys(alarms).length);
  });

  test('dead letters in a bucket are counted from the processor\'s log line by a metric filter', () => {
    const stack = newStack();
    new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.dynamoDb({ deadLetterDestination: DeadLetterDestination.bucket(new s3.Bucket(stack, 'B')) }) });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(template, 'AWS::Logs::LogGroup', 'PipelineProcessorFunctionLogs') },
      FilterPattern: '{ $.message = "records sent to the dead-letter destination" }',
      MetricTransformations: [Match.objectLike({ MetricNamespace: 'SensorIngestPipeline', MetricValue: '$.count' })],
    });
    const deadLetters = alarmsOf(template).ProcessorDeadLetters.Properties;
    expect(deadLetters).toMatchObject({ Namespace: 'SensorIngestPipeline', Statistic: 'Sum' });
    expect(deadLetters.MetricName).toMatch(/DeadLetters$/);
  });

  test('a function of your own: iterator age, errors and throttles by its name; no dead letters it does not have', () => {
    const stack = newStack();
    const fn = lambda.Function.fromFunctionAttributes(stack, 'Mine', {
      functionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:my-processor',
      role: iam.Role.fromRoleName(stack, 'MineRole', 'my-processor-role'),
    });
    new SensorIngestPipeline(stack, 'Pipeline', { processor: IngestProcessor.fromFunction(fn, { grantTableAccess: false }) });
    const alarms = alarmsOf(Template.fromStack(stack));
    expect(alarms.ProcessorIteratorAge.Properties.Dimensions).toEqual([{ Name: 'FunctionName', Value: 'my-processor' }]);
    expect(alarms.ProcessorDeadLetters).toBeUndefined();
  });

  const invalid: Array<[string, PipelineAlarmsProps, RegExp]> = [
    ['threshold 0', { deadLetters: { threshold: 0 } }, /SensorIngestPipelineProps\.alarms\.deadLetters\.threshold must be an integer from 1 to/],
    ['iterator age 10 seconds', { iteratorAge: { threshold: Duration.seconds(10) } }, /SensorIngestPipelineProps\.alarms\.iteratorAge\.threshold must be from 1 minute to 365 days, got 10 seconds/],
    ['0 evaluation periods', { functionErrors: { evaluationPeriods: 0 } }, /SensorIngestPipelineProps\.alarms\.functionErrors\.evaluationPeriods must be an integer from 1 to 100/],
    ['a 90 s period', { functionErrors: { period: Duration.seconds(90) } }, /SensorIngestPipelineProps\.alarms\.functionErrors\.period must be whole minutes, got 1 minute 30 seconds/],
    ['archive freshness 30 seconds', { archiveDataFreshness: { threshold: Duration.seconds(30) } }, /SensorIngestPipelineProps\.alarms\.archiveDataFreshness\.threshold must be from 1 minute/],
    ['ingress failures threshold 0', { ingressFailures: { threshold: 0 } }, /SensorIngestPipelineProps\.alarms\.ingressFailures\.threshold must be an integer from 1/],
    ['0 periods of query endpoint errors', { queryEndpointServerErrors: { evaluationPeriods: 0 } }, /SensorIngestPipelineProps\.alarms\.queryEndpointServerErrors\.evaluationPeriods must be an integer from 1 to 100/],
    ['101 periods at the partition quota', { archivePartitionCountExceeded: { evaluationPeriods: 101 } },
      /SensorIngestPipelineProps\.alarms\.archivePartitionCountExceeded\.evaluationPeriods must be an integer from 1 to 100/],
    ['a 30 s period at the partition quota', { archivePartitionCountExceeded: { period: Duration.seconds(30) } },
      /SensorIngestPipelineProps\.alarms\.archivePartitionCountExceeded\.period must be from 1 minute/],
  ];
  test('the ingress, the Firehose archiver and the query endpoint add their alarms, under the composite, each with its options', () => {
    const { template, pipeline } = synth({
      ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
      archiver: Archiver.firehose({ parquet: {} }),
      queryEndpoint: QueryEndpoint.functionUrl(),
      alarms: { archiveDataFreshness: { threshold: Duration.minutes(20) }, ingressFailures: { threshold: 5, period: Duration.minutes(1) } },
    });
    const alarms = alarmsOf(template);
    for (const name of ['IngressFailures', 'ArchiveDataFreshness', 'ArchiveDeliveryFailures', 'ArchiveRejectedRecords', 'ArchivePartitionCountExceeded',
      'QueryEndpointServerErrors']) {
      expect(Object.keys(alarms)).toContain(name);
    }
    // No archiver function, so none of its alarms.
    expect(Object.keys(alarms).filter((a) => a.startsWith('Archiver'))).toEqual([]);
    expect(alarms.ArchiveDataFreshness.Properties).toMatchObject({ MetricName: 'DeliveryToS3.DataFreshness', Threshold: 1_200 });
    expect(alarms.IngressFailures.Properties).toMatchObject({ Threshold: 5 });
    expect(JSON.stringify(alarms.IngressFailures.Properties.Metrics)).toContain('"Period":60');
    expect(alarms.ArchiveRejectedRecords.Properties).toMatchObject({ Namespace: 'AWS/Firehose', MetricName: 'FailedConversion.Records' });
    const rule = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'))[0].Properties.AlarmRule);
    for (const id of Object.keys(template.findResources('AWS::CloudWatch::Alarm'))) expect(rule).toContain(id);
    expect(pipeline.alarms).toHaveLength(Object.keys(alarms).length);
  });

  test('the Firehose archiver\'s active partitions at their quota fire an alarm: records past it leave the archive for the error prefix', () => {
    const { template } = synth({ archiver: Archiver.firehose({ partitionBySensor: true }) });
    const alarm = alarmsOf(template).ArchivePartitionCountExceeded;
    expect(alarm.Properties).toMatchObject({
      Namespace: 'AWS/Firehose',
      MetricName: 'PartitionCountExceeded',
      Dimensions: [{ Name: 'DeliveryStreamName', Value: { Ref: logicalId(template, 'AWS::KinesisFirehose::DeliveryStream', 'PipelineArchiverDeliveryStream') } }],
      // Firehose reports 0 or 1: the maximum over the period says whether the quota was reached in it.
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      Period: 300,
      TreatMissingData: 'notBreaching',
    });
    expect(JSON.stringify(alarm.Properties.AlarmDescription)).toMatch(/reached its quota of active partitions \(500 per delivery stream unless raised\).*activePartitionExceeded\//);
    const composite = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'))[0].Properties.AlarmRule);
    expect(composite).toContain(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).find((id) => id.includes('ArchivePartitionCountExceeded')));

    const tuned = alarmsOf(synth({
      archiver: Archiver.firehose(), alarms: { archivePartitionCountExceeded: { evaluationPeriods: 3, period: Duration.minutes(1) } },
    }).template).ArchivePartitionCountExceeded;
    expect(tuned.Properties).toMatchObject({ EvaluationPeriods: 3, Period: 60, Threshold: 1 });
    const off = synth({ archiver: Archiver.firehose(), alarms: { archivePartitionCountExceeded: { enabled: false } } }).template;
    expect(alarmsOf(off).ArchivePartitionCountExceeded).toBeUndefined();
  });

  test.each(invalid)('%s fails at synth naming the prop', (_name, alarms, message) => {
    expect(() => synth({ alarms })).toThrow(message);
  });

  test('every alarm turned off one by one: no alarm and no composite with an empty rule', () => {
    const off = { enabled: false };
    const stack = new Stack();
    const pipeline = new SensorIngestPipeline(stack, 'Pipeline', {
      ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
      archiver: Archiver.firehose({ parquet: {} }),
      queryEndpoint: QueryEndpoint.httpApi(),
      alarms: {
        iteratorAge: off,
        functionErrors: off,
        functionThrottles: off,
        deadLetters: off,
        failedBatches: off,
        failedBatchesAge: off,
        tableWriteThrottles: off,
        streamWriteThroughputExceeded: off,
        streamReadThroughputExceeded: off,
        ingressFailures: off,
        archiveDataFreshness: off,
        archiveDeliveryFailures: off,
        archiveRejectedRecords: off,
        archivePartitionCountExceeded: off,
        queryEndpointServerErrors: off,
      },
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    template.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 0);
    expect(pipeline.unhealthyAlarm).toBeUndefined();
  });
});

describe('dashboard', () => {
  test('none unless asked', () => {
    const { template, pipeline } = synth();
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(pipeline.dashboard).toBeUndefined();
  });

  test('the panels of a pipeline, with every part and the alarms', () => {
    const { template, pipeline } = synth({ dashboard: true, dashboardName: 'plant-7' });
    expect(pipeline.dashboard).toBeDefined();
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties;
    expect(dashboard.DashboardName).toBe('plant-7');
    const body = JSON.stringify(dashboard.DashboardBody);
    for (const title of ['Incoming records', 'Incoming bytes', 'Stream throughput exceeded', 'Iterator age per consumer', 'Readings stored',
      'Dead letters and failed batches', 'Invocations', 'Errors and throttles', 'Duration (ms, p99)', 'Archive objects written',
      'Sensor metric, top 10 sensors', 'Alarms']) {
      expect(body).toContain(title);
    }
    expect(body).toContain('SORT(SEARCH(\'{Sensors,SensorId} MetricName=\\\\\\"SensorData\\\\\\"\', \'Average\', 300), MAX, DESC, 10)');
    for (const fn of ['PipelineProcessorFunction', 'PipelineArchiverFunction', 'PipelineQueryFunction']) {
      expect(body).toContain(logicalId(template, 'AWS::Lambda::Function', fn));
    }
    // Readings stored and archive objects come from the handlers' log lines.
    template.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.message = "batch processed" }', MetricTransformations: [Match.objectLike({ MetricValue: '$.stored' })] });
    template.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.message = "batch archived" }', MetricTransformations: [Match.objectLike({ MetricValue: '$.objects' })] });
  });

  test('a processor with no sensor metric has no top-sensors graph line; an on-demand stream works the same', () => {
    const { template } = synth({
      dashboard: true,
      streamMode: kinesis.StreamMode.ON_DEMAND,
      processor: IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE }),
    });
    expect(JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody)).not.toContain('SEARCH(');
  });

  test('the ingress, the Firehose archiver and the query endpoint draw their lines', () => {
    const { template } = synth({
      dashboard: true,
      ingress: Ingress.iotTopicRule({ sql: "SELECT * FROM 'sensors/+/readings'" }),
      archiver: Archiver.firehose({ parquet: {} }),
      queryEndpoint: QueryEndpoint.httpApi(),
    });
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    for (const label of ['messages matched by the ingress', 'ingress failures', 'records delivered', 'oldest record not yet archived (s)',
      'archive rejected records', 'query endpoint 5xx']) {
      expect(body).toContain(label);
    }
    for (const metric of ['TopicMatch', 'DeliveryToS3.Records', 'DeliveryToS3.DataFreshness', 'FailedConversion.Records', '5xx']) expect(body).toContain(metric);
    // The active partitions beside their quota, and the partition alarm among the alarms.
    expect(body).toContain('Archive active partitions (max) and their quota');
    for (const metric of ['PartitionCount', 'ActivePartitionsLimit']) expect(body).toMatch(new RegExp(`AWS/Firehose\\W+${metric}\\W+DeliveryStreamName`));
    expect(body).toContain(logicalId(template, 'AWS::CloudWatch::Alarm', 'PipelineAlarmsArchivePartitionCountExceeded'));
  });

  test('dashboardName without dashboard is refused', () => {
    expect(() => synth({ dashboardName: 'x' })).toThrow(/SensorIngestPipelineProps\.dashboardName needs SensorIngestPipelineProps\.dashboard: true/);
  });
});

describe('metricSensor', () => {
  test('one sensor\'s metric, as the processor publishes it', () => {
    const { pipeline } = synth({ processor: IngestProcessor.dynamoDb({ metricNamespace: 'Plant', metricName: 'Reading', metricDimensionName: 'Device' }) });
    const metric = pipeline.metricSensor('s-1', { period: Duration.minutes(1) });
    expect(metric.namespace).toBe('Plant');
    expect(metric.metricName).toBe('Reading');
    expect(metric.dimensions).toEqual({ Device: 's-1' });
    expect(metric.period.toSeconds()).toBe(60);
  });

  test('no metric, no metricSensor', () => {
    const { pipeline } = synth({ processor: IngestProcessor.dynamoDb({ metricsMode: MetricsMode.NONE }) });
    expect(() => pipeline.metricSensor('s-1')).toThrow(/the processor publishes no per-sensor metric/);
  });
});
