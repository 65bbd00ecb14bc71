/** A proxy in front of s3rver that fails the requests it is told to, until it is made healthy. */
import * as http from 'http';
import { AddressInfo } from 'net';
import { closeServer } from '../../local/src';

/** A proxy in front of s3rver that answers 500 InternalError to the requests it is told to fail. */
export class FailingS3Proxy {
  static async start(target: string, shouldFail: (req: http.IncomingMessage) => boolean): Promise<FailingS3Proxy> {
    const proxy = new FailingS3Proxy(new URL(target), shouldFail);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  healthy = false;
  failed = 0;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly server: http.Server;

  private constructor(target: URL, shouldFail: (req: http.IncomingMessage) => boolean) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (!this.healthy && shouldFail(req)) {
          this.failed++;
          const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>injected</Message></Error>';
          res.writeHead(500, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
          res.end(body);
          return;
        }
        // Headers unchanged (Host included): s3rver checks the signature over them.
        const options = { hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: this.agent };
        const upstream = http.request(options, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        upstream.on('error', (err) => res.destroy(err));
        upstream.end(Buffer.concat(chunks));
      });
    });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await closeServer(this.server);
  }
}
