import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  body: string;
}

export interface Recorder {
  /** http://127.0.0.1:PORT */
  base: string;
  port: number;
  /** Every request, in arrival order. */
  received: Received[];
  close(): Promise<void>;
}

/**
 * A local HTTP endpoint (127.0.0.1 only) that records what it receives, for webhook and
 * heartbeat tests. `answer` may answer a request itself (or never) and returns true when it
 * did; every other request gets 200 OK.
 */
export async function startRecorder(answer?: (path: string, res: ServerResponse) => boolean): Promise<Recorder> {
  const received: Received[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      received.push({ method: req.method ?? '', path, contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') });
      if (answer?.(path, res)) return;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
