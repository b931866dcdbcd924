/**
 * A fault-injecting HTTP proxy between a client and an S3 server on 127.0.0.1: for a share of requests it answers
 * 500 InternalError or 503 SlowDown, resets the connection, or stalls past the client's timeout; the rest are
 * forwarded unchanged. Faults are chosen by a seeded generator, so a run can be repeated.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault = 'error500' | 'slowdown503' | 'reset' | 'stall';

export interface FaultProxyOptions {
  /** The server requests are forwarded to, e.g. http://127.0.0.1:7070. */
  readonly target: string;
  /** Share of requests that get a fault, 0..1. */
  readonly faultRate: number;
  readonly faults?: readonly Fault[];
  /** How long a stalled request hangs before the proxy drops it (the client should time out first). */
  readonly stallMs?: number;
  readonly seed?: number;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly counts: Record<Fault | 'forwarded', number>;
  setFaultRate(rate: number): void;
  stop(): Promise<void>;
}

/** A seeded generator (mulberry32): the same seed gives the same faults, crash points, shapes (soak, fuzz, replay tests). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const XML = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(o.target);
  const random = mulberry32(o.seed ?? 42);
  const faults = o.faults ?? ['error500', 'slowdown503', 'reset', 'stall'];
  let rate = o.faultRate;
  const counts: FaultProxy['counts'] = { error500: 0, slowdown503: 0, reset: 0, stall: 0, forwarded: 0 };
  const sockets = new Set<Socket>();
  const stalled = new Set<ServerResponse>();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    counts.forwarded++;
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server: Server = createServer((req, res) => {
    if (random() >= rate) return forward(req, res);
    const fault = faults[Math.floor(random() * faults.length)];
    counts[fault]++;
    // Read the body first, as a real server would before failing.
    req.resume();
    req.on('end', () => {
      switch (fault) {
        case 'error500':
          res.writeHead(500, { 'content-type': 'application/xml' }).end(XML('InternalError', 'We encountered an internal error. Please try again.'));
          break;
        case 'slowdown503':
          res.writeHead(503, { 'content-type': 'application/xml' }).end(XML('SlowDown', 'Please reduce your request rate.'));
          break;
        case 'reset':
          req.socket.destroy();
          break;
        case 'stall':
          stalled.add(res);
          setTimeout(() => {
            stalled.delete(res);
            res.destroy();
          }, o.stallMs ?? 15_000).unref();
          break;
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    setFaultRate: (r) => {
      rate = r;
    },
    stop: async () => {
      for (const r of stalled) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
