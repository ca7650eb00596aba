/**
 * A tiny node:http server for the platform: reads whole bodies (capped), lets handlers
 * return plain response objects, and destroys every socket on close so a hanging request
 * never keeps the process alive.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { MAX_BODY_BYTES } from './constants.ts';

/** A request as handlers see it. */
export interface PlatformRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A response as handlers return it. */
export interface PlatformResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** `signal` aborts when the server closes; handlers that wait should listen to it. */
export type PlatformHandler = (request: PlatformRequest, signal: AbortSignal) => Promise<PlatformResponse>;

/** A JSON response. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): PlatformResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** An HTML response. */
export function html(status: number, body: string): PlatformResponse {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
}

class BodyTooLargeError extends Error {}

async function readBody(stream: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A listening server. */
export interface RunningServer {
  /** `http://<host>:<port>`. */
  origin: string;
  close(): Promise<void>;
}

/** Listens on `host`, port 0, and serves `handler`. */
export async function startHttpServer(host: string, handler: PlatformHandler): Promise<RunningServer> {
  const closing = new AbortController();
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void (async () => {
      let response: PlatformResponse;
      try {
        const body = await readBody(req);
        const url = new URL(req.url ?? '/', `http://${req.headers.host ?? host}`);
        response = await handler({ method: req.method ?? 'GET', url, headers: req.headers, body }, closing.signal);
      } catch (error) {
        if (closing.signal.aborted) return;
        response =
          error instanceof BodyTooLargeError
            ? json(413, { error: 'request body too large' })
            : json(500, { error: 'test platform error', detail: String(error) });
      }
      if (res.destroyed) return;
      res.writeHead(response.status, response.headers);
      res.end(response.body);
    })();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  return {
    origin: `http://${hostInUrl}:${port}`,
    async close() {
      closing.abort(new Error('test platform closed'));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
