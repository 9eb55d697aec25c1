import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { driveOpen } from '../src/load/open-driver.js';
import { parseRunOptions } from '../src/cli/options.js';
import type { LoadPlan } from '../src/load/plan.js';

// The open model against a tiny server whose service time we know: latency from the intended send
// time matches it when the rate is sustainable, and grows with the queue when it is not.

const DELAY_MS = 20;
const servers: http.Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); })));
});

/** Answers each request DELAY_MS after it arrives (concurrently), or one at a time when `serial`. */
async function server(o: { serial?: boolean; answer?: (n: number) => number } = {}): Promise<{ url: string; received: number[]; byToken: Map<string, number> }> {
  const received: number[] = [];
  const byToken = new Map<string, number>();
  let queue = Promise.resolve();
  const s = http.createServer((req, res) => {
    const n = received.push(performance.now()) - 1;
    byToken.set(String(req.headers.authorization).replace('Bearer ', ''), received[n]!);
    const status = o.answer?.(n) ?? 200;
    const reply = () => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(status === 409 ? '{"error":"SEAT_TAKEN"}' : '{}'); };
    req.resume();
    if (!o.serial) return void setTimeout(reply, DELAY_MS);
    queue = queue.then(() => new Promise<void>((r) => setTimeout(() => { reply(); r(); }, DELAY_MS)));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, received, byToken };
}

const plan = (n: number, attempts = 1): LoadPlan => ({
  journeys: Array.from({ length: n }, (_, i) => ({ token: `t${i}`, userId: i, attempts: Array.from({ length: attempts }, () => ({ method: 'GET' as const, path: '/' })) })),
});

/** The load generator's first seconds compile undici and the recorder; the CLI warms up too. */
async function warmUp(url: string): Promise<void> {
  await driveOpen(plan(100), { urls: [url], rate: 200, maxConnections: 1000, history: false });
}

