import { describe, expect, it } from 'vitest';
import { createLatencyHistogram, encode } from '../src/load/histogram.js';
import { renderMarkdown } from '../src/report/render-md.js';
import { renderHtml } from '../src/report/render-html.js';
import { renderConsoleTable } from '../src/cli/console.js';
import { evaluateThresholds, parseThreshold, type Threshold } from '../src/report/thresholds.js';
import { compareReports, paramDifferences, renderComparison } from '../src/report/compare.js';
import { cellKey } from '../src/cli/run.js';
import type { Report, StrategyResult } from '../src/report/schema.js';
import type { StoreInfo } from '../src/report/metadata.js';
import type { Dialect } from '../src/db/dialect.js';

// Hand-built reports of a two-store run (no server needed): the store column, the grouping of a
// strategy's results side by side, the dashed mysql series, thresholds and compare by store.

/** An encoded latency histogram of n requests spread evenly between lo and hi ms. */
function hist(n: number, lo: number, hi: number): string {
  const h = createLatencyHistogram();
  for (let i = 0; i < n; i++) h.recordValue(Math.round((lo + ((hi - lo) * i) / Math.max(1, n - 1)) * 1000));
  return encode(h);
}

const lat = (p99: number) => ({ count: 10, p50: p99 / 2, p90: p99 * 0.9, p99, p999: p99, max: p99, mean: p99 / 2 });

function result(strategy: string, store: Dialect | undefined, o: { p99?: number; rps?: number[]; oversold?: number; safe?: boolean } = {}): StrategyResult {
  const p99 = o.p99 ?? (store === 'mysql' ? 80 : 40);
  const rps = o.rps ?? [100];
  const ok = { count: 1, p50: p99 / 2, p90: p99, p99, p999: p99, max: p99, mean: p99 / 2 };
  return {
    strategy, ...(store ? { store } : {}), description: strategy, safe: o.safe ?? strategy !== 'none', options: {},
    load: { model: 'closed', connections: 10, transport: 'http' }, seedMs: 5, durationMs: 100, requests: 10, rps: rps[0]!, okPerSec: 10,
    latencyMs: lat(p99), okLatencyMs: lat(p99), outcomes: { ok: 1, conflict: 9, soldOut: 0, rejected: 0, error: 0, timeout: 0 },
    statusCodes: { 201: 1, 409: 9 }, errorCodes: {}, journeys: { total: 10, succeeded: 1, exhausted: 9, stopped: 0, unknown: 0 },
    oversold: o.oversold ?? 0, retries: 0, lockFailures: 0, dbAvoided: 0, counters: { lockWaits: 3 },
    check: { capacity: 1, activeReservations: 1, seatsHeldOrSold: 1 }, violations: [], violationCounts: {},
    verdict: (o.oversold ?? 0) > 0 ? 'unsafe-as-expected' : 'pass', notes: [], perSecond: { ok: [1, 0], requests: [6, 4] },
    histogram: hist(10, 1, p99), warmup: { ms: 0, applied: false, excludedRequests: 0 },
    sale: { timeToSelloutMs: 50, holdsPerSecUntilSellout: 20, firstComeShare: 1, rankCorrelation: null },
    latencyByOutcome: { ok, rejected: lat(p99), error: { ...lat(0), count: 0 }, unknown: { ...lat(0), count: 0 } },
    outcomeHistograms: { ok: hist(1, p99, p99), rejected: hist(9, 1, p99) }, selloutCurve: [0, 1, 1],
    runs: rps.map((x, i) => ({ run: i + 1, rps: x, okPerSec: 10, latencyMs: lat(p99) })) as StrategyResult['runs'],
  } as StrategyResult;
}

const PG: StoreInfo = { engine: 'postgresql', version: '16.14', kind: 'embedded', isolation: 'read committed', settings: { synchronous_commit: 'on', shared_buffers: '256MB', max_connections: '200' } };
const MARIA: StoreInfo = { engine: 'mariadb', version: '11.4.2-MariaDB', kind: 'url', isolation: 'REPEATABLE-READ', settings: { innodb_lock_wait_timeout: '50' } };

