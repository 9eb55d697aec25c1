import { describe, expect, it } from 'vitest';
import { compareReports, paramDifferences, renderComparison } from '../src/report/compare.js';
import type { Report, StrategyResult } from '../src/report/schema.js';
import { spread, studentTCdf, welch } from '../src/report/stats.js';

interface Cell { strategy?: string; fault?: string; rps: number[]; p99?: number[]; extra?: Partial<StrategyResult> }

/** A crafted result: each run's rps and p99 (the other figures flat), headline = median run, as aggregate.ts does. */
function result({ strategy = 'pessimistic', fault, rps, p99 = rps.map(() => 100), extra = {} }: Cell): StrategyResult {
  const runs = rps.map((x, i) => ({ run: i + 1, rps: x, okPerSec: 40, latencyMs: { count: 1, p50: 10, p90: 20, p99: p99[i]!, p999: 300, max: 400, mean: 12 } }));
  const s = spread;
  return {
    strategy, ...(fault ? { fault } : {}), safe: true, rps: s(rps).median, okPerSec: 40, oversold: 0,
    load: { model: 'closed', connections: 64, transport: 'http' },
    latencyMs: { count: 1, p50: 10, p90: 20, p99: s(p99).median, p999: 300, max: 400, mean: 12 },
    runs, stats: { rps: s(rps), okPerSec: s(rps.map(() => 40)), p50: s(rps.map(() => 10)), p99: s(p99), p999: s(rps.map(() => 300)) },
    ...extra,
  } as unknown as StrategyResult;
}

function report(cells: Cell[], over: { params?: Record<string, number>; config?: Partial<Report['config']>; scenario?: string } = {}): Report {
  return {
    schemaVersion: 1, runId: 'x', scenario: { name: over.scenario ?? 'flash-sale', params: { users: 2000, seats: 200, connections: 64, seed: 42, ...over.params } },
    git: { commit: null }, config: { skipped: [], poolSize: 20, runs: cells[0]?.rps.length ?? 3, ...over.config }, results: cells.map(result),
  } as unknown as Report;
}
const one = (rps: number[], p99?: number[], extra?: Partial<StrategyResult>) => report([{ rps, p99, extra }]);

describe('Student t and Welch', () => {
  it('the t CDF matches published quantiles and scipy at fractional df', () => {
    expect(studentTCdf(12.706, 1)).toBeCloseTo(0.975, 5);
    expect(studentTCdf(2.132, 4)).toBeCloseTo(0.95, 4);
    expect(studentTCdf(-2.132, 4)).toBeCloseTo(0.05, 4);
    expect(studentTCdf(0, 3)).toBe(0.5);
    expect(studentTCdf(1.5, 2.5)).toBeCloseTo(0.876081773456852, 10); // scipy.stats.t.cdf(1.5, 2.5)
    expect(studentTCdf(-3.1, 3.7)).toBeCloseTo(0.020115539392948, 10);
  });

  it('Welch statistic, df and one-sided p agree with scipy.stats.ttest_ind(equal_var=False)', () => {
    const w = welch([1000, 1010, 990], [700, 705, 695]);
    expect(w.t).toBeCloseTo(46.4758, 3);
    expect(w.df).toBeCloseTo(2.941176, 5);
    expect(w.pGreater).toBeCloseTo(1.30337e-5, 9);
    expect(welch([150, 140, 160], [100, 102, 98]).pGreater).toBeCloseTo(0.00535897, 7);
    expect(welch([2, 2, 2], [1, 1, 1]).pGreater).toBe(0);
    expect(welch([2, 2], [2, 2]).pGreater).toBe(0.5);
  });
});

