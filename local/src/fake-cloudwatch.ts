import * as http from 'http';
import { AddressInfo } from 'net';
import { gunzipSync } from 'zlib';
import { closeServer } from './servers';

/** A stand-in for CloudWatch (no local server exists): records each request and answers success. */
export class FakeCloudWatch {
  static async start(): Promise<FakeCloudWatch> {
    const fake = new FakeCloudWatch();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  readonly requests: Array<{ target: string; contentEncoding?: string; rawBytes: number; body: PutMetricDataBody }> = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const encoding = req.headers['content-encoding'];
      const text = (encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
      this.requests.push({ target: String(req.headers['x-amz-target']), contentEncoding: encoding, rawBytes: raw.length, body: JSON.parse(text) });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `fake-${this.requests.length}` });
      res.end('{}');
    });
  });

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

export interface PutMetricDataBody {
  Namespace: string;
  MetricData: Array<{
    MetricName: string;
    Dimensions: Array<{ Name: string; Value: string }>;
    Timestamp: number;
    Values: number[];
    Counts: number[];
    Unit: string;
  }>;
}

