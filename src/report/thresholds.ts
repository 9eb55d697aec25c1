import type { StrategyResult } from './schema.js';

// Thresholds are data ("p99<250", "pessimistic:oversold==0", "safe:oversold==0"), parsed before the
// run and evaluated after it, as k6 does. A misspelled metric is an error, never a silent pass.
// "safe:" selects the results that claim to be safe: the `none` control group, and a configuration
// unsafe by design (fencing=off), are expected to oversell, so "oversold==0" alone would always fail.

const METRICS: Record<string, (r: StrategyResult) => number> = {
  rps: (r) => r.rps,
  okPerSec: (r) => r.okPerSec,
  p50: (r) => r.latencyMs.p50,
  p90: (r) => r.latencyMs.p90,
  p99: (r) => r.latencyMs.p99,
  p999: (r) => r.latencyMs.p999,
  max: (r) => r.latencyMs.max,
  mean: (r) => r.latencyMs.mean,
  oversold: (r) => r.oversold,
  errors: (r) => r.outcomes.error,
  timeouts: (r) => r.outcomes.timeout,
  ok: (r) => r.outcomes.ok,
  conflicts: (r) => r.outcomes.conflict,
  retries: (r) => r.retries,
  lockFailures: (r) => r.lockFailures,
  dbAvoided: (r) => r.dbAvoided,
  violations: (r) => Object.values(r.violationCounts).reduce((a, b) => a + b, 0),
};
export const THRESHOLD_METRICS = Object.keys(METRICS);

const OPS: Record<string, (a: number, b: number) => boolean> = {
  '<=': (a, b) => a <= b, '>=': (a, b) => a >= b, '==': (a, b) => a === b, '!=': (a, b) => a !== b, '<': (a, b) => a < b, '>': (a, b) => a > b,
};

/** Applies to every result, to one strategy's, or (safe set) to those whose `safe` is that value. */
export interface Threshold { expr: string; strategy?: string; safe?: boolean; metric: string; op: string; target: number }
export interface ThresholdResult extends Threshold { strategyName: string; fault?: string; value: number; pass: boolean }

const SELECTORS: Record<string, boolean> = { safe: true, unsafe: false };
const SYNTAX = '[strategy:|safe:|unsafe:]metric<op>number, e.g. "p99<250", "safe:oversold==0" or "pessimistic:okPerSec>1000" (ops: <, <=, >, >=, ==, !=)';

/** Parses one --threshold; returns the threshold or a sentence saying what is wrong and what is valid. */
export function parseThreshold(expr: string, strategies: string[]): Threshold | string {
  const m = /^\s*(?:([a-z0-9-]+):)?\s*([A-Za-z0-9]+)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(expr);
  if (!m) return `--threshold "${expr}": expected ${SYNTAX}`;
  const [, strategy, metric, op, target] = m as unknown as [string, string | undefined, string, string, string];
  if (!METRICS[metric]) return `--threshold "${expr}": unknown metric "${metric}"; valid: ${THRESHOLD_METRICS.join(', ')}`;
  if (strategy !== undefined && Object.hasOwn(SELECTORS, strategy)) return { expr, safe: SELECTORS[strategy], metric, op, target: Number(target) };
  if (strategy && !strategies.includes(strategy)) return `--threshold "${expr}": unknown strategy "${strategy}"; valid: ${strategies.join(', ')}, or safe: / unsafe:`;
  return { expr, strategy, metric, op, target: Number(target) };
}

export function evaluateThresholds(thresholds: Threshold[], results: StrategyResult[]): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const t of thresholds) {
    for (const r of results.filter((x) => (!t.strategy || x.strategy === t.strategy) && (t.safe === undefined || x.safe === t.safe))) {
      const value = METRICS[t.metric]!(r);
      out.push({ ...t, strategyName: r.strategy, ...(r.fault ? { fault: r.fault } : {}), value, pass: OPS[t.op]!(value, t.target) });
    }
  }
  return out;
}