function report(results: StrategyResult[], stores: Dialect[] | undefined, infos: StoreInfo[] = stores?.map((s) => (s === 'pg' ? PG : MARIA)) ?? [PG]): Report {
  return {
    schemaVersion: 1, runId: 'run-x', createdAt: '2025-01-01T00:00:00Z', tool: { name: 'seatlab', version: '0.1.0' },
    scenario: { name: 'hot-seat', description: 'one seat', expectation: 'exactly one winner', params: { users: 10, seats: 1, connections: 10, seed: 42 } },
    config: { strategies: [...new Set(results.map((r) => r.strategy))], skipped: [], redisNodes: 0, strategyOptions: {}, holdTtlMs: 300000, poolSize: 20, timeoutSec: 10,
      seed: 42, runs: 1, warmupMs: 0, command: [], ...(stores ? { stores } : {}) },
    machine: { cpuModel: 'Test CPU', cores: 2, memGiB: 4, node: 'v20', os: 'Linux', loadAvg1m: 0, note: 'shared cores' },
    servers: { ...(stores ? { stores: infos } : {}), ...(infos.includes(PG) || !stores ? { postgres: { version: PG.version, kind: PG.kind, settings: PG.settings } } : {}) },
    git: { commit: null, dirty: null }, ceilings: { http: { perSec: 1000, p99Ms: 5, durationMs: 3000 } },
    results, thresholds: [], summary: { exitCode: 0, failedStrategies: [] },
  };
}

// Deliberately out of order: the renderers put each strategy's stores side by side.
const twoStores = () => report([result('pessimistic', 'pg'), result('optimistic', 'pg'), result('optimistic', 'mysql'), result('pessimistic', 'mysql'),
  result('none', 'mysql', { oversold: 1 }), result('none', 'pg', { oversold: 2 })], ['pg', 'mysql']);

/** The body rows of the first markdown table after a heading line that starts with `after`, split into cells. */
function mdTable(md: string, header: string): string[][] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  expect(start, `no table starting with ${header}`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}

describe('report.md with two stores', () => {
  const md = renderMarkdown(twoStores());

  it('has a store column after the strategy, each strategy on both stores side by side', () => {
    expect(md).toContain('| strategy | store | safe | req/s | ok/s |');
    expect(md).toContain('| --- | --- | --- | ---: |');
    expect(mdTable(md, '| strategy | store | safe |').map((r) => `${r[0]}/${r[1]}`)).toEqual([
      'pessimistic/pg', 'pessimistic/mysql', 'optimistic/pg', 'optimistic/mysql', 'none/pg', 'none/mysql']);
    expect(mdTable(md, '| strategy | store | sold out in |').map((r) => `${r[0]}/${r[1]}`)).toEqual([
      'pessimistic/pg', 'pessimistic/mysql', 'optimistic/pg', 'optimistic/mysql', 'none/pg', 'none/mysql']);
  });

  it('names each result strategy@store in the lists', () => {
    expect(md).toContain('- **pessimistic@mysql**: all invariants hold');
    expect(md).toContain('- **pessimistic@pg**: all invariants hold');
    expect(md).toContain('- pessimistic@mysql: store ceiling');
    expect(md).toContain('**Runs:** 1 per strategy on each store (pg, mysql), interleaved');
  });

  it('lists each store with its engine, version, kind and isolation level', () => {
    expect(mdTable(md, '| store | engine |')).toEqual([
      ['pg', 'PostgreSQL', '16.14', 'embedded', 'read committed', 'synchronous_commit=on, shared_buffers=256MB, max_connections=200'],
      ['mysql', 'MariaDB', '11.4.2-MariaDB', 'url', 'REPEATABLE-READ', 'innodb_lock_wait_timeout=50'],
    ]);
    expect(md).toContain('PostgreSQL 16.14 (embedded; isolation read committed; synchronous_commit=on');
    expect(md).toContain('MariaDB 11.4.2-MariaDB (url; isolation REPEATABLE-READ; innodb_lock_wait_timeout=50)');
  });
});

