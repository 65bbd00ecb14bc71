/**
 * A device simulator: `devices` sensors sending readings at `rate` readings
 * per second in all, `malformedShare` of them malformed in one of four ways,
 * either put on the stream directly (PutRecords, partition key = sensor id)
 * or published to AWS IoT Core, whose topic rule puts them on the stream.
 * Each sensor's readings have strictly increasing timestamps, so every valid
 * reading has a table key of its own and can be counted exactly. A device
 * may batch its readings: `readingsPerRecord` of them in one record, as a
 * JSON array or (`kpl`) as the user records of a KPL aggregate.
 */
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DEFAULT_PAYLOAD_FIELDS, MALFORMED_KINDS, malformedPayload, MalformedKind, PayloadFields, seededRandom, validPayload } from '../device-records';
import { aggregate } from '../kpl-aggregate';
import { PublishOutcome } from './iot-rules';

/** What became of a reading sent: on the stream, refused for now (send it again), or not put and never will be. */
export type SendResult = 'put' | 'retry' | 'not put';

export interface OutgoingReading {
  /** The record's bytes: JSON text, or a KPL aggregate. */
  readonly data: string | Buffer;
  readonly partitionKey: string;
  readonly sensorId: string;
}

const bytesOf = (data: string | Buffer) => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data);

/** Where the devices send their readings. */
export interface ReadingSink {
  /** A short description for the start-up line. */
  readonly description: string;
  send(records: readonly OutgoingReading[]): Promise<SendResult[]>;
}

/** PutRecords on the stream, as a device with Kinesis credentials does; refused records are sent again. */
export function streamSink(kinesis: KinesisClient, streamName: string): ReadingSink {
  return {
    description: `PutRecords on ${streamName}`,
    async send(records) {
      const out = await kinesis.send(new PutRecordsCommand({
        StreamName: streamName,
        Records: records.map((r) => ({ Data: bytesOf(r.data), PartitionKey: r.partitionKey })),
      }));
      return (out.Records ?? []).map((entry) => (entry.ErrorCode ? 'retry' : 'put'));
    },
  };
}

/**
 * Publishes each reading to AWS IoT Core on its sensor's topic; the topic
 * rule puts it on the stream, or sends it to its error action (a payload it
 * cannot key, for one), or filters it out: those are not put.
 */
export function topicSink(
  publish: (topic: string, payload: Buffer) => Promise<PublishOutcome>, topicFor: (sensorId: string) => string, description: string,
): ReadingSink {
  // Devices publish one message each, in parallel; a few in flight per batch keeps the order of a burst close to the order sent.
  const IN_FLIGHT = 16;
  return {
    description,
    async send(records) {
      const results: SendResult[] = new Array(records.length);
      let next = 0;
      const worker = async () => {
        while (next < records.length) {
          const i = next++;
          const outcome = await publish(topicFor(records[i].sensorId), bytesOf(records[i].data));
          results[i] = outcome.records.length > 0 ? 'put' : 'not put';
        }
      };
      await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, records.length) }, worker));
      return results;
    },
  };
}

export interface SimulatorOptions {
  readonly devices: number;
  /** Readings per second, all devices together. */
  readonly rate: number;
  /** Share of malformed readings, 0..1. */
  readonly malformedShare: number;
  /** Stop after this many readings. */
  readonly readings?: number;
  /** Stop after this long. */
  readonly durationMs?: number;
  readonly seed?: number;
  /** Prefix of the sensor ids. */
  readonly sensorPrefix?: string;
  /**
   * Readings a device puts in one record, default 1: a JSON array of them
   * (a malformed one among them is an element that is not a valid reading;
   * a record is never malformed JSON as a whole), or with `kpl` a KPL
   * aggregate of one user record per reading.
   */
  readonly readingsPerRecord?: number;
  /** Aggregate each record's readings as the Kinesis Producer Library does. */
  readonly kpl?: boolean;
  /** The fields of the app's payload mapping. Default: sensorid, timestamp, value. */
  readonly fields?: PayloadFields;
}

