import net from 'node:net';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { measureLinkOverhead, rewriteUrl, startLinkHost, upstreamOf, type LinkHost, type LinkToxics } from '../src/infra/link.js';
import { closing, connect, median, pingPong, quantile, rtts, silentFor, startEcho, us } from './link-helpers.js';

// Real sockets, a real child process, a real Redis. The machine has two cores shared with other
// runs: a burst of their load can only add delay, never remove it, so a timing that lands above
// its bound is measured again (calm) while one below its bound fails at once. The measured figures
// are printed at the end for the record.

/**
 * Measures again, up to 6 times and after a pause, while the result looks disturbed by other load
 * (`ok` false); returns the last value for the test's own assertions. Every attempt is recorded.
 */
async function calm(label: string, measure: () => Promise<{ value: number; note: string }>, ok: (v: number) => boolean): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const { value, note } = await measure();
    figures.push(`${label}: ${value.toFixed(3)} ms (${note})${attempt > 1 ? `, attempt ${attempt}` : ''}`);
    if (ok(value) || attempt === 6) return value;
    await new Promise((r) => setTimeout(r, 300));
  }
}

const NONE: LinkToxics = { latencyMs: 0, jitterMs: 0 };
const figures: string[] = [];

let host: LinkHost;
let echo: Awaited<ReturnType<typeof startEcho>>;
const echoUpstream = () => ({ host: '127.0.0.1', port: echo.port });

beforeAll(async () => {
  host = await startLinkHost();
  echo = await startEcho();
});

afterAll(async () => {
  await host?.close();
  await echo?.close();
  if (figures.length) process.stdout.write(`link figures:\n  ${figures.join('\n  ')}\n`);
});

describe('link latency', () => {
  for (const [latencyMs, lo, hi] of [[0, -Infinity, 0.3], [0.5, 0.3, 1.0], [2, 1.6, 3.0]] as const) {
    it(`a link with latencyMs ${latencyMs} adds that to the median round trip`, async () => {
      const link = await host.open(`echo ${latencyMs}`, echoUpstream(), { latencyMs, jitterMs: 0 });
      const direct = await connect(echo.port);
      const proxied = await connect(link.port);
      const added = await calm(`latencyMs ${latencyMs}`, async () => {
        const [d, l] = await rtts(direct, proxied, 200);
        return { value: median(l) - median(d), note: `direct ${us(median(d))}, link ${us(median(l))}` };
      }, (v) => v <= hi);
      expect(added).toBeGreaterThanOrEqual(lo);
      expect(added).toBeLessThanOrEqual(hi);
      direct.destroy();
      proxied.destroy();
      await link.close();
    });
  }

  it('a Redis PING through a link with latencyMs 2 takes about 2 ms longer', async () => {
    const redisUrl = inject('redisUrl');
    const { link, url } = await host.openFor('test → redis', redisUrl, { latencyMs: 2, jitterMs: 0 });
    expect(url).toBe(rewriteUrl(redisUrl, link.port));
    const direct = new Redis(redisUrl, { lazyConnect: true });
    const proxied = new Redis(url, { lazyConnect: true });
    await Promise.all([direct.connect(), proxied.connect()]);
    const added = await calm('Redis PING, latencyMs 2', async () => {
      const d: number[] = [];
      const l: number[] = [];
      for (let i = 0; i < 210; i++) {
        let t = performance.now();
        await direct.ping();
        const a = performance.now() - t;
        t = performance.now();
        expect(await proxied.ping()).toBe('PONG');
        if (i >= 10) { d.push(a); l.push(performance.now() - t); }
      }
      return { value: median(l) - median(d), note: `direct ${us(median(d))}, link ${us(median(l))}` };
    }, (v) => v <= 3.0);
    expect(added).toBeGreaterThanOrEqual(1.6);
    expect(added).toBeLessThanOrEqual(3.0);
    direct.disconnect();
    proxied.disconnect();
    await link.close();
  });

  it('jitter widens the spread of round trips', async () => {
    const steady = await host.open('steady', echoUpstream(), { latencyMs: 2, jitterMs: 0 });
    const jittery = await host.open('jittery', echoUpstream(), { latencyMs: 2, jitterMs: 1 });
    const a = await connect(steady.port);
    const b = await connect(jittery.port);
    const spread = (xs: number[]) => quantile(xs, 0.9) - quantile(xs, 0.1);
    let plain = 0;
    // Two one-way draws of ±0.5 ms make a triangle on ±1 ms: p90−p10 ≈ 1.1 ms.
    const jittered = await calm('p90−p10 at latency 2 with jitter 1', async () => {
      const [s, j] = await rtts(a, b, 200);
      plain = spread(s);
      return { value: spread(j), note: `without jitter ${plain.toFixed(3)} ms` };
    }, (v) => v > plain + 0.4);
    expect(jittered).toBeGreaterThan(0.6);
    expect(jittered, `p90−p10 without jitter was ${plain.toFixed(3)} ms: a busy machine hides jitter; run again when it is quieter`).toBeGreaterThan(plain + 0.4);
    a.destroy();
    b.destroy();
    await steady.close();
    await jittery.close();
  });

  it('jitter never reorders a stream', async () => {
    // Numbered chunks written one per loop turn; a jitter as large as the latency would reorder
    // them if the link did not hold each one behind the one before.
    const link = await host.open('jittery stream', echoUpstream(), { latencyMs: 2, jitterMs: 2 });
    const c = await connect(link.port);
    const n = 2000;
    const got: Buffer[] = [];
    let bytes = 0;
    const done = new Promise<void>((r) => c.on('data', (d: Buffer) => { got.push(d); bytes += d.length; if (bytes >= n * 4) r(); }));
    for (let i = 0; i < n; i++) {
      const chunk = Buffer.alloc(4);
      chunk.writeUInt32BE(i);
      c.write(chunk);
      await new Promise((r) => setImmediate(r));
    }
    await done;
    const all = Buffer.concat(got);
    const outOfOrder = Array.from({ length: n }, (_, i) => all.readUInt32BE(i * 4)).findIndex((v, i) => v !== i);
    expect(outOfOrder).toBe(-1);
    c.destroy();
    await link.close();
  });
});

