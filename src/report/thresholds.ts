import type { StrategyResult } from './schema.js';

// Thresholds are data ("p99<250", "pessimistic:oversold==0"), parsed before the run and evaluated
// after it, as k6 does. A misspelled metric is an error, never a silent pass.

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

export interface Threshold { expr: string; strategy?: string; metric: string; op: string; target: number }
export interface ThresholdResult extends Threshold { strategyName: string; value: number; pass: boolean }

/** Parses one --threshold; returns the threshold or a sentence saying what is wrong and what is valid. */
export function parseThreshold(expr: string, strategies: string[]): Threshold | string {
  const m = /^\s*(?:([a-z0-9-]+):)?\s*([A-Za-z0-9]+)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(expr);
  if (!m) return `--threshold "${expr}": expected [strategy:]metric<op>number, e.g. "p99<250" or "pessimistic:oversold==0" (ops: <, <=, >, >=, ==, !=)`;
  const [, strategy, metric, op, target] = m as unknown as [string, string | undefined, string, string, string];
  if (!METRICS[metric]) return `--threshold "${expr}": unknown metric "${metric}"; valid: ${THRESHOLD_METRICS.join(', ')}`;
  if (strategy && !strategies.includes(strategy)) return `--threshold "${expr}": unknown strategy "${strategy}"; valid: ${strategies.join(', ')}`;
  return { expr, strategy, metric, op, target: Number(target) };
}

export function evaluateThresholds(thresholds: Threshold[], results: StrategyResult[]): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const t of thresholds) {
    for (const r of results.filter((x) => !t.strategy || x.strategy === t.strategy)) {
      const value = METRICS[t.metric]!(r);
      out.push({ ...t, strategyName: r.strategy, value, pass: OPS[t.op]!(value, t.target) });
    }
  }
  return out;
}
