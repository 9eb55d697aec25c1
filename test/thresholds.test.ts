import { describe, expect, it } from 'vitest';
import { evaluateThresholds, parseThreshold, type Threshold } from '../src/report/thresholds.js';
import type { StrategyResult } from '../src/report/schema.js';

const names = ['pessimistic', 'optimistic'];
const result = (strategy: string, p99: number, oversold: number) => ({
  strategy, rps: 1000, okPerSec: 40, latencyMs: { count: 1, p50: 10, p90: 20, p99, p999: 300, max: 400, mean: 12 },
  oversold, outcomes: { ok: 1, conflict: 0, soldOut: 0, rejected: 0, error: 0, timeout: 0 }, retries: 0, lockFailures: 0, dbAvoided: 0, violationCounts: {},
}) as unknown as StrategyResult;

describe('thresholds', () => {
  it('parses valid expressions, with and without a strategy', () => {
    expect(parseThreshold('p99<250', names)).toEqual({ expr: 'p99<250', strategy: undefined, metric: 'p99', op: '<', target: 250 });
    expect(parseThreshold('pessimistic:p99 <= 300.5', names)).toMatchObject({ strategy: 'pessimistic', metric: 'p99', op: '<=', target: 300.5 });
    expect(parseThreshold('oversold==0', names)).toMatchObject({ metric: 'oversold', op: '==', target: 0 });
    expect(parseThreshold('okPerSec>1000', names)).toMatchObject({ metric: 'okPerSec', op: '>', target: 1000 });
  });

  it('refuses malformed expressions, misspelled metrics and unknown strategies with the valid choices', () => {
    expect(parseThreshold('p99 lt 250', names)).toContain('expected [strategy:]metric<op>number');
    expect(parseThreshold('p98<250', names)).toMatch(/unknown metric "p98"; valid: .*p99/);
    expect(parseThreshold('oversould==0', names)).toContain('unknown metric "oversould"');
    expect(parseThreshold('magic:p99<1', names)).toContain('unknown strategy "magic"; valid: pessimistic, optimistic');
  });

  it('evaluates per strategy, a prefixed threshold only for its strategy', () => {
    const ts = ['p99<250', 'optimistic:oversold==0'].map((e) => parseThreshold(e, names) as Threshold);
    const res = evaluateThresholds(ts, [result('pessimistic', 200, 3), result('optimistic', 260, 0)]);
    expect(res.map((r) => [r.expr, r.strategyName, r.value, r.pass])).toEqual([
      ['p99<250', 'pessimistic', 200, true],
      ['p99<250', 'optimistic', 260, false],
      ['optimistic:oversold==0', 'optimistic', 0, true],
    ]);
  });
});