describe('link faults', () => {
  it('blackhole stops bytes both ways on open and new connections; heal resets them and new ones flow', async () => {
    const link = await host.open('partitioned', echoUpstream(), NONE);
    const old = await connect(link.port);
    await pingPong(old);
    const oldClosed = closing(old);
    await link.blackhole();
    const before = echo.seen.bytes;
    old.write('lost in the partition');
    expect(await silentFor(old, 500)).toBe(true);
    expect(old.destroyed).toBe(false);
    const fresh = await connect(link.port); // accepted…
    const freshClosed = closing(fresh);
    fresh.write('hello?');
    expect(await silentFor(fresh, 500)).toBe(true); // …but forwards nothing
    expect(echo.seen.bytes).toBe(before);
    expect(await link.stats()).toMatchObject({ blackholed: true, open: 2 });

    expect(await link.heal()).toEqual({ closed: 2 });
    expect(await oldClosed).toBe('ECONNRESET');
    expect(await freshClosed).toBe('ECONNRESET');
    const after = await connect(link.port);
    expect(await pingPong(after)).toBeLessThan(100);
    expect(await link.stats()).toMatchObject({ blackholed: false, open: 1, resets: 2 });
    after.destroy();
    await link.close();
  });

  it('resetPeer resets every open connection on both sides', async () => {
    const link = await host.open('reset', echoUpstream(), { latencyMs: 1, jitterMs: 0 });
    const c = await connect(link.port);
    await pingPong(c);
    const closed = closing(c);
    const resetsBefore = echo.seen.resets;
    expect(await link.resetPeer()).toBe(1);
    expect(await closed).toBe('ECONNRESET');
    await expect.poll(() => echo.seen.resets, { timeout: 2000 }).toBe(resetsBefore + 1);
    await link.close();
  });

  it('a refused upstream reaches the client as a reset and is counted, not thrown', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const deadPort = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const link = await host.open('nowhere', { host: '127.0.0.1', port: deadPort }, NONE);
    // The reset can beat our 'connect' event on a busy machine, so no await on connecting.
    const c = net.connect({ host: '127.0.0.1', port: link.port });
    expect(await closing(c)).toBe('ECONNRESET');
    expect(await link.stats()).toMatchObject({ errors: 1, open: 0 });
    await link.close();
  });
});

