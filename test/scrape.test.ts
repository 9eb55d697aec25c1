import { performance } from 'node:perf_hooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { insideServer, quantileMs, readMetrics, startScraper, type ScrapeLog } from '../src/load/scrape.js';
import { startInstances } from '../src/load/instances.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { call, freshDatabase, SECRET } from './helpers.js';

// The lab's reading of the servers' /metrics: parsing (by prom2javascript, not a regex of ours), quantiles as Prometheus computes them, deltas across scrapes and a restarted process.

const BOUNDS = ['0.0001', '0.001', '0.01', '0.1', '1', '10', '+Inf'];

/** A /metrics text with the lock-wait histogram at the given cumulative counts, over two label sets when `split`. */
function text(counts: number[], sum: number, lagP99 = 0.004, split = false, startedAt = 1_700_000_000): string {
  const lines = ['# HELP seatlab_lock_wait_seconds lock wait', '# TYPE seatlab_lock_wait_seconds histogram'];
  const sets = split ? [{ l: 'strategy="pessimistic",instance="0",kind="a"', f: 0.5 }, { l: 'strategy="pessimistic",instance="0",kind="b"', f: 0.5 }] : [{ l: 'strategy="pessimistic",instance="0"', f: 1 }];
  for (const { l, f } of sets) {
    BOUNDS.forEach((b, i) => lines.push(`seatlab_lock_wait_seconds_bucket{le="${b}",${l}} ${counts[i]! * f}`));
    lines.push(`seatlab_lock_wait_seconds_sum{${l}} ${sum * f}`, `seatlab_lock_wait_seconds_count{${l}} ${counts.at(-1)! * f}`);
  }
  lines.push('# HELP process_start_time_seconds start', '# TYPE process_start_time_seconds gauge', `process_start_time_seconds{strategy="pessimistic",instance="0"} ${startedAt}`);
  lines.push('# HELP nodejs_eventloop_lag_p99_seconds p99', '# TYPE nodejs_eventloop_lag_p99_seconds gauge', `nodejs_eventloop_lag_p99_seconds{strategy="pessimistic",instance="0"} ${lagP99}`);
  return `${lines.join('\n')}\n`;
}

describe('reading /metrics', () => {
  it('sums a histogram over its label sets and reads the event-loop lag in ms', async () => {
    const m = await readMetrics(text([0, 10, 50, 90, 100, 100, 100], 2.5, 0.004, true));
    expect(m.hist.lockWait).toEqual({ le: [0.0001, 0.001, 0.01, 0.1, 1, 10, Infinity], counts: [0, 10, 50, 90, 100, 100, 100], sum: 2.5, count: 100 });
    expect(m.lagP99Ms).toBeCloseTo(4, 6);
    expect(m.hist.poolWait).toBeUndefined();
  });

  it('quantiles interpolate within the bucket holding the rank, as histogram_quantile does', () => {
    const h = { le: [0.001, 0.01, 0.1, Infinity], counts: [0, 50, 100, 100], sum: 1, count: 100 };
    // Rank 50 is the top of the (1 ms, 10 ms] bucket; rank 99 is 98% into (10 ms, 100 ms].
    expect(quantileMs(h, 0.5)).toBe(10);
    expect(quantileMs(h, 0.99)).toBeCloseTo(98.2, 6);
    expect(quantileMs({ ...h, counts: [0, 0, 0, 0], count: 0 }, 0.5)).toBeNull();
    // Everything beyond the last finite bound: the last finite bound, never Infinity.
    expect(quantileMs({ le: [0.001, Infinity], counts: [0, 10], sum: 50, count: 10 }, 0.99)).toBe(1);
  });

  it('whole-phase figures are deltas from the first scrape (the warm-up is left out); a drop in count is a restart, read from zero', async () => {
    const at = async (atMs: number, counts: number[], sum: number, lag = 0.002) => ({ atMs, instance: 0, ...(await readMetrics(text(counts, sum, lag))) });
    const log: ScrapeLog = { everyMs: 1000, gaps: [{ atMs: 2500, instance: 0, error: 'no answer within 1000 ms' }], samples: await Promise.all([
      at(0, [0, 100, 100, 100, 100, 100, 100], 0.05), // the warm-up's 100 fast waits, before the load
      at(1000, [0, 100, 100, 200, 200, 200, 200], 5), // +100 waits in (10 ms, 100 ms]
      at(2000, [0, 100, 100, 300, 300, 300, 300], 10, 0.030), // +100 more
      at(3000, [0, 0, 0, 50, 50, 50, 50], 2), // restarted: 50 new waits, counted from zero
    ]) };
    const x = insideServer(log, 1, 0);
    expect(x.lockWait.count).toBe(250);
    expect(x.lockWait.p50).toBeGreaterThan(10);
    expect(x.lockWait.p99).toBeLessThanOrEqual(100);
    expect(x.scrapes).toBe(4);
    expect(x.missedScrapes).toBe(1);
    expect(x.eventLoopLagP99Ms).toBe(30);
    expect(x.series.map((p) => p.t)).toEqual([1, 2, 3]);
    expect(x.poolWait).toEqual({ count: 0, p50: null, p99: null, meanMs: null });
    expect(x.redis).toBeNull();
  });
});

