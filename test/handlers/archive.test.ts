import { gunzipSync } from 'zlib';
import * as fc from 'fast-check';
import { b64, b64json } from './helpers';
import { eventTime, gzipLines, partitionOf, planArchive, toLine } from '../../src/handlers/archive';
import { RawRecord } from '../../src/handlers/raw-record';

const ARRIVAL = Date.UTC(2024, 0, 2, 10, 30) / 1000; // epoch seconds, as Lambda reports it

function rec(seq: number | string, data: string, shardId = 'shardId-000000000001', arrival = ARRIVAL): RawRecord {
  return { shardId, sequenceNumber: String(seq), partitionKey: `pk-${seq}`, approximateArrivalTimestamp: arrival, data };
}

const payload = (timestamp: unknown, extra: Record<string, unknown> = {}) => b64json({ sensorid: 's1', value: 1, timestamp, ...extra });

describe('partitionOf', () => {
  test('Hive-style hour partitions in UTC, zero-padded', () => {
    expect(partitionOf(new Date('2024-01-02T03:04:05Z'))).toBe('year=2024/month=01/day=02/hour=03/');
    expect(partitionOf(new Date('2024-12-31T23:59:59.999Z'))).toBe('year=2024/month=12/day=31/hour=23/');
    expect(partitionOf(new Date('2024-01-02T03:04:05+05:00'))).toBe('year=2024/month=01/day=01/hour=22/');
  });

  test('property: the partition is the UTC hour of the time', () => {
    fc.assert(fc.property(fc.date({ min: new Date(0), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
      const iso = d.toISOString();
      expect(partitionOf(d)).toBe(`year=${iso.slice(0, 4)}/month=${iso.slice(5, 7)}/day=${iso.slice(8, 10)}/hour=${iso.slice(11, 13)}/`);
    }));
  });
});

describe('eventTime', () => {
  test('the payload timestamp: ISO-8601, epoch seconds, epoch milliseconds', () => {
    expect(eventTime(rec(1, payload('2024-01-02T03:04:05Z')), 'timestamp').toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(eventTime(rec(1, payload('2024-01-02T05:04:05+02:00')), 'timestamp').toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(eventTime(rec(1, payload(1704164645)), 'timestamp').toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(eventTime(rec(1, payload(1704164645123)), 'timestamp').toISOString()).toBe('2024-01-02T03:04:05.123Z');
    expect(eventTime(rec(1, b64json({ ts: 1704164645 })), 'ts').toISOString()).toBe('2024-01-02T03:04:05.000Z');
  });

  test('the arrival time when there is no readable timestamp', () => {
    const arrival = new Date(ARRIVAL * 1000).toISOString();
    for (const data of [payload(undefined), payload('garbage'), payload(-5), payload(null), payload(1e300), b64('not json'),
      Buffer.from([0xff, 0xfe]).toString('base64'), b64json([1, 2]), b64json([]), b64json('2024-01-02T03:04:05Z'), b64('null')]) {
      expect(eventTime(rec(1, data), 'timestamp').toISOString()).toBe(arrival);
    }
    // the field name matters
    expect(eventTime(rec(1, payload(1704164645)), 'ts').toISOString()).toBe(arrival);
  });

  test('a record of many readings: an array by its first reading, a gateway batch by its shared time, a KPL aggregate by its arrival', () => {
    const arrival = new Date(ARRIVAL * 1000).toISOString();
    const first = { sensorid: 's1', value: 1, timestamp: '2024-01-02T03:04:05Z' };
    const later = { sensorid: 's2', value: 2, timestamp: '2024-01-02T09:00:00Z' };
    expect(eventTime(rec(1, b64json([first, later])), 'timestamp').toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(eventTime(rec(1, b64json([7, later])), 'timestamp').toISOString()).toBe(arrival);
    expect(eventTime(rec(1, b64json({ gateway: 'g', timestamp: 1704164645, readings: [later] })), 'timestamp').toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(eventTime(rec(1, b64json({ gateway: 'g', readings: [later] })), 'timestamp').toISOString()).toBe(arrival);
    const kpl = Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), Buffer.alloc(20)]).toString('base64');
    expect(eventTime(rec(1, kpl), 'timestamp').toISOString()).toBe(arrival);
  });
});

describe('planArchive', () => {
  test('one object per hour of event time, named after the shard and its first sequence number', () => {
    const records = [
      rec('100', payload('2024-01-02T03:04:05Z')),
      rec('101', payload('2024-01-02T04:00:00Z')),
      rec('102', payload('2024-01-02T03:59:59.999Z')),
      rec('103', b64('not json')), // arrival time: 10:30
      rec('104', payload(1704164645)), // 03:04:05
    ];
    const plan = planArchive(records, 'raw/', 'timestamp');
    expect(plan.map((o) => o.key)).toEqual([
      'raw/year=2024/month=01/day=02/hour=03/shardId-000000000001-100.ndjson.gz',
      'raw/year=2024/month=01/day=02/hour=04/shardId-000000000001-101.ndjson.gz',
      'raw/year=2024/month=01/day=02/hour=10/shardId-000000000001-103.ndjson.gz',
    ]);
    expect(plan.map((o) => o.records.map((r) => r.sequenceNumber))).toEqual([['100', '102', '104'], ['101'], ['103']]);
  });

  test('an empty prefix and an empty batch', () => {
    expect(planArchive([rec('7', payload('2024-01-02T03:04:05Z'))], '', 'timestamp')[0].key)
      .toBe('year=2024/month=01/day=02/hour=03/shardId-000000000001-7.ndjson.gz');
    expect(planArchive([], 'raw/', 'timestamp')).toEqual([]);
  });

  test('the same input gives the same keys and bodies (a retried batch overwrites)', () => {
    const make = () => [rec('1', payload('2024-01-02T03:04:05Z')), rec('2', payload('2024-01-03T00:00:00Z')), rec('3', b64('x'))];
    const first = planArchive(make(), 'p/', 'timestamp');
    const second = planArchive(make(), 'p/', 'timestamp');
    expect(second).toEqual(first);
    expect(second.map((o) => gzipLines(o.lines))).toEqual(first.map((o) => gzipLines(o.lines)));
    expect(first.map((o) => o.lines)).toEqual(first.map((o) => o.records.map((r) => toLine(r))));
  });

  test('property: every record lands in exactly one object, under its partition', () => {
    const record = fc.record({
      seq: fc.bigInt({ min: 1n, max: 10n ** 56n }),
      time: fc.option(fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 0, 1) })),
    });
    fc.assert(fc.property(fc.uniqueArray(record, { selector: (x) => x.seq, maxLength: 50 }), fc.constantFrom('', 'raw/', 'a/b/'), (specs, prefix) => {
      const records = specs.map(({ seq, time }) => rec(seq.toString(), time === null ? b64('opaque') : payload(time)));
      const plan = planArchive(records, prefix, 'timestamp');
      expect(plan.flatMap((o) => o.records).sort((a, b) => a.sequenceNumber.localeCompare(b.sequenceNumber)))
        .toEqual([...records].sort((a, b) => a.sequenceNumber.localeCompare(b.sequenceNumber)));
      expect(new Set(plan.map((o) => o.key)).size).toBe(plan.length);
      for (const object of plan) {
        expect(object.records.length).toBeGreaterThan(0);
        const partition = partitionOf(eventTime(object.records[0], 'timestamp'));
        expect(object.key).toBe(`${prefix}${partition}${object.records[0].shardId}-${object.records[0].sequenceNumber}.ndjson.gz`);
        expect(object.key).toMatch(/year=\d{4}\/month=\d{2}\/day=\d{2}\/hour=\d{2}\//);
        for (const r of object.records) expect(partitionOf(eventTime(r, 'timestamp'))).toBe(partition);
        // records keep their batch order
        expect(object.records).toEqual(records.filter((r) => object.records.includes(r)));
      }
      expect(planArchive(records, prefix, 'timestamp')).toEqual(plan);
    }));
  });
});

describe('toLine and gzipLines', () => {
  test('a payload is kept as the text the device sent, with its Kinesis metadata', () => {
    const line = JSON.parse(toLine(rec('42', payload('2024-01-02T03:04:05Z'))));
    expect(line).toEqual({
      shardId: 'shardId-000000000001',
      sequenceNumber: '42',
      partitionKey: 'pk-42',
      approximateArrivalTimestamp: '2024-01-02T10:30:00.000Z',
      payload: '{"sensorid":"s1","value":1,"timestamp":"2024-01-02T03:04:05Z"}',
    });
  });

  test('non-JSON text is kept as text, non-UTF-8 bytes as base64', () => {
    expect(JSON.parse(toLine(rec('1', b64('temp=21.5; id=é'))))).toMatchObject({ payload: 'temp=21.5; id=é' });
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41]).toString('base64');
    const line = JSON.parse(toLine(rec('2', bytes)));
    expect(line.payloadBase64).toBe(bytes);
    expect(line).not.toHaveProperty('payload');
  });

  test('JSON is kept exactly as sent (digits, spacing), and a line never holds a raw newline', () => {
    expect(JSON.parse(toLine(rec('1', b64('{"v": 12345678901234567890123}')))).payload).toBe('{"v": 12345678901234567890123}');
    expect(JSON.parse(toLine(rec('1', b64('null')))).payload).toBe('null');
    expect(toLine(rec('1', b64('line one\nline two')))).not.toContain('\n');
  });

  test('gunzip gives one JSON line per record, newline-terminated', () => {
    const records = [rec('1', payload('2024-01-02T03:04:05Z')), rec('2', b64('plain\ntext')), rec('3', Buffer.from([0xc3]).toString('base64'))];
    const text = gunzipSync(gzipLines(records.map((r) => toLine(r)))).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines).toEqual(records.map((r) => toLine(r)));
    expect(lines.map((l) => JSON.parse(l).sequenceNumber)).toEqual(['1', '2', '3']);
    expect(JSON.parse(lines[1]).payload).toBe('plain\ntext');
    expect(JSON.parse(lines[2]).payloadBase64).toBe('ww==');
  });

  test('property: any payload bytes survive the archive', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    fc.assert(fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary' }).map((text) => Buffer.concat([bom, Buffer.from(text, 'utf8')])), fc.string({ unit: 'binary' }).map((s) => Buffer.from(s, 'utf8')),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v), 'utf8'))), { minLength: 1, maxLength: 20 }), (payloads) => {
      const records = payloads.map((p, i) => rec(i, p.toString('base64')));
      const lines = gunzipSync(gzipLines(records.map((r) => toLine(r)))).toString('utf8').split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toHaveLength(records.length);
      lines.forEach((l, i) => {
        const line = JSON.parse(l);
        const restored = 'payloadBase64' in line ? Buffer.from(line.payloadBase64, 'base64') : Buffer.from(line.payload, 'utf8');
        // Byte for byte, a leading byte-order mark included.
        expect(restored.equals(payloads[i])).toBe(true);
      });
    }));
  });
});

describe('byte-order mark', () => {
  test('a leading UTF-8 BOM is kept in the text (U+FEFF): the archive holds every byte the device sent', () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}', 'utf8')]);
    const line = JSON.parse(toLine(rec('1', withBom.toString('base64'))));
    expect(line.payload).toBe('\ufeff{"a":1}');
    expect(Buffer.from(line.payload, 'utf8').equals(withBom)).toBe(true);
  });
});