export interface SimulatorStats {
  /** Records that reached the stream (one per reading unless devices batch them). */
  records: number;
  /** Readings the devices sent. */
  sent: number;
  /** Readings that reached the stream. */
  put: number;
  /** Valid readings on the stream. */
  valid: number;
  /** Malformed readings on the stream (the processor dead-letters them). */
  malformed: number;
  /** Readings that never reached the stream: a topic rule filtered them out or sent them to its error action. */
  notPut: number;
  /** Records the stream refused (and the simulator put again). */
  throttled: number;
  byKind: Record<MalformedKind, number>;
}

/** A valid reading as the table will hold it, and when it was put. */
export interface PutReading {
  readonly sensorId: string;
  readonly timestamp: string;
  readonly value: number;
  readonly putAt: number;
}

const TICK_MS = 100;

export class DeviceSimulator {
  readonly stats: SimulatorStats = {
    records: 0,
    sent: 0,
    put: 0,
    valid: 0,
    malformed: 0,
    notPut: 0,
    throttled: 0,
    byKind: { 'bad JSON': 0, 'missing sensorid': 0, 'non-numeric value': 0, 'bad timestamp': 0 },
  };
  /** Resolves when the simulator has put all its readings (or was stopped). */
  readonly finished: Promise<void>;
  private stopped = false;
  private readonly random: () => number;
  private readonly sensors: string[];
  private readonly lastTimestamp: number[];
  private readonly values: number[];
  private resolveFinished!: () => void;
  private timer?: NodeJS.Timeout;
  private started = 0;
  private sending = false;
  /** Malformed readings made so far: the next kind follows from it. */
  private malformedMade = 0;

  constructor(
    private readonly sink: ReadingSink,
    private readonly options: SimulatorOptions,
    private readonly onPut: (readings: readonly PutReading[]) => void = () => undefined,
  ) {
    if (!(options.devices >= 1)) throw new Error('the simulator needs at least one device');
    if (!(options.rate > 0)) throw new Error('the simulator needs a positive rate');
    if (!(options.malformedShare >= 0 && options.malformedShare <= 1)) throw new Error('the malformed share must be between 0 and 1');
    const perRecord = options.readingsPerRecord ?? 1;
    if (!Number.isInteger(perRecord) || perRecord < 1) throw new Error('the readings per record must be a whole number, 1 or more');
    this.random = seededRandom(options.seed ?? 1);
    const prefix = options.sensorPrefix ?? 'device';
    this.sensors = Array.from({ length: options.devices }, (_, i) => `${prefix}-${String(i + 1).padStart(3, '0')}`);
    this.lastTimestamp = this.sensors.map(() => 0);
    this.values = this.sensors.map(() => Math.round((15 + this.random() * 10) * 100) / 100);
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
  }

  private get fields(): PayloadFields {
    return this.options.fields ?? DEFAULT_PAYLOAD_FIELDS;
  }

  get sinkDescription(): string {
    return this.sink.description;
  }

  start(): void {
    this.started = Date.now();
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.resolveFinished();
  }

  private get target(): number {
    const elapsed = Date.now() - this.started;
    let due = Math.floor((elapsed / 1000) * this.options.rate) + 1;
    if (this.options.readings !== undefined) due = Math.min(due, this.options.readings);
    return due;
  }

  private done(): boolean {
    if (this.options.readings !== undefined && this.stats.sent >= this.options.readings) return true;
    return this.options.durationMs !== undefined && Date.now() - this.started >= this.options.durationMs;
  }

