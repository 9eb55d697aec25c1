import net from 'node:net';
import { performance } from 'node:perf_hooks';

// Socket helpers for test/link.test.ts: an echo server on port 0, ping-pongs timed with
// performance.now(), and small waits on a socket's silence or its closing.

/** An echo server that counts what reaches it and the resets it sees. */
export async function startEcho() {
  const sockets = new Set<net.Socket>();
  const seen = { bytes: 0, resets: 0 };
  const server = net.createServer((s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => { seen.bytes += d.length; });
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'ECONNRESET') seen.resets++; });
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port, seen,
    close: () => { for (const s of sockets) s.destroy(); return new Promise<void>((r) => server.close(() => r())); },
  };
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** One 8-byte ping and its echo, ms. */
export function pingPong(s: net.Socket): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    const start = performance.now();
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= 8) { s.off('data', onData); resolve(performance.now() - start); }
    };
    s.on('data', onData);
    s.write(Buffer.alloc(8, 7));
  });
}

/** Interleaved round trips on two sockets, so machine noise hits both series alike. */
export async function rtts(a: net.Socket, b: net.Socket, n: number): Promise<[number[], number[]]> {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n + 10; i++) {
    const x = await pingPong(a);
    const y = await pingPong(b);
    if (i >= 10) { xs.push(x); ys.push(y); }
  }
  return [xs, ys];
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
export const median = (xs: number[]) => quantile(xs, 0.5);

/** True when no byte arrives on the socket for `ms`. */
export function silentFor(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onData = () => { clearTimeout(t); resolve(false); };
    const t = setTimeout(() => { s.off('data', onData); resolve(true); }, ms);
    s.once('data', onData);
  });
}

/** Resolves with the error code the socket closes with ('' for a clean close). */
export function closing(s: net.Socket): Promise<string> {
  let code = '';
  s.on('error', (e: NodeJS.ErrnoException) => { code = e.code ?? 'error'; });
  return new Promise((resolve) => s.once('close', () => resolve(code)));
}

export const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
