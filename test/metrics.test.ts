import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getMetricsFromIterator, type PromMetrics } from 'prom2javascript';
import YAML from 'yaml';
import { seedSchedule, seedUsers, type SeededUser } from '../src/db/seed.js';
import { BACKGROUND_TASKS, BUCKETS, HOLD_OUTCOMES, PAYMENT_OUTCOMES } from '../src/server/metrics.js';
import { call, freshDatabase, startApi } from './helpers.js';

// GET /metrics of a real server on real PostgreSQL and Redis: parsed by a parser we did not write
// (prom2javascript, as the lab's scraper does), and every counter checked against the exact number
// of requests the test sent.

interface Scrape {
  contentType: string;
  metrics: PromMetrics;
}

// prom2javascript, as the lab's scraper (src/load/scrape.ts): every label set of every histogram
// with its buckets, _sum and _count (parse-prometheus-text-format, tried first, folds them into one).
// It throws on any line it cannot read, so the whole text is checked. The tests scrape back to back,
// which is when prom-client would write a NaN the parser cannot read (src/server/metrics.ts text()).
async function scrape(base: string): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { contentType: res.headers.get('content-type') ?? '', metrics: await getMetricsFromIterator(text.split('\n')[Symbol.iterator]()) };
}

type Series = { labels: Record<string, string>; value?: number; count?: number; buckets?: Record<string, number> };
const has = (s: Series, want: Record<string, string>) => Object.entries(want).every(([k, v]) => s.labels[k] === v);
const samples = (sc: Scrape, name: string, want: Record<string, string>) => ((sc.metrics[name]?.data ?? []) as Series[]).filter((m) => has(m, want));
/** A counter summed over the series whose labels include `want`; 0 when there is none yet. */
const counter = (sc: Scrape, name: string, want: Record<string, string> = {}) => samples(sc, name, want).reduce((a, m) => a + m.value!, 0);
/** A histogram's observation count over the series whose labels include `want`. */
const observed = (sc: Scrape, name: string, want: Record<string, string> = {}) => samples(sc, name, want).reduce((a, m) => a + m.count!, 0);

/** Scrapes before and after `act`; `delta` reads how far a counter or a histogram's count moved. */
async function around(base: string, act: () => Promise<unknown>) {
  const before = await scrape(base);
  await act();
  const after = await scrape(base);
  return {
    after,
    delta: (name: string, want: Record<string, string> = {}) => counter(after, name, want) - counter(before, name, want),
    count: (name: string, want: Record<string, string> = {}) => observed(after, name, want) - observed(before, name, want),
  };
}

const hold = (base: string, u: SeededUser, body: Record<string, number>, route = '/api/reservations') => call(base, 'POST', route, { token: u.token, body });

// The names the lab's scraper and the dashboard read (the contract of issue 17).
const CONTRACT: Record<string, string> = {
  seatlab_http_requests_total: 'counter',
  seatlab_http_request_duration_seconds: 'histogram',
  seatlab_hold_outcomes_total: 'counter',
  seatlab_payment_outcomes_total: 'counter',
  seatlab_lock_wait_seconds: 'histogram',
  seatlab_lock_retries_total: 'counter',
  seatlab_lock_failures_total: 'counter',
  seatlab_db_pool_wait_seconds: 'histogram',
  seatlab_db_query_seconds: 'histogram',
  seatlab_redis_command_seconds: 'histogram',
  seatlab_background_runs_total: 'counter',
  nodejs_eventloop_lag_p99_seconds: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
  process_cpu_seconds_total: 'counter',
};