describe('bench compare decisions (Welch at 3 runs)', () => {
  const base = one([1000, 1010, 990], [100, 102, 98]);

  it('identical distributions: no regression, exit 0, p-values shown', () => {
    const c = compareReports(base, one([1005, 995, 1000], [101, 99, 100]), 10);
    expect(c.exitCode).toBe(0);
    expect(c.metrics.every((m) => !m.regression && m.p !== undefined)).toBe(true);
    expect(renderComparison(c, base, base, 10)).toMatch(/\| pessimistic \| rps \| .* \| 3\/3 \| .* \| 0\.\d{3} \| within noise \|/);
  });

  it('a clear throughput drop beyond the limit is called: exit 4', () => {
    const c = compareReports(base, one([700, 705, 695]), 10);
    expect(c.exitCode).toBe(4);
    expect(c.metrics.find((m) => m.metric === 'rps')).toMatchObject({ regression: true, worsePct: 30 });
    expect(c.metrics.find((m) => m.metric === 'rps')!.p).toBeLessThan(0.001);
  });

  it('a 15% drop whose 95% intervals overlap is still called when Welch says p < 0.05', () => {
    // The interval rule misses this one: the power Welch adds at 3 runs.
    const c = compareReports(one([1000, 1060, 940]), one([850, 900, 800]), 10);
    const rps = c.metrics.find((m) => m.metric === 'rps')!;
    expect(rps.overlap).toBe(true);
    expect(rps.p).toBeLessThan(0.05);
    expect(rps.regression).toBe(true);
  });

  it('a lower alpha asks for stronger evidence', () => {
    const [b, cur] = [one([1000, 1060, 940]), one([850, 900, 800])];
    expect(compareReports(b, cur, 10, 0.05).exitCode).toBe(4);
    const strict = compareReports(b, cur, 10, 0.01);
    expect(strict.exitCode).toBe(0);
    expect(renderComparison(strict, b, cur, 10)).toContain('calls worse at p < 0.01');
  });

  it('a big change inside huge noise is not called', () => {
    const c = compareReports(base, one([400, 1100, 600]), 10);
    const rps = c.metrics.find((m) => m.metric === 'rps')!;
    expect(rps.worsePct).toBeGreaterThan(10);
    expect(rps.p).toBeGreaterThan(0.05);
    expect(rps).toMatchObject({ regression: false, verdict: 'within noise' });
    expect(c.exitCode).toBe(0);
  });

  it('a significant change within the limit is not a regression', () => {
    const c = compareReports(base, one([950, 952, 948]), 10);
    expect(c.metrics.find((m) => m.metric === 'rps')).toMatchObject({ regression: false, verdict: 'worse, within limit' });
    expect(c.exitCode).toBe(0);
  });

  it('faster is better, never a regression; a slower p99 is worse', () => {
    expect(compareReports(base, one([1300, 1310, 1290]), 10).metrics.find((m) => m.metric === 'rps')).toMatchObject({ regression: false, verdict: 'better' });
    const c = compareReports(base, one([1000, 1010, 990], [150, 152, 148]), 10);
    expect(c.metrics.find((m) => m.metric === 'p99')).toMatchObject({ regression: true, worsePct: 50 });
  });

  it('one run per side: the limit and the intervals decide, and the output says 1 run cannot tell noise from change', () => {
    const b1 = one([1000]);
    const c = compareReports(b1, one([700]), 10);
    const rps = c.metrics.find((m) => m.metric === 'rps')!;
    expect(rps.regression).toBe(true);
    expect(rps.p).toBeUndefined();
    expect(c.singleRun).toBe(true);
    const md = renderComparison(c, b1, b1, 10);
    expect(md).toContain('1 run cannot tell noise from change');
    expect(md).toContain('n/a (1 run)');
    expect(compareReports(b1, one([950]), 10).exitCode).toBe(0);
  });

  it('any oversell by a safe strategy fails, whatever the speed: exit 3', () => {
    const c = compareReports(base, one([1200, 1210, 1190], [90, 91, 89], { oversold: 1 }), 10);
    expect(c.exitCode).toBe(3);
    expect(c.oversold).toEqual([{ label: 'pessimistic', oversold: 1 }]);
  });
});

describe('bench compare: results matched on (strategy, fault)', () => {
  const cells = (xs: [string, string | undefined][]) => xs.map(([strategy, fault]) => ({ strategy, fault, rps: [1000, 1010, 990] }));

  it('a strategy of the baseline missing from the current report: exit 5, with the reason it was skipped', () => {
    const base = report(cells([['pessimistic', undefined], ['redlock', undefined]]));
    const cur = report(cells([['pessimistic', undefined]]), { config: { skipped: [{ strategy: 'redlock', reason: 'Redis unavailable' }] } });
    const c = compareReports(base, cur, 10);
    expect(c.exitCode).toBe(5);
    expect(c.missing).toEqual([{ label: 'redlock', reason: 'Redis unavailable' }]);
    expect(renderComparison(c, base, cur, 10)).toContain('**redlock is in the baseline but missing from the current report** (skipped: Redis unavailable)');
  });

  it('matches on the fault too and prints "strategy × fault"; a new cell is only noted', () => {
    const base = report(cells([['redlock', 'pause-instance'], ['redlock', 'kill-instance']]));
    const cur = report(cells([['redlock', 'pause-instance'], ['redlock', undefined]]));
    const c = compareReports(base, cur, 10);
    expect(c.metrics.map((m) => m.label)).toEqual(Array(5).fill('redlock × pause-instance'));
    expect(c.missing.map((m) => m.label)).toEqual(['redlock × kill-instance']);
    expect(c.added).toEqual(['redlock']);
    expect(c.exitCode).toBe(5);
  });

  it('an oversell outranks a missing strategy, a regression too', () => {
    const base = report(cells([['pessimistic', undefined], ['redlock', undefined]]));
    expect(compareReports(base, report([{ rps: [700, 705, 695] }]), 10).exitCode).toBe(4);
    expect(compareReports(base, report([{ rps: [1000, 1010, 990], extra: { oversold: 2 } }]), 10).exitCode).toBe(3);
  });
});

describe('bench compare: reports of different experiments', () => {
  const cell = [{ rps: [1000, 1010, 990] }];

  it('the same experiment has no differences, whatever the pool size (which is only noted)', () => {
    expect(paramDifferences(report(cell), report(cell, { config: { poolSize: 2 } }))).toEqual([]);
  });

  it('names each differing field with both values', () => {
    const b = report(cell);
    const cur = report([{ rps: [1000, 1010, 990], extra: { load: { model: 'open', connections: 64, transport: 'direct', rate: { requested: 500, achieved: 500, shortfall: false, missed: 0 } } } }],
      { scenario: 'hot-seat', params: { users: 1000, seed: 7 }, config: { instances: 2, nemesis: { faults: ['pause-instance'] } } });
    expect(paramDifferences(b, cur)).toEqual([
      { field: 'scenario', baseline: 'flash-sale', current: 'hot-seat' },
      { field: 'scenario.params.users', baseline: '2000', current: '1000' },
      { field: 'scenario.params.seed', baseline: '42', current: '7' },
      { field: 'rate (results[].load.model/rate.requested)', baseline: 'closed', current: 'open 500/s' },
      { field: 'transport (results[].load.transport)', baseline: 'http', current: 'direct' },
      { field: 'instances (config.instances)', baseline: '1', current: '2' },
      { field: 'nemesis faults (config.nemesis.faults)', baseline: 'none', current: 'pause-instance' },
    ]);
  });

  it('an absent instances count is 1', () => {
    expect(paramDifferences(report(cell), report(cell, { config: { instances: 1 } }))).toEqual([]);
  });
});
