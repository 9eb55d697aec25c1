import { describe, expect, it } from 'vitest';
import { compareReports } from '../src/report/compare.js';
import type { Report, StrategyResult } from '../src/report/schema.js';
import { spread } from '../src/report/stats.js';

/** A crafted report: one strategy whose runs had these rps and p99 values. */
function report(rpsRuns: number[], p99Runs: number[], extra: Partial<StrategyResult> = {}): Report {
  const s = (xs: number[]) => spread(xs);
  const med = (xs: number[]) => s(xs).median;
  const r = {
    strategy: 'pessimistic', safe: true, rps: med(rpsRuns), okPerSec: 40, oversold: 0,
    latencyMs: { count: 1, p50: 10, p90: 20, p99: med(p99Runs), p999: 300, max: 400, mean: 12 },
    stats: { rps: s(rpsRuns), okPerSec: s([40, 40, 40]), p50: s([10, 10, 10]), p99: s(p99Runs), p999: s([300, 300, 300]) },
    ...extra,
  } as unknown as StrategyResult;
  return { schemaVersion: 1, runId: 'x', scenario: { name: 'flash-sale' }, git: { commit: null }, results: [r] } as unknown as Report;
}

describe('bench compare decisions', () => {
  const base = report([1000, 1010, 990], [100, 102, 98]);

  it('no change: exit 0', () => {
    const c = compareReports(base, report([1005, 995, 1000], [101, 99, 100]), 10);
    expect(c.exitCode).toBe(0);
    expect(c.metrics.every((m) => !m.regression)).toBe(true);
  });

  it('a throughput drop beyond the limit with separate intervals is a regression: exit 4', () => {
    const c = compareReports(base, report([700, 705, 695], [101, 99, 100]), 10);
    expect(c.exitCode).toBe(4);
    expect(c.metrics.find((m) => m.metric === 'rps')).toMatchObject({ regression: true, overlap: false, worsePct: 30 });
  });

  it('a large change whose intervals overlap (noisy runs) is not called a regression', () => {
    const c = compareReports(base, report([400, 1100, 600], [101, 99, 100]), 10);
    const rps = c.metrics.find((m) => m.metric === 'rps')!;
    expect(rps.worsePct).toBeGreaterThan(10);
    expect(rps.overlap).toBe(true);
    expect(c.exitCode).toBe(0);
  });

  it('a change within the limit is not a regression even when intervals separate', () => {
    const c = compareReports(base, report([950, 952, 948], [101, 99, 100]), 10);
    expect(c.metrics.find((m) => m.metric === 'rps')).toMatchObject({ overlap: false, regression: false });
    expect(c.exitCode).toBe(0);
  });

  it('a slower p99 counts as worse', () => {
    const c = compareReports(base, report([1000, 1010, 990], [150, 152, 148]), 10);
    expect(c.metrics.find((m) => m.metric === 'p99')).toMatchObject({ regression: true, worsePct: 50 });
  });

  it('any oversell by a safe strategy fails, whatever the speed: exit 3', () => {
    const c = compareReports(base, report([1200, 1210, 1190], [90, 91, 89], { oversold: 1 }), 10);
    expect(c.exitCode).toBe(3);
    expect(c.oversold).toEqual([{ strategy: 'pessimistic', oversold: 1 }]);
  });
});