describe('link streams', () => {
  it('carries 8 MB each way through a delay line intact, and the FIN after it', async () => {
    const link = await host.open('bulk', echoUpstream(), { latencyMs: 1, jitterMs: 0.5 });
    const c = await connect(link.port);
    const payload = Buffer.alloc(8 << 20);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
    const hash = createHash('sha256');
    let got = 0;
    const ended = new Promise<void>((r) => c.on('end', () => r()));
    c.on('data', (d: Buffer) => { hash.update(d); got += d.length; });
    c.end(payload);
    await ended;
    expect(got).toBe(payload.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
    const s = await link.stats();
    expect(s.bytesUp).toBe(payload.length);
    expect(s.bytesDown).toBe(payload.length);
    await link.close();
  });

  it('a bandwidth cap slows a transfer to about its rate', async () => {
    const link = await host.open('narrow', echoUpstream(), { latencyMs: 0, jitterMs: 0, bandwidthKBps: 1000 });
    const c = await connect(link.port);
    const ended = new Promise<void>((r) => c.on('end', () => r()));
    let got = 0;
    c.on('data', (d: Buffer) => { got += d.length; });
    const start = performance.now();
    c.end(Buffer.alloc(200_000)); // 200 KB at 1000 KB/s: 200 ms up, pipelined with 200 ms down
    await ended;
    const ms = performance.now() - start;
    figures.push(`200 KB echoed through a 1000 KB/s cap: ${ms.toFixed(0)} ms`);
    expect(got).toBe(200_000);
    expect(ms).toBeGreaterThan(180);
    expect(ms).toBeLessThan(1500);
    await link.close();
  });

  it('rewrites store URLs and keeps credentials, database and options', async () => {
    expect(rewriteUrl('postgres://u:p%40x@db.example:5433/seat?sslmode=disable', 4000)).toBe('postgres://u:p%40x@127.0.0.1:4000/seat?sslmode=disable');
    expect(rewriteUrl('mysql://root@127.0.0.1:3306/seatlab', 4001)).toBe('mysql://root@127.0.0.1:4001/seatlab');
    expect(rewriteUrl('redis://:pw@[::1]:6380/2', 4002)).toBe('redis://:pw@127.0.0.1:4002/2');
    expect(upstreamOf('redis://localhost')).toEqual({ host: 'localhost', port: 6379 });
    expect(upstreamOf('redis://[::1]:6380')).toEqual({ host: '::1', port: 6380 });
    expect(() => rewriteUrl('http://x', 1)).toThrow(/postgres:\/\/, mysql:\/\/ and redis:\/\//);
    const link = await host.open('pg', { host: 'db.example', port: 5432 }, NONE);
    expect(() => link.rewrite('postgres://u@db.example:5433/x')).toThrow(/open a link for that server/);
    await expect(host.open('bad', echoUpstream(), { latencyMs: -1, jitterMs: NaN })).rejects.toThrow(/latencyMs.*jitterMs/);
    await link.close();
  });
});

describe('link host process', () => {
  it('runs in its own process and leaves nothing behind when closed', async () => {
    const own = await startLinkHost();
    expect(own.pid).not.toBe(process.pid);
    expect(() => process.kill(own.pid, 0)).not.toThrow();
    const link = await own.open('short-lived', echoUpstream(), NONE);
    const c = await connect(link.port);
    await pingPong(c);
    c.on('error', () => undefined);
    await own.close();
    expect(() => process.kill(own.pid, 0)).toThrow(/ESRCH/);
    await expect(link.stats()).rejects.toThrow(/link host .* exited/);
  });

  it('measures its own overhead at 0 ms', async () => {
    let direct = 0;
    const added = await calm('overhead at 0 ms, link − direct', async () => {
      const o = await measureLinkOverhead(host);
      direct = o.directUs;
      return { value: (o.linkUs - o.directUs) / 1000, note: `direct ${o.directUs} µs, link ${o.linkUs} µs` };
    }, (v) => v < 1);
    expect(direct).toBeGreaterThan(0);
    expect(added).toBeGreaterThan(0);
    expect(added).toBeLessThan(1);
  });
});