describe('open model (driveOpen)', () => {
  it('at a sustainable rate, latency from the intended time is the service time, and nothing is dropped', async () => {
    const { url } = await server();
    await warmUp(url);
    const r = await driveOpen(plan(600), { urls: [url], rate: 200, maxConnections: 1000 });
    expect(r.outcomes.ok).toBe(600);
    expect(r.rate.dropped).toBe(0);
    expect(r.rate.missed).toBe(0);
    expect(r.rate.shortfall).toBe(false);
    expect(r.rate.achieved).toBeGreaterThan(195);
    expect(r.rate.achieved).toBeLessThanOrEqual(200);
    expect(r.latencyMs.p50).toBeGreaterThanOrEqual(DELAY_MS);
    expect(r.latencyMs.p50).toBeLessThan(35);
    // Latency counts from the intended time, so a load generator starved of CPU shows here too.
    expect(r.latencyMs.p99, `generator late by up to ${r.rate.startLagMs.max} ms`).toBeLessThan(60);
    expect(r.recorder.history).toHaveLength(600);
  });

  it('under overload, latency counts the queue (coordinated omission corrected) and arrivals with no free connection are dropped', async () => {
    // Capacity 50/s (one request at a time, 20 ms each), asked for 200/s: the backlog grows until
    // all 25 connections are busy, after which most arrivals are dropped.
    const { url, received } = await server({ serial: true });
    const r = await driveOpen(plan(400), { urls: [url], rate: 200, maxConnections: 25 });
    expect(r.rate.dropped).toBeGreaterThan(100);
    expect(r.rate.missed).toBe(r.rate.dropped);
    expect(r.rate.peakConnections).toBe(25);
    expect(received).toHaveLength(400 - r.rate.dropped);
    expect(r.requests).toBe(400 - r.rate.dropped);
    // Dropped requests are not sent: the rate that went out fell short.
    expect(r.rate.shortfall).toBe(true);
    // With 25 queued ahead at 20 ms each, a request waits ~500 ms: far beyond its 20 ms of service.
    expect(r.latencyMs.p99).toBeGreaterThan(10 * DELAY_MS);
    const ops = [...r.recorder.history].sort((a, b) => a.invokeMs - b.invokeMs);
    const latency = (xs: typeof ops) => xs.reduce((a, op) => a + op.completeMs - op.invokeMs, 0) / xs.length;
    expect(latency(ops.slice(-20))).toBeGreaterThan(5 * latency(ops.slice(0, 5)));
  });

  it('sends request k at t0 + k/rate: intended times exactly on the schedule, actual sends close to them', async () => {
    const { url, byToken } = await server();
    await warmUp(url);
    byToken.clear();
    const r = await driveOpen(plan(400), { urls: [url], rate: 200, maxConnections: 1000 });
    const ops = [...r.recorder.history].sort((a, b) => a.index - b.index);
    for (let k = 1; k < ops.length; k++) expect(ops[k]!.invokeMs - ops[k - 1]!.invokeMs).toBeCloseTo(5, 2);
    // What the server saw (same process, same clock): each request at or after its intended time,
    // never early, and typically within a few ms of it.
    expect(byToken.size).toBe(400);
    const late = ops.map((op) => byToken.get(`t${op.userId}`)! - (r.recorder.t0 + op.invokeMs)).sort((a, b) => a - b);
    expect(late[0]!).toBeGreaterThanOrEqual(0);
    expect(late[Math.floor(late.length / 2)]!).toBeLessThan(5); // one interval of the schedule
    expect(r.rate.startLagMs.p50).toBeLessThan(3);
  });

  it('a follow-up after a 409 goes out when the answer is in, as part of the same arrival', async () => {
    const { url } = await server({ answer: (n) => (n % 2 === 0 ? 409 : 201) });
    const r = await driveOpen(plan(1, 2), { urls: [url], rate: 10, maxConnections: 1 });
    const [first, second] = r.recorder.history;
    expect([first!.status, second!.status]).toEqual([409, 201]);
    expect(second!.process).toBe(first!.process);
    // The next arrival's slot is 100 ms away (10/s): a follow-up within half of it did not wait for a slot.
    // (It was 5 ms, which a loaded machine missed by 0.005 ms: the point is the slot, not the speed.)
    expect(second!.invokeMs - first!.completeMs).toBeLessThan(50);
    expect(r.journeys.succeeded).toBe(1);
  });

  it('spreads arrivals over instances round-robin', async () => {
    const a = await server();
    const b = await server();
    const r = await driveOpen(plan(100), { urls: [a.url, b.url], rate: 200, maxConnections: 100 });
    expect(r.rate.dropped).toBe(0);
    expect(a.received).toHaveLength(50);
    expect(b.received).toHaveLength(50);
    expect(r.instances!.map((i) => i.requests)).toEqual([50, 50]);
  });
});

describe('--rate and --max-connections', () => {
  it('default 1000; names the flag when it is wrong or used without --rate; works with --instances', () => {
    expect(parseRunOptions({ strategy: 'pessimistic', scenario: 'flash-sale', rate: '500' }).options!.maxConnections).toBe(1000);
    expect(parseRunOptions({ strategy: 'pessimistic', scenario: 'flash-sale', rate: '500', maxConnections: '0' }).problems)
      .toEqual([expect.stringContaining('--max-connections must be a positive integer')]);
    expect(parseRunOptions({ strategy: 'pessimistic', scenario: 'flash-sale', maxConnections: '50' }).problems)
      .toEqual([expect.stringContaining('--max-connections limits the open model; add --rate')]);
    expect(parseRunOptions({ strategy: 'pessimistic', scenario: 'flash-sale', rate: '500', maxConnections: '2', instances: '3' }).problems)
      .toEqual([expect.stringContaining('--max-connections 2 is fewer than --instances 3')]);
    const { options, problems } = parseRunOptions({ strategy: 'pessimistic', scenario: 'flash-sale', rate: '500', instances: '2', nemesis: 'kill-instance' });
    expect(problems).toEqual([]);
    expect(options).toMatchObject({ rate: 500, instances: 2 });
  });
});