  private async tick(): Promise<void> {
    if (this.sending || this.stopped) return;
    if (this.done()) {
      this.stop();
      return;
    }
    this.sending = true;
    try {
      const perRecord = this.options.readingsPerRecord ?? 1;
      let count = this.target - this.stats.sent;
      // Whole records of readingsPerRecord readings; the last may hold fewer.
      const last = this.options.readings !== undefined && this.target >= this.options.readings;
      if (!last) count -= count % perRecord;
      while (count > 0 && !this.stopped) {
        // PutRecords takes 500 records.
        const n = Math.min(500 * perRecord, count);
        await this.putBatch(n);
        count -= n;
      }
    } catch (err) {
      if (!this.stopped) process.emitWarning(`the simulator could not put readings: ${(err as Error).message}`);
    } finally {
      this.sending = false;
    }
    if (this.done()) this.stop();
  }

  private async putBatch(n: number): Promise<void> {
    const now = Date.now();
    const perRecord = this.options.readingsPerRecord ?? 1;
    const kpl = this.options.kpl ?? false;
    const readings: Array<{ sensorId: string; data: string; reading?: Omit<PutReading, 'putAt'>; kind?: MalformedKind }> = [];
    // A device batches its own readings: one device per record.
    const records: Array<OutgoingReading & { readings: typeof readings }> = [];
    let malformedHere = 0;
    for (let made = 0; made < n;) {
      const d = Math.floor(this.random() * this.sensors.length);
      const sensorId = this.sensors[d];
      const group: typeof readings = [];
      for (let k = 0; k < perRecord && made < n; k++, made++) {
        const t = Math.max(now, this.lastTimestamp[d] + 1);
        this.lastTimestamp[d] = t;
        this.values[d] = Math.round((this.values[d] + (this.random() - 0.5)) * 100) / 100;
        const timestamp = new Date(t).toISOString();
        if (this.random() < this.options.malformedShare) {
          // Inside a JSON array an element cannot be malformed JSON: the other three kinds.
          const kinds = perRecord > 1 && !kpl ? MALFORMED_KINDS.filter((x) => x !== 'bad JSON') : MALFORMED_KINDS;
          const kind = kinds[(this.malformedMade + malformedHere++) % kinds.length];
          group.push({ sensorId, data: malformedPayload(kind, sensorId, timestamp, this.values[d], this.fields), kind });
        } else {
          const value = this.values[d];
          // With measurement fields, the first measurement's item stands for the reading.
          const first = this.fields.measurements[0];
          group.push({
            sensorId,
            data: JSON.stringify(validPayload(this.fields, sensorId, timestamp, value)),
            reading: { sensorId: first === undefined ? sensorId : `${sensorId}${this.fields.separator}${first}`, timestamp, value },
          });
        }
      }
      let data: string | Buffer;
      if (kpl) data = aggregate(group.map((g) => ({ partitionKey: sensorId, data: Buffer.from(g.data, 'utf8') })));
      else if (perRecord > 1) data = `[${group.map((g) => g.data).join(',')}]`;
      else data = group[0].data;
      records.push({ data, partitionKey: sensorId, sensorId, readings: group });
    }
    this.malformedMade += malformedHere;
    let pending = records;
    while (pending.length > 0) {
      const putAt = Date.now();
      const results = await this.sink.send(pending);
      const failed: typeof pending = [];
      const put: PutReading[] = [];
      results.forEach((result, i) => {
        const r = pending[i];
        if (result === 'retry') {
          failed.push(r);
          return;
        }
        this.stats.sent += r.readings.length;
        if (result === 'not put') {
          this.stats.notPut += r.readings.length;
          return;
        }
        this.stats.records++;
        this.stats.put += r.readings.length;
        for (const g of r.readings) {
          if (g.kind) {
            this.stats.malformed++;
            this.stats.byKind[g.kind]++;
          } else {
            this.stats.valid++;
            put.push({ ...g.reading!, putAt });
          }
        }
      });
      if (put.length) this.onPut(put);
      this.stats.throttled += failed.length;
      pending = failed;
    }
  }
}