describe('GET /metrics', () => {
  it('is the Prometheus text format, labels every series with strategy and instance, and has the contract names and buckets', async () => {
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 5 });
    const [u] = (await seedUsers(db, { count: 1, secret: 'test-secret-0123456789' })) as [SeededUser];
    const api = await startApi(url, 'redlock', { instance: '3' });
    expect((await hold(api.url, u, { scheduleId: schedule.scheduleId, seatNo: 1 })).status).toBe(201);
    const sc = await scrape(api.url);
    expect(sc.contentType).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8$/);
    for (const [name, type] of Object.entries(CONTRACT)) expect({ name, type: sc.metrics[name]?.type }).toEqual({ name, type });
    for (const [name, m] of Object.entries(sc.metrics)) {
      for (const d of m.data) expect({ name, strategy: d.labels.strategy, instance: d.labels.instance }).toEqual({ name, strategy: 'redlock', instance: '3' });
    }
    // Every series of every histogram of ours has the contract's buckets.
    const bounds = [...BUCKETS.map(String), '+Inf'].sort();
    const ours = Object.entries(sc.metrics).filter(([n, m]) => n.startsWith('seatlab_') && m.type === 'histogram').map(([n]) => n);
    expect(ours.sort()).toEqual(Object.entries(CONTRACT).filter(([n, t]) => n.startsWith('seatlab_') && t === 'histogram').map(([n]) => n).sort());
    for (const name of ours) {
      const series = samples(sc, name, {});
      expect({ name, series: series.length > 0 }).toEqual({ name, series: true });
      for (const d of series) expect(Object.keys(d.buckets!).sort()).toEqual(bounds);
    }
    // Outcomes and runs are exported from the start (at 0), so the first increase has a rate.
    const series = (name: string) => samples(sc, name, {}).map((m) => Object.entries(m.labels).filter(([k]) => k !== 'strategy' && k !== 'instance').map(([, v]) => v).join(' ')).sort();
    expect(series('seatlab_hold_outcomes_total')).toEqual(['seat', 'ticket'].flatMap((k) => HOLD_OUTCOMES.map((o) => `${k} ${o}`)).sort());
    expect(series('seatlab_payment_outcomes_total')).toEqual([...PAYMENT_OUTCOMES].sort());
    expect(series('seatlab_background_runs_total')).toEqual(BACKGROUND_TASKS.flatMap((t) => [`${t} ok`, `${t} error`]).sort());
    expect(BUCKETS[0]).toBe(0.0001);
    expect(BUCKETS.at(-1)).toBe(10);
  });

  it('30 users race for one seat (pessimistic): outcomes, HTTP counts and histogram counts move by exactly the requests sent', async () => {
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 5 });
    const users = await seedUsers(db, { count: 30, secret: 'test-secret-0123456789' });
    const api = await startApi(url, 'pessimistic');
    let statuses: number[] = [];
    const m = await around(api.url, async () => {
      statuses = (await Promise.all(users.map((u) => hold(api.url, u, { scheduleId: schedule.scheduleId, seatNo: 2 })))).map((r) => r.status);
    });
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(29);

    const seat = (outcome: string) => m.delta('seatlab_hold_outcomes_total', { kind: 'seat', outcome });
    expect(seat('ok')).toBe(1);
    expect(seat('taken') + seat('busy')).toBe(29);
    for (const o of ['sold_out', 'not_found', 'error']) expect(seat(o)).toBe(0);
    expect(m.delta('seatlab_hold_outcomes_total', { kind: 'ticket' })).toBe(0);

    const route = { route: '/api/reservations', method: 'POST' };
    expect(m.delta('seatlab_http_requests_total', { ...route, status: '201' })).toBe(1);
    expect(m.delta('seatlab_http_requests_total', { ...route, status: '409' })).toBe(29);
    expect(m.delta('seatlab_http_requests_total', route)).toBe(30);
    expect(m.count('seatlab_http_request_duration_seconds', { ...route, status: '201' })).toBe(1);
    expect(m.count('seatlab_http_request_duration_seconds', { ...route, status: '409' })).toBe(29);
    // One SELECT … FOR UPDATE per hold, granted or timed out.
    expect(m.count('seatlab_lock_wait_seconds')).toBe(30);
    // Each hold's transaction takes a pooled connection and runs at least the FOR UPDATE.
    expect(m.count('seatlab_db_pool_wait_seconds')).toBeGreaterThanOrEqual(30);
    expect(m.count('seatlab_db_query_seconds')).toBeGreaterThanOrEqual(30);
    // The strategy's own counts, mirrored exactly.
    const c = api.counters();
    expect(counter(m.after, 'seatlab_lock_failures_total')).toBe(c.lockFailures);
    expect(seat('busy')).toBe(c.lockFailures);
    expect(counter(m.after, 'seatlab_lock_retries_total')).toBe(0);
  });

  it('redlock: lock failures and retries equal the strategy counters; each acquire is one lock wait; Redis commands are timed', async () => {
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 5 });
    const users = await seedUsers(db, { count: 30, secret: 'test-secret-0123456789' });
    const api = await startApi(url, 'redlock', { strategyOptions: { retryCount: '2', retryDelayMs: '5', retryJitterMs: '5' } });
    const m = await around(api.url, () => Promise.all(users.map((u) => hold(api.url, u, { scheduleId: schedule.scheduleId, seatNo: 3 }))));
    const c = api.counters();
    expect(m.delta('seatlab_hold_outcomes_total', { outcome: 'ok' })).toBe(1);
    expect(m.delta('seatlab_hold_outcomes_total', { outcome: 'busy' }) + m.delta('seatlab_hold_outcomes_total', { outcome: 'taken' })).toBe(29);
    expect(counter(m.after, 'seatlab_lock_failures_total')).toBe(c.lockFailures);
    expect(counter(m.after, 'seatlab_lock_retries_total')).toBe(c.retries);
    expect(m.delta('seatlab_hold_outcomes_total', { outcome: 'busy' })).toBe(c.lockFailures);
    expect(m.count('seatlab_lock_wait_seconds')).toBe(30);
    // Every acquire runs the lock script on the one Redis node at least once.
    expect(m.count('seatlab_redis_command_seconds')).toBeGreaterThanOrEqual(30);
    for (const s of samples(m.after, 'seatlab_redis_command_seconds', {})) expect(s.labels.command).toMatch(/^[a-z]+$/);
    // A second scrape with nothing sent in between moves nothing (the mirror never counts twice).
    const again = await scrape(api.url);
    expect(counter(again, 'seatlab_lock_failures_total')).toBe(c.lockFailures);
    expect(counter(again, 'seatlab_lock_retries_total')).toBe(c.retries);
  });

  it('optimistic general admission: retries mirror the strategy counter; ticket outcomes add up', async () => {
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 100 });
    const users = await seedUsers(db, { count: 30, secret: 'test-secret-0123456789' });
    const api = await startApi(url, 'optimistic');
    const m = await around(api.url, () => Promise.all(users.map((u) => hold(api.url, u, { scheduleId: schedule.scheduleId }, '/api/reservations/general'))));
    const c = api.counters();
    const ticket = (outcome: string) => m.delta('seatlab_hold_outcomes_total', { kind: 'ticket', outcome });
    expect(ticket('ok') + ticket('busy')).toBe(30);
    expect(ticket('busy')).toBe(c.lockFailures);
    expect(c.retries).toBeGreaterThan(0);
    expect(counter(m.after, 'seatlab_lock_retries_total')).toBe(c.retries);
    expect(counter(m.after, 'seatlab_lock_failures_total')).toBe(c.lockFailures);
    // One version-checked UPDATE per attempt: the first try plus every retry.
    expect(m.count('seatlab_lock_wait_seconds')).toBe(c.attempts);
    expect(m.delta('seatlab_http_requests_total', { route: '/api/reservations/general', method: 'POST' })).toBe(30);
  });

  it('payments: ok, replayed, insufficient and rejected are counted once each', async () => {
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 5, price: 100 });
    const [rich, poor] = (await seedUsers(db, { count: 2, secret: 'test-secret-0123456789', balance: 150 })) as [SeededUser, SeededUser];
    const api = await startApi(url, 'pessimistic');
    const r1 = (await hold(api.url, rich, { scheduleId: schedule.scheduleId, seatNo: 1 })).body.reservationId as number;
    const r2 = (await hold(api.url, rich, { scheduleId: schedule.scheduleId, seatNo: 2 })).body.reservationId as number;
    const pay = (u: SeededUser, reservationId: number, key: string) => fetch(`${api.url}/api/payments`, {
      method: 'POST', headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ reservationId }),
    }).then((r) => r.status);
    const statuses: number[] = [];
    const m = await around(api.url, async () => {
      statuses.push(await pay(rich, r1, 'k1')); // 201
      statuses.push(await pay(rich, r1, 'k1')); // the same key again: the stored 201
      statuses.push(await pay(rich, r2, 'k2')); // 50 points left for 100: 402
      statuses.push(await pay(poor, r2, 'k3')); // someone else's reservation: 403
    });
    expect(statuses).toEqual([201, 201, 402, 403]);
    const out = (outcome: string) => m.delta('seatlab_payment_outcomes_total', { outcome });
    expect({ ok: out('ok'), replayed: out('replayed'), insufficient: out('insufficient'), rejected: out('rejected'), busy: out('busy'), error: out('error') })
      .toEqual({ ok: 1, replayed: 1, insufficient: 1, rejected: 1, busy: 0, error: 0 });
    expect(m.delta('seatlab_http_requests_total', { route: '/api/payments', status: '201' })).toBe(2);
    expect(m.delta('seatlab_http_requests_total', { route: '/api/payments' })).toBe(4);
  });

  it('labels routes by pattern, errors leaving the router keep their route, no match is "unmatched", scrapes are not counted', async () => {
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 3 });
    const [u] = (await seedUsers(db, { count: 1, secret: 'test-secret-0123456789' })) as [SeededUser];
    const api = await startApi(url, 'pessimistic');
    const m = await around(api.url, async () => {
      expect((await call(api.url, 'GET', `/api/schedules/${schedule.scheduleId}/seats`, { token: u.token })).status).toBe(200);
      expect((await call(api.url, 'GET', '/api/schedules/999999/seats', { token: u.token })).status).toBe(404);
      expect((await call(api.url, 'POST', '/api/reservations', { body: { scheduleId: 1, seatNo: 1 } })).status).toBe(401);
      expect((await call(api.url, 'GET', '/no/such/route')).status).toBe(404);
      expect((await call(api.url, 'POST', '/api/users', { rawBody: '{"name": ' })).status).toBe(400);
      await scrape(api.url);
    });
    const seats = { route: '/api/schedules/:id/seats', method: 'GET' };
    expect(m.delta('seatlab_http_requests_total', { ...seats, status: '200' })).toBe(1);
    expect(m.delta('seatlab_http_requests_total', { ...seats, status: '404' })).toBe(1);
    expect(m.delta('seatlab_http_requests_total', { route: '/api/reservations', method: 'POST', status: '401' })).toBe(1);
    expect(m.delta('seatlab_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    // Malformed JSON is refused by the body parser, before any route matched.
    expect(m.delta('seatlab_http_requests_total', { route: 'unmatched', status: '400' })).toBe(1);
    expect(m.delta('seatlab_http_requests_total')).toBe(5);
    expect(samples(m.after, 'seatlab_http_requests_total', { route: '/metrics' })).toEqual([]);
  });

  it('two servers in one process keep their own registries', async () => {
    const { url } = await freshDatabase();
    const a = await startApi(url, 'pessimistic', { instance: '0' });
    const b = await startApi(url, 'optimistic', { instance: '1' });
    for (let i = 0; i < 3; i++) await call(a.url, 'GET', '/healthz');
    const sa = await scrape(a.url);
    const sb = await scrape(b.url);
    expect(counter(sa, 'seatlab_http_requests_total', { route: '/healthz' })).toBe(3);
    expect(counter(sb, 'seatlab_http_requests_total', { route: '/healthz' })).toBe(0);
    expect(samples(sb, 'nodejs_eventloop_lag_p99_seconds', {}).map((s) => s.labels)).toEqual([{ strategy: 'optimistic', instance: '1' }]);
  });

  it('counts runs of the sweeper, the relay, the reconciler and the waiting-room admitter', async () => {
    const { url } = await freshDatabase();
    const api = await startApi(url, 'redis-decr', {
      sweepIntervalMs: 50, relayIntervalMs: 50, strategyOptions: { reconcileIntervalMs: '50' },
      queue: { maxActive: 5, ratePerSec: 10, activeTtlMs: 10_000, tickMs: 50 },
    });
    const tasks = ['sweeper', 'relay', 'reconciler', 'admission'];
    let sc = await scrape(api.url);
    for (let i = 0; i < 100 && tasks.some((task) => counter(sc, 'seatlab_background_runs_total', { task, result: 'ok' }) === 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      sc = await scrape(api.url);
    }
    for (const task of tasks) {
      expect({ task, ok: counter(sc, 'seatlab_background_runs_total', { task, result: 'ok' }) > 0 }).toEqual({ task, ok: true });
      expect({ task, errors: counter(sc, 'seatlab_background_runs_total', { task, result: 'error' }) }).toEqual({ task, errors: 0 });
    }
  });
});

