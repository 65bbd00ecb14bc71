/**
 * Watches the local DynamoDB server's BatchWriteItem and PutItem exchanges and
 * reports the items it acknowledged: requested puts minus the UnprocessedItems
 * of the answer. The live progress counts writes with it, and the put-to-stored
 * latency is measured from it without a single extra request.
 */
import * as http from 'http';

export type AttributeValue = { S?: string; N?: string; B?: string } & Record<string, unknown>;
export type Item = Record<string, AttributeValue>;

export type WriteListener = (table: string, items: readonly Item[], at: number) => void;

/** A request observer for the DynamoDB server (see `startDynalite`). */
export function tableWriteObserver(listener: WriteListener): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.split('.')[1];
    if (operation !== 'BatchWriteItem' && operation !== 'PutItem') return;
    const requestChunks: Buffer[] = [];
    req.on('data', (c: Buffer) => requestChunks.push(c));
    const responseChunks: Buffer[] = [];
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
    const keep = (chunk: unknown) => {
      if (typeof chunk === 'string') responseChunks.push(Buffer.from(chunk));
      else if (chunk instanceof Uint8Array) responseChunks.push(Buffer.from(chunk));
    };
    (res as { write: unknown }).write = (chunk: unknown, ...rest: unknown[]) => {
      keep(chunk);
      return write(chunk, ...rest);
    };
    (res as { end: unknown }).end = (chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') keep(chunk);
      return end(chunk, ...rest);
    };
    res.on('finish', () => {
      if (res.statusCode !== 200) return;
      try {
        const request = JSON.parse(Buffer.concat(requestChunks).toString('utf8'));
        const at = Date.now();
        if (operation === 'PutItem') {
          listener(request.TableName, [request.Item], at);
          return;
        }
        const response = JSON.parse(Buffer.concat(responseChunks).toString('utf8') || '{}');
        for (const [table, writes] of Object.entries(request.RequestItems ?? {}) as Array<[string, Array<{ PutRequest?: { Item: Item } }>]>) {
          const unprocessed = new Set(((response.UnprocessedItems?.[table] ?? []) as Array<{ PutRequest?: { Item: Item } }>)
            .map((w) => (w.PutRequest ? JSON.stringify(w.PutRequest.Item) : '')));
          const items = writes.filter((w) => w.PutRequest && !unprocessed.has(JSON.stringify(w.PutRequest.Item))).map((w) => w.PutRequest!.Item);
          if (items.length) listener(table, items, at);
        }
      } catch {
        // not a request this observer understands: nothing to count
      }
    });
  };
}

/** The string form of a key attribute (S or N), for matching items to what was put. */
export function keyString(value: AttributeValue | undefined): string | undefined {
  return value?.S ?? value?.N;
}