describe('a restart the counts cannot show', () => {
  it('a new process that counted as much as the old one before the lab looked is still all new (its start time says so)', async () => {
    const at = async (atMs: number, count: number, startedAt: number) => ({ atMs, instance: 0, ...(await readMetrics(text([0, count, count, count, count, count, count], count / 1000, 0.002, false, startedAt))) });
    const log: ScrapeLog = { everyMs: 200, gaps: [], samples: await Promise.all([
      at(0, 0, 100), at(200, 5, 100), // the old process: 5 waits
      at(600, 5, 107), // killed and restarted between scrapes; the new process made 5 waits before its first scrape
    ]) };
    expect(insideServer(log, 1, 0).lockWait.count).toBe(10);
  });
});

describe('scraping real instances that are paused and killed', () => {
  it('a paused or killed instance is a gap in the series, never an error; scrapes resume when it does', async () => {
    const db = await freshDatabase();
    const { scheduleId } = await seedSchedule(db.db, { seats: 50 });
    const users = await seedUsers(db.db, { count: 40, secret: SECRET });
    const instances = await startInstances(2, { databaseUrl: db.url, strategy: 'pessimistic', tokenSecret: SECRET, poolSize: 5 });
    onTestFinished(async () => { for (const i of instances) await i.stop(); });
    const t0 = performance.now();
    const now = () => performance.now() - t0;
    const scraper = startScraper({ instances: 2, urlOf: (i) => instances[i]!.url, now, everyMs: 200 });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const hold = (u: (typeof users)[number], seatNo: number, i: number) => call(instances[i]!.url, 'POST', '/api/reservations', { token: u.token, body: { scheduleId, seatNo } });
    // The first scrapes (the baseline) before any hold; then holds on both instances, so both have lock waits to report.
    await sleep(300);
    for (let k = 0; k < 10; k++) expect((await hold(users[k]!, k + 1, k % 2)).status).toBe(201);
    await sleep(500);
    instances[0]!.pause();
    await sleep(700);
    instances[0]!.resume();
    await instances[1]!.kill();
    await sleep(500);
    await instances[1]!.restart();
    for (let k = 10; k < 20; k++) expect((await hold(users[k]!, k + 1, k % 2)).status).toBe(201);
    await sleep(500);
    const log = await scraper.stop();
    const gaps = (i: number) => log.gaps.filter((g) => g.instance === i);
    expect(gaps(0).length).toBeGreaterThan(0);
    expect(gaps(0).every((g) => g.error === 'no answer within 200 ms')).toBe(true);
    expect(gaps(1).length).toBeGreaterThan(0);
    // Scrapes of both came back after the fault, and the restarted instance counts from zero again.
    const last = (i: number) => log.samples.filter((s) => s.instance === i).at(-1)!;
    expect(last(0).atMs).toBeGreaterThan(2000);
    expect(last(1).atMs).toBeGreaterThan(2000);
    expect(last(1).hist.lockWait!.count).toBe(5);
    const x = insideServer(log, 2, 0);
    expect(x.missedScrapes).toBe(log.gaps.length);
    // Every hold took its row lock once: 10 before the faults, 10 after (5 of them on the restarted process).
    expect(x.lockWait.count).toBe(20);
  }, 60_000);
});