// ---- The Prometheus and Grafana set-up of docker-compose.yml's observability profile ----

const ROOT = path.resolve('.');
const readYaml = <T>(file: string) => YAML.parse(readFileSync(path.join(ROOT, file), 'utf8')) as T;
const readJson = <T>(file: string) => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as T;

// The parts of each file the tests read.
interface Ds { uid: string }
interface Panel { id?: number; datasource?: Ds; targets?: { expr: string; datasource: Ds }[]; panels?: Panel[] }
interface Dashboard { panels: Panel[]; templating: { list: { type: string; datasource: Ds; query: string | { query: string } }[] } }
interface PromConfig {
  global: { scrape_interval: string; scrape_timeout: string };
  rule_files?: string[];
  scrape_configs: { job_name: string; metrics_path?: string; honor_labels?: boolean; static_configs: { targets: string[] }[] }[];
}
interface Rules { groups?: { rules: { expr: string }[] }[] }
interface Service { image: string; profiles?: string[]; volumes: string[]; ports: string[]; extra_hosts?: string[]; environment?: Record<string, string> }
interface Compose { services: Record<string, Service> }
const DASHBOARD = 'observability/grafana/dashboards/seatlab.json';

/**
 * The metric names a PromQL expression reads: strings, label matchers, ranges, grouping clauses,
 * Grafana variables and numbers are removed; what is left that is not a function call or a keyword
 * is a metric name. label_values(metric, label) names its metric first.
 */
