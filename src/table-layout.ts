import { TableLayoutName } from './private/handler-contract';

/** Options of the per-reading layout. */
export interface PerReadingLayoutOptions {
  /**
   * Keep per-sensor aggregates (count, sum, min, max, first and last time)
   * of every minute, hour and day, for queries with a `resolution`. In this
   * layout each batch then also raises a counter and reads back each minute
   * it wrote (a strongly consistent Query) before writing the minute's hour
   * and day entries: several write units per sensor and batch on top of one
   * per reading.
   *
   * @default false
   */
  readonly rollups?: boolean;
}

/** Options of the packed layout. */
export interface PackedLayoutOptions {
  /**
   * Keep per-sensor aggregates (count, sum, min, max, first and last time)
   * of every minute, hour and day, for queries with a `resolution`. Each
   * batch writes one hour entry and one day entry per sensor and hour it
   * holds readings of.
   *
   * @default true
   */
  readonly rollups?: boolean;
}

/**
 * How the pipeline's table holds readings. Both layouts answer the same
 * queries (raw readings, newest first, time ranges, paging; rollups with a
 * `resolution` where they are kept) and keep every reading exactly once
 * under redelivery. The item schema of each is in the README.
 *
 * @example
 * import { Duration } from 'aws-cdk-lib';
 * import { SensorIngestPipeline, TableLayout } from 'cdk-iot-ingest';
 *
 * new SensorIngestPipeline(this, 'Pipeline', {
 *   tableLayout: TableLayout.packed(),
 *   retention: Duration.days(90),
 * });
 */
export class TableLayout {
  /**
   * One item per reading: `SensorId`, `Timestamp` (the reading's ISO-8601
   * time) and `Value`. One write unit per reading, written 25 to a
   * BatchWriteItem.
   */
  public static perReading(options: PerReadingLayoutOptions = {}): TableLayout {
    return new TableLayout('PER_READING', options.rollups ?? false);
  }

  /**
   * The readings of one sensor and minute in one item, one attribute per
   * reading (about 10 bytes each), written with UpdateItem. A write unit
   * pays for 1 KB: a batch that holds a minute of a sensor reporting once a
   * second writes its 60 readings for one unit. What a batch holds of each
   * sensor sets the cost, so the processor's event source mapping gathers
   * up to 10,000 records or 60 seconds by default in this layout.
   */
  public static packed(options: PackedLayoutOptions = {}): TableLayout {
    return new TableLayout('PACKED', options.rollups ?? true);
  }

  /** `PER_READING` or `PACKED`. */
  public readonly kind: string;
  /** Whether per-minute, per-hour and per-day aggregates are kept. */
  public readonly rollups: boolean;

  private constructor(kind: TableLayoutName, rollups: boolean) {
    this.kind = kind;
    this.rollups = rollups;
  }
}