describe('one store', () => {
  it('PostgreSQL alone (and a report from before stores): no store column, labels and machine line as before', () => {
    for (const r of [report([result('pessimistic', 'pg'), result('none', 'pg')], ['pg']), report([result('pessimistic', undefined), result('none', undefined)], undefined)]) {
      const md = renderMarkdown(r);
      expect(md).toContain('| strategy | safe | req/s | ok/s |');
      expect(md).not.toContain('| store |  safe');
      expect(md).toContain('- **pessimistic**: all invariants hold');
      expect(md).toContain('PostgreSQL 16.14 (embedded; synchronous_commit=on, shared_buffers=256MB, max_connections=200)');
      expect(renderConsoleTable(r).split('\n')[3]).toMatch(/^strategy\s+req\/s/);
      const html = renderHtml(r);
      expect(html).not.toContain('data-store');
      expect(html).toContain('Winners (solid) and losers (dashed): latency by percentile');
    }
  });

  it('MySQL alone: the store is shown all the same', () => {
    const r = report([result('pessimistic', 'mysql')], ['mysql']);
    const md = renderMarkdown(r);
    expect(mdTable(md, '| strategy | store | safe |').map((x) => x.slice(0, 2))).toEqual([['pessimistic', 'mysql']]);
    expect(md).toContain('- **pessimistic@mysql**: all invariants hold');
    expect(md).not.toContain('PostgreSQL 16');
    expect(renderConsoleTable(r)).toMatch(/\npessimistic\s+mysql\s+100/);
  });
});

describe('console table with two stores', () => {
  it('has a store column; each strategy on both stores side by side', () => {
    const lines = renderConsoleTable(twoStores()).split('\n');
    const header = lines.findIndex((l) => l.startsWith('strategy'));
    expect(lines[header]).toMatch(/^strategy\s+store\s+req\/s/);
    expect(lines.slice(header + 1, header + 7).map((l) => l.split(/\s+/).slice(0, 2).join('/'))).toEqual([
      'pessimistic/pg', 'pessimistic/mysql', 'optimistic/pg', 'optimistic/mysql', 'none/pg', 'none/mysql']);
  });
});