function metricNames(expr: string): string[] {
  const lv = /label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(expr);
  if (lv) return [lv[1]!];
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    // Numbers and durations (offset 5m), but not digits inside a name.
    .replace(/(^|[^a-zA-Z0-9_:])\d+(\.\d+)?(e[+-]?\d+)?(ms|s|m|h|d|w|y)?(?![a-zA-Z0-9_:])/gi, '$1 ');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
  const names = [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)].filter((m) => !m[2] && !keywords.has(m[1]!)).map((m) => m[1]!);
  return [...new Set(names)];
}

/** Every PromQL expression of a Grafana dashboard: panel targets (rows included) and query variables. */
function dashboardExprs(d: Dashboard): string[] {
  const out: string[] = [];
  const visit = (panels: Panel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push(t.expr);
      visit(p.panels);
    }
  };
  visit(d.panels);
  for (const v of d.templating.list) if (v.type === 'query') out.push(typeof v.query === 'string' ? v.query : v.query.query);
  return out;
}

describe('observability set-up (Prometheus, Grafana, docker compose)', () => {
  it('extracts metric names from PromQL the way Prometheus reads it', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, strategy) (rate(seatlab_lock_wait_seconds_bucket{strategy=~"$strategy", le!="x{y}"}[$__rate_interval])))')).toEqual(['seatlab_lock_wait_seconds_bucket']);
    expect(metricNames('rate(a_total[1m]) / on (instance) b_total offset 5m > 1e3')).toEqual(['a_total', 'b_total']);
    expect(metricNames('label_values(seatlab_http_requests_total, strategy)')).toEqual(['seatlab_http_requests_total']);
  });

  it('every metric the dashboard and the Prometheus configuration query is one a live server exports', async () => {
    const { url, db } = await freshDatabase();
    const schedule = await seedSchedule(db, { seats: 5 });
    const [u] = (await seedUsers(db, { count: 1, secret: 'test-secret-0123456789' })) as [SeededUser];
    // redlock uses Redis, so every family (Redis command time included) has a series.
    const api = await startApi(url, 'redlock');
    await hold(api.url, u, { scheduleId: schedule.scheduleId, seatNo: 1 });
    const exported = await scrape(api.url);
    const histograms = new Set(Object.entries(exported.metrics).filter(([, m]) => m.type === 'histogram').map(([n]) => n));
    const base = (n: string) => {
      const m = /^(.*)_(bucket|sum|count)$/.exec(n);
      return m && histograms.has(m[1]!) ? m[1]! : n;
    };

    const dashboard = readJson<Dashboard>(DASHBOARD);
    const prom = readYaml<PromConfig>('observability/prometheus.yml');
    // Recording and alerting rules are PromQL too, should the configuration ever name rule files.
    const ruleExprs = (prom.rule_files ?? []).flatMap((f) => (readYaml<Rules>(path.join('observability', f)).groups ?? []).flatMap((g) => g.rules.map((r) => r.expr)));
    const exprs = [...dashboardExprs(dashboard), ...ruleExprs];
    expect(exprs.length).toBeGreaterThanOrEqual(15);
    const used = new Set(exprs.flatMap(metricNames).map(base));
    const missing = [...used].filter((n) => !(n in exported.metrics));
    expect(missing).toEqual([]);
    // What the issue asks the dashboard to show.
    for (const n of ['seatlab_hold_outcomes_total', 'seatlab_http_request_duration_seconds', 'seatlab_lock_wait_seconds', 'seatlab_db_pool_wait_seconds', 'nodejs_eventloop_lag_p99_seconds']) expect(used).toContain(n);
    expect(exprs.filter((e) => e.includes('seatlab_http_request_duration_seconds_bucket') && e.includes('status="201"'))).not.toEqual([]);
    expect(exprs.filter((e) => e.includes('seatlab_http_request_duration_seconds_bucket') && e.includes('status="409"'))).not.toEqual([]);
  });

  it('Prometheus scrapes /metrics of bench serve instances every second and keeps their instance label', () => {
    const prom = readYaml<PromConfig>('observability/prometheus.yml');
    const job = prom.scrape_configs.find((j) => j.job_name === 'seatlab')!;
    expect(job).toBeDefined();
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job.honor_labels).toBe(true);
    const targets = job.static_configs.flatMap((s) => s.targets);
    expect(targets).toContain('host.docker.internal:8080');
    for (const t of targets) expect(t).toMatch(/^host\.docker\.internal:\d+$/);
    const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1] ?? NaN);
    expect(seconds(prom.global.scrape_interval)).toBe(1);
    // Prometheus refuses a timeout longer than the interval.
    expect(seconds(prom.global.scrape_timeout)).toBeLessThanOrEqual(seconds(prom.global.scrape_interval));
  });

  it('docker-compose.yml parses; prometheus and grafana are in the observability profile and mount files that exist', () => {
    const { prometheus, grafana, postgres, redis } = readYaml<Compose>('docker-compose.yml').services as Record<'prometheus' | 'grafana' | 'postgres' | 'redis', Service>;
    expect(prometheus.profiles).toEqual(['observability']);
    expect(grafana.profiles).toEqual(['observability']);
    expect(prometheus.image).toMatch(/^prom\/prometheus:/);
    expect(grafana.image).toMatch(/^grafana\/grafana:/);
    expect(prometheus.extra_hosts).toContain('host.docker.internal:host-gateway');
    // The stores keep starting without a profile, as before.
    expect(postgres.profiles).toBeUndefined();
    expect(redis.profiles).toBeUndefined();
    for (const svc of [prometheus, grafana]) {
      for (const v of svc.volumes) {
        const src = v.split(':')[0]!;
        expect({ v, exists: existsSync(path.join(ROOT, src)) }).toEqual({ v, exists: true });
      }
      for (const p of svc.ports) expect(p).toMatch(/^127\.0\.0\.1:/);
    }
    expect(prometheus.volumes.some((v) => v.startsWith('./observability/prometheus.yml:/etc/prometheus/prometheus.yml'))).toBe(true);
  });

  it('Grafana provisioning: the datasource the dashboard names, and a provider for the folder it is mounted at', () => {
    const [source] = readYaml<{ datasources: { uid: string; type: string; url: string }[] }>('observability/grafana/provisioning/datasources/prometheus.yml').datasources;
    expect(source).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    const dashboard = readJson<Dashboard>(DASHBOARD);
    const uids = new Set<string>();
    const visit = (panels: Panel[] = []) => {
      for (const p of panels) {
        if (p.datasource) uids.add(p.datasource.uid);
        for (const t of p.targets ?? []) uids.add(t.datasource.uid);
        visit(p.panels);
      }
    };
    visit(dashboard.panels);
    for (const v of dashboard.templating.list) uids.add(v.datasource.uid);
    expect([...uids]).toEqual([source!.uid]);
    const { providers } = readYaml<{ providers: { options: { path: string } }[] }>('observability/grafana/provisioning/dashboards/seatlab.yml');
    const grafana = readYaml<Compose>('docker-compose.yml').services.grafana!;
    const mounted = grafana.volumes.find((v) => v.startsWith('./observability/grafana/dashboards:'))!.split(':')[1];
    expect(providers.map((p) => p.options.path)).toEqual([mounted]);
    expect(grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${mounted}/seatlab.json`);
    // Panel ids are unique (Grafana keys panel state by them).
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
