import { describe, expect, it } from 'vitest';
import { evaluateThresholds, parseThreshold, type Threshold } from '../src/report/thresholds.js';
import type { StrategyResult } from '../src/report/schema.js';

const names = ['pessimistic', 'optimistic'];
const result = (strategy: string, p99: number, oversold: number, extra: Partial<StrategyResult> = {}) => ({
  strategy, safe: strategy !== 'none', ...extra, rps: 1000, okPerSec: 40, latencyMs: { count: 1, p50: 10, p90: 20, p99, p999: 300, max: 400, mean: 12 },
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
    expect(parseThreshold('p99 lt 250', names)).toContain('expected [strategy:|safe:|unsafe:]metric<op>number');
    expect(parseThreshold('p98<250', names)).toMatch(/unknown metric "p98"; valid: .*p99/);
    expect(parseThreshold('oversould==0', names)).toContain('unknown metric "oversould"');
    expect(parseThreshold('magic:p99<1', names)).toContain('unknown strategy "magic"; valid: pessimistic, optimistic, or safe: / unsafe:');
    expect(parseThreshold('constructor:p99<1', names)).toContain('unknown strategy "constructor"');
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

  it('safe: selects the results that claim to be safe; the none control group and fencing=off are skipped', () => {
    expect(parseThreshold('safe:oversold==0', names)).toEqual({ expr: 'safe:oversold==0', safe: true, metric: 'oversold', op: '==', target: 0 });
    expect(parseThreshold('unsafe:oversold>0', names)).toMatchObject({ safe: false, metric: 'oversold' });
    const results = [
      result('none', 90, 33),
      result('pessimistic', 200, 0),
      result('redlock', 150, 4, { safe: false, unsafeReason: 'fencing=off' }),
      result('redlock', 160, 0, { fault: 'pause-instance' }),
    ];
    const safe = evaluateThresholds([parseThreshold('safe:oversold==0', names) as Threshold], results);
    expect(safe.map((r) => [r.strategyName, r.fault, r.pass])).toEqual([['pessimistic', undefined, true], ['redlock', 'pause-instance', true]]);
    const unsafe = evaluateThresholds([parseThreshold('unsafe:oversold>0', names) as Threshold], results);
    expect(unsafe.map((r) => [r.strategyName, r.value, r.pass])).toEqual([['none', 33, true], ['redlock', 4, true]]);
    // Without a selector the control group fails it, as it is meant to oversell: why safe: exists.
    expect(evaluateThresholds([parseThreshold('oversold==0', names) as Threshold], results).filter((r) => !r.pass).map((r) => r.strategyName)).toEqual(['none', 'redlock']);
  });
});
