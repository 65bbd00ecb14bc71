import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { partitioningMetrics } from './monitoring';
import { SensorMetric } from '../pipeline-interfaces';

const PERIOD = Duration.minutes(5);
const HEIGHT = 6;

/** How many sensors the "top sensors" graph shows. */
export const TOP_SENSORS = 10;

/** A part of the pipeline as the dashboard shows it. */
export interface DashboardPart {
  /** Its name in legends: "processor", "archiver", "query". */
  readonly label: string;
  readonly fn: lambda.IFunction;
  /** Whether it reads the stream (it then has an iterator age). */
  readonly consumer: boolean;
}

/**
 * The pipeline's dashboard: records in, how far behind each consumer is,
 * readings stored, what was rejected, how each function runs, the archive,
 * the sensor metric of the busiest sensors, and the alarms. Graphs hold one
 * line per part, parts added later included.
 */
export class PipelineDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  private readonly iteratorAge: cloudwatch.GraphWidget;
  private readonly invocations: cloudwatch.GraphWidget;
  private readonly errors: cloudwatch.GraphWidget;
  private readonly duration: cloudwatch.GraphWidget;
  private readonly stored: cloudwatch.GraphWidget;
  private readonly rejected: cloudwatch.GraphWidget;
  private readonly archive: cloudwatch.GraphWidget;
  private readonly sensors: cloudwatch.GraphWidget;
  private readonly incoming: cloudwatch.GraphWidget;
  private sensorMetric?: SensorMetric;

  constructor(scope: Construct, id: string, props: { readonly dashboardName?: string; readonly stream: kinesis.IStream }) {
    super(scope, id);
    const graph = (title: string, left: cloudwatch.IMetric[] = [], width = 8, extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
      new cloudwatch.GraphWidget({ title, left, width, height: HEIGHT, period: PERIOD, ...extra });
    const stream = props.stream;
    this.iteratorAge = graph('Iterator age per consumer (ms, max)');
    this.invocations = graph('Invocations');
    this.errors = graph('Errors and throttles');
    this.duration = graph('Duration (ms, p99)');
    this.stored = graph('Readings stored');
    this.rejected = graph('Dead letters and failed batches');
    this.archive = graph('Archive objects written');
    this.sensors = graph(`Sensor metric, top ${TOP_SENSORS} sensors`, [], 16);
    this.dashboard = new cloudwatch.Dashboard(this, 'Resource', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    this.incoming = graph('Incoming records', [stream.metricIncomingRecords({ statistic: cloudwatch.Stats.SUM, label: 'records' })]);
    this.dashboard.addWidgets(
      this.incoming,
      graph('Incoming bytes', [stream.metricIncomingBytes({ statistic: cloudwatch.Stats.SUM, label: 'bytes' })]),
      graph('Stream throughput exceeded', [
        stream.metricWriteProvisionedThroughputExceeded({ statistic: cloudwatch.Stats.SUM, label: 'writes refused' }),
        stream.metricReadProvisionedThroughputExceeded({ statistic: cloudwatch.Stats.SUM, label: 'reads refused' }),
      ]),
    );
    this.dashboard.addWidgets(this.iteratorAge, this.stored, this.rejected);
    this.dashboard.addWidgets(this.invocations, this.errors, this.duration);
    this.dashboard.addWidgets(this.archive, this.sensors);
  }

  /** Lines for one function of the pipeline. */
  public addPart(part: DashboardPart): void {
    const { label, fn } = part;
    if (part.consumer) this.iteratorAge.addLeftMetric(fn.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, label }));
    this.invocations.addLeftMetric(fn.metricInvocations({ statistic: cloudwatch.Stats.SUM, label }));
    this.errors.addLeftMetric(fn.metricErrors({ statistic: cloudwatch.Stats.SUM, label: `${label} errors` }));
    this.errors.addLeftMetric(fn.metricThrottles({ statistic: cloudwatch.Stats.SUM, label: `${label} throttles` }));
    this.duration.addLeftMetric(fn.metricDuration({ statistic: cloudwatch.Stats.p(99), label }));
  }

  public addReadingsStored(label: string, metric: cloudwatch.IMetric): void {
    this.stored.addLeftMetric(relabel(metric, label));
  }

  public addRejected(label: string, metric: cloudwatch.IMetric): void {
    this.rejected.addLeftMetric(relabel(metric, label));
  }

  public addArchiveObjects(label: string, metric: cloudwatch.IMetric): void {
    this.archive.addLeftMetric(relabel(metric, label));
  }

  /** The ingress: messages it received beside the records in, and those it could not put among the rejected. */
  public addIngress(received: cloudwatch.IMetric | undefined, failed: cloudwatch.IMetric | undefined): void {
    if (received) this.incoming.addLeftMetric(relabel(received, 'messages matched by the ingress'));
    if (failed) this.addRejected('ingress failures', failed);
  }

  /**
   * A Firehose archiver: how old its oldest undelivered record is, on the
   * right axis of the archive graph; and its active partitions against their
   * quota, past which records go to the error prefix.
   */
  public addDeliveryStream(deliveryStream: firehose.IDeliveryStream): void {
    this.archive.addRightMetric(deliveryStream.metric('DeliveryToS3.DataFreshness', {
      statistic: cloudwatch.Stats.MAXIMUM, period: PERIOD, label: 'oldest record not yet archived (s)',
    }));
    const partitions = partitioningMetrics(deliveryStream);
    this.dashboard.addWidgets(new cloudwatch.GraphWidget({
      title: 'Archive active partitions (max) and their quota',
      left: [partitions.count, partitions.limit],
      width: 8,
      height: HEIGHT,
      period: PERIOD,
    }));
  }

  /** The query endpoint's 5xx answers beside the functions' errors. */
  public addQueryEndpoint(serverErrors: cloudwatch.IMetric): void {
    this.errors.addLeftMetric(relabel(serverErrors, 'query endpoint 5xx'));
  }

  /**
   * The busiest sensors of a per-sensor metric (the first processor's that
   * publishes one): a metric math SEARCH over the dimension, sorted by the
   * largest sample count.
   */
  public addSensorMetric(metric: SensorMetric): void {
    if (this.sensorMetric) return;
    this.sensorMetric = metric;
    const search = `SEARCH('{${metric.namespace},${metric.dimensionName}} MetricName="${metric.metricName}"', 'Average', ${PERIOD.toSeconds()})`;
    this.sensors.addLeftMetric(new cloudwatch.MathExpression({
      expression: `SORT(${search}, MAX, DESC, ${TOP_SENSORS})`,
      usingMetrics: {},
      label: metric.metricName,
      period: PERIOD,
    }));
  }

  /** A row of the alarms' states: `alarms` is read when the template is written, so alarms added later show too. */
  public addAlarms(alarms: cloudwatch.IAlarm[]): void {
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 4 }));
  }
}

function relabel(metric: cloudwatch.IMetric, label: string): cloudwatch.IMetric {
  if (metric instanceof cloudwatch.Metric) return metric.with({ label, statistic: cloudwatch.Stats.SUM, period: PERIOD });
  if (metric instanceof cloudwatch.MathExpression) return metric.with({ label, period: PERIOD });
  return metric;
}