describe('report.html with two stores', () => {
  const html = renderHtml(twoStores());
  const polylines = [...html.matchAll(/<polyline class="series" ([^>]*)\/>/g)].map((m) => {
    const a = m[1]!;
    return { strategy: /data-strategy="([^"]+)"/.exec(a)?.[1], store: /data-store="([^"]+)"/.exec(a)?.[1], color: /stroke="([^"]+)"/.exec(a)?.[1] };
  });
  const figures = html.split('<figure>').slice(1).map((f) => ({ caption: /<figcaption>([^<]*)<\/figcaption>/.exec(f)?.[1] ?? '', body: f }));

  it('colours by strategy and dashes by store in the charts that mix stores', () => {
    const latency = figures.find((f) => f.caption.startsWith('Latency by percentile'))!;
    expect(latency.caption).toContain('colour: strategy; line: pg solid, mysql dashed');
    const series = [...latency.body.matchAll(/<polyline class="series" ([^>]*)\/>/g)].map((m) => m[1]!);
    expect(series.map((a) => `${/data-strategy="([^"]+)"/.exec(a)![1]}/${/data-store="([^"]+)"/.exec(a)![1]}`)).toEqual([
      'pessimistic/pg', 'pessimistic/mysql', 'optimistic/pg', 'optimistic/mysql', 'none/pg', 'none/mysql']);
    const sold = figures.find((f) => f.caption.startsWith('Seats sold over time'))!;
    expect(sold.caption).toContain('pg solid, mysql dashed');
    const throughput = figures.find((f) => f.caption.startsWith('Throughput over time'))!;
    for (const f of [latency, sold, throughput]) {
      const here = polylines.filter((p) => f.body.includes(`data-strategy="${p.strategy}" data-store="${p.store}"`));
      expect(here.length).toBeGreaterThan(0);
    }
    // The same strategy has the same colour on both stores; different strategies differ.
    for (const s of ['pessimistic', 'optimistic', 'none']) {
      const colours = new Set(polylines.filter((p) => p.strategy === s).map((p) => p.color));
      expect(colours.size, s).toBe(1);
    }
    expect(new Set(['pessimistic', 'optimistic', 'none'].map((s) => polylines.find((p) => p.strategy === s)!.color)).size).toBe(3);
  });

  it('every mixed chart: pg series solid, mysql series dashed, and the legend line shows the same dash', () => {
    const mixed = figures.filter((f) => !f.caption.startsWith('Winners') && f.body.includes('<polyline'));
    expect(mixed.length).toBe(3);
    for (const f of mixed) {
      for (const m of f.body.matchAll(/<polyline class="series" ([^>]*)\/>/g)) {
        const a = m[1]!;
        if (a.includes('data-store="mysql"')) expect(a).toContain('stroke-dasharray="6 4"');
        else expect(a).not.toContain('stroke-dasharray');
      }
      const legend = [...f.body.matchAll(/<line class="legend-line" ([^>]*)\/><text [^>]*>([^<]+)<\/text>/g)].map((m) => ({ dashed: m[1]!.includes('stroke-dasharray'), name: m[2]! }));
      expect(legend.find((l) => l.name === 'pessimistic@mysql')).toEqual({ dashed: true, name: 'pessimistic@mysql' });
      expect(legend.find((l) => l.name === 'pessimistic@pg')).toEqual({ dashed: false, name: 'pessimistic@pg' });
    }
  });

  it('winners and losers get a chart per store (there the dashes are the losers)', () => {
    const wl = figures.filter((f) => f.caption.startsWith('Winners'));
    expect(wl.map((f) => f.caption)).toEqual([
      expect.stringContaining('Winners (solid) and losers (dashed) on pg (PostgreSQL 16.14)'),
      expect.stringContaining('Winners (solid) and losers (dashed) on mysql (MariaDB 11.4.2-MariaDB)')]);
    expect(wl[0]!.body).not.toContain('data-store="mysql"');
    expect(wl[1]!.body).not.toContain('data-store="pg"');
    expect(html).toContain('the line is the store: pg solid, mysql dashed');
  });

  it('the tables have a store column and the stores are listed with their isolation', () => {
    expect(html).toMatch(/<table class="comparison"><tr><th>strategy<\/th><th>store<\/th><th>safe<\/th>/);
    expect(html).toContain('<tr data-strategy="none" data-store="mysql"><td>none</td><td>mysql</td><td class="bad">1</td>');
    expect(html).toMatch(/<tr data-store="mysql"><td>mysql<\/td><td>MariaDB 11\.4\.2-MariaDB<\/td><td>url<\/td><td>REPEATABLE-READ<\/td>/);
    expect(html).toContain('store ceiling: optimistic@mysql');
  });
});

