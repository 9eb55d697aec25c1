import { spawn } from 'node:child_process';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { stopChild } from './chain.js';
import type { LinkHost } from './link-types.js';

// What a link costs by itself, so a report can say how much of an added round trip is the proxy
// and how much the configured latency. The echo server runs in a process of its own, as a store
// does: a booking server's query already crosses from one process to another, and the link adds
// one more process on the way. An echo inside the caller would answer with no process switch on
// the direct path and charge the link for four wake-ups instead of the two it really adds (on a
// VM a wake-up of an idle process costs tens of µs, more than the proxying). Call it outside the
// load phase: a busy caller loop would blur both figures alike.

/** Median round trip (µs) straight to an echo server, and through a link with no toxics. */
export async function measureLinkOverhead(host: LinkHost, opts: { rounds?: number } = {}): Promise<{ directUs: number; linkUs: number }> {
  const rounds = opts.rounds ?? 300;
  const echo = await startEcho();
  const link = await host.open('overhead probe', { host: '127.0.0.1', port: echo.port }, { latencyMs: 0, jitterMs: 0 });
  const direct = await connect(echo.port);
  const proxied = await connect(link.port);
  try {
    const d: number[] = [];
    const l: number[] = [];
    // Interleaved, so a noisy moment on a shared machine hits both series alike; warm-up skipped.
    for (let i = 0; i < rounds + 20; i++) {
      const a = await pingPong(direct);
      const b = await pingPong(proxied);
      if (i >= 20) { d.push(a); l.push(b); }
    }
    return { directUs: Math.round(median(d) * 1000), linkUs: Math.round(median(l) * 1000) };
  } finally {
    direct.destroy();
    proxied.destroy();
    await link.close();
    await echo.close();
  }
}

// Written out to a tiny Node process: it echoes with no delay, prints its port, and exits when its
// stdin closes, so a caller that dies takes it along.
const ECHO_SOURCE = `
const net = require('node:net');
const server = net.createServer((s) => { s.setNoDelay(true); s.on('error', () => {}); s.pipe(s); });
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

async function startEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', ECHO_SOURCE], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    child.stdin!.end();
    await stopChild(child, 1000);
    await exited;
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('the echo process of the link probe did not start within 10 s')), 10_000);
      child.stdout!.on('data', (d) => {
        out += String(d);
        if (out.includes('\n')) { clearTimeout(timer); resolve(Number(out.trim())); }
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the echo process of the link probe exited (code ${code})`)); });
    });
    return { port, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

const PING = Buffer.alloc(16, 1);

/** One 16-byte write and the wait for all 16 bytes back, in ms. */
function pingPong(s: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const start = performance.now();
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= PING.length) { s.off('data', onData); s.off('error', reject); resolve(performance.now() - start); }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(PING);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