describe('thresholds with two stores', () => {
  const names = ['pessimistic', 'optimistic'];

  it('parse strategy@store, safe@store and @store; aliases name the same store', () => {
    expect(parseThreshold('pessimistic@mysql:p99<250', names)).toEqual({ expr: 'pessimistic@mysql:p99<250', strategy: 'pessimistic', store: 'mysql', metric: 'p99', op: '<', target: 250 });
    expect(parseThreshold('safe@postgres:oversold==0', names)).toMatchObject({ safe: true, store: 'pg', metric: 'oversold' });
    expect(parseThreshold('@mariadb:p99<1', names)).toMatchObject({ strategy: undefined, store: 'mysql' });
    expect(parseThreshold('pessimistic@oracle:p99<1', names)).toBe('--threshold "pessimistic@oracle:p99<1": unknown store "oracle" after @; valid: pg (or postgres, postgresql), mysql (or mariadb), or a link round trip such as @2ms');
    expect(parseThreshold(':p99<1', names)).toContain('expected [strategy:|safe:|unsafe:]metric<op>number');
  });

  it('evaluate on the named store only, and say which store each result was on', () => {
    const results = twoStores().results;
    const ts = ['pessimistic@mysql:p99<50', 'safe@pg:oversold==0', 'p99<1000'].map((e) => parseThreshold(e, [...names, 'none']) as Threshold);
    const res = evaluateThresholds(ts, results);
    expect(res.filter((x) => x.expr === 'pessimistic@mysql:p99<50').map((x) => [x.strategyName, x.storeName, x.value, x.pass])).toEqual([['pessimistic', 'mysql', 80, false]]);
    expect(res.filter((x) => x.expr === 'safe@pg:oversold==0').map((x) => `${x.strategyName}@${x.storeName}`)).toEqual(['pessimistic@pg', 'optimistic@pg']);
    expect(res.filter((x) => x.expr === 'p99<1000')).toHaveLength(6);
    // One PostgreSQL store: results are not labelled with a store, as before.
    expect(evaluateThresholds(ts.slice(2), [result('pessimistic', 'pg')])[0]).not.toHaveProperty('storeName');
  });
});

describe('compare with stores', () => {
  const withRuns = (r: Report, rps: number[]) => ({ ...r, results: r.results.map((x) => ({ ...x, ...result(x.strategy, x.store, { rps, p99: x.latencyMs.p99, oversold: x.oversold }),
    stats: undefined })) }) as Report;

  it('two-store reports: each (strategy, store) against itself, named strategy@store', () => {
    const base = withRuns(twoStores(), [100, 101, 99]);
    const c = compareReports(base, withRuns(twoStores(), [100, 101, 99]), 10);
    expect([...new Set(c.metrics.map((m) => m.label))]).toEqual(['pessimistic@pg', 'optimistic@pg', 'optimistic@mysql', 'pessimistic@mysql', 'none@mysql', 'none@pg']);
    expect(c.missing).toEqual([]);
    expect(c.metrics.find((m) => m.label === 'pessimistic@mysql')).toMatchObject({ strategy: 'pessimistic', store: 'mysql' });
    expect(renderComparison(c, base, base, 10)).toContain('| pessimistic@mysql | rps |');
    expect(paramDifferences(base, base)).toEqual([]);
  });

  it('a pg report and a mysql report differ in a defining field; matched across stores only when asked', () => {
    const pgOnly = withRuns(report([result('pessimistic', 'pg')], ['pg']), [100, 101, 99]);
    const myOnly = withRuns(report([result('pessimistic', 'mysql')], ['mysql']), [100, 101, 99]);
    expect(paramDifferences(pgOnly, myOnly)).toEqual([{ field: 'stores (config.stores, results[].store)', baseline: 'pg', current: 'mysql' }]);
    // An old report (no store anywhere) is a pg report.
    const old = withRuns(report([result('pessimistic', undefined)], undefined), [100, 101, 99]);
    expect(paramDifferences(old, pgOnly)).toEqual([]);
    expect(compareReports(old, pgOnly, 10).missing).toEqual([]);
    const strict = compareReports(pgOnly, myOnly, 10);
    expect(strict.missing.map((m) => m.label)).toEqual(['pessimistic']);
    expect(strict.added).toEqual(['pessimistic@mysql']);
    const across = compareReports(pgOnly, myOnly, 10, 0.05, { acrossStores: true });
    expect(across.missing).toEqual([]);
    expect(across.metrics[0]!.label).toBe('pessimistic@mysql (baseline pessimistic@pg)');
  });
});

describe('cellKey', () => {
  it('keeps the single-store keys and adds the store only when given', () => {
    expect(cellKey('redlock')).toBe('redlock');
    expect(cellKey('redlock', 'pause-instance')).toBe('redlock@pause-instance');
    expect(cellKey('redlock', undefined, 'mysql')).toBe('redlock.mysql');
    expect(cellKey('redlock', 'pause-instance', 'pg')).toBe('redlock@pause-instance.pg');
  });
});
