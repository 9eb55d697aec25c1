import { storeFromName, VALID_STORES, type StrategyResult } from './schema.js';
import type { Dialect } from '../db/dialect.js';

// Thresholds are data ("p99<250", "pessimistic:oversold==0", "safe:oversold==0"), parsed before the
// run and evaluated after it, as k6 does. A misspelled metric is an error, never a silent pass.
// "safe:" selects the results that claim to be safe: the `none` control group, and a configuration
// unsafe by design (fencing=off), are expected to oversell, so "oversold==0" alone would always fail.
// "@store" narrows a selector to one store of a two-store run: "pessimistic@mysql:p99<250",
// "safe@pg:oversold==0", or "@mysql:p99<250" for every strategy on MySQL.

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

/** Applies to every result, to one strategy's, or (safe set) to those whose `safe` is that value; with `store`, on that store only. */
export interface Threshold { expr: string; strategy?: string; safe?: boolean; store?: Dialect; linkLatencyMs?: number; metric: string; op: string; target: number }
/** One threshold on one result; `storeName` is the result's store (absent in reports of one PostgreSQL store); `rttMs` the round trip its links added. */
export interface ThresholdResult extends Threshold { strategyName: string; fault?: string; storeName?: Dialect; rttMs?: number; value: number; pass: boolean }

const SELECTORS: Record<string, boolean> = { safe: true, unsafe: false };
const SYNTAX = '[strategy:|safe:|unsafe:]metric<op>number, narrowed to one store with @store and to one link round trip with @<n>ms before the colon, e.g. "p99<250", "safe:oversold==0", ' +
  '"pessimistic:okPerSec>1000", "pessimistic@mysql:p99<250", "safe@pg:oversold==0", "@mysql:p99<250" or "pessimistic@2ms:okPerSec>200" (ops: <, <=, >, >=, ==, !=)';

/** Parses one --threshold; returns the threshold or a sentence saying what is wrong and what is valid. */
export function parseThreshold(expr: string, strategies: string[]): Threshold | string {
  const m = /^\s*(?:([a-z0-9-]*)((?:@[A-Za-z0-9.]+)*):)?\s*([A-Za-z0-9]+)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(expr);
  if (!m || (m[1] === '' && !m[2])) return `--threshold "${expr}": expected ${SYNTAX}`;
  const [, sel, narrow, metric, op, target] = m as unknown as [string, string | undefined, string | undefined, string, string, string];
  const strategy = sel === '' ? undefined : sel;
  if (!METRICS[metric]) return `--threshold "${expr}": unknown metric "${metric}"; valid: ${THRESHOLD_METRICS.join(', ')}`;
  // Each @part is a store (@mysql) or a link round trip (@2ms, @0.5ms).
  let store: Dialect | undefined;
  let linkLatencyMs: number | undefined;
  for (const part of (narrow ?? '').split('@').filter(Boolean)) {
    const rtt = /^(\d+(?:\.\d+)?)ms$/.exec(part);
    if (rtt) { linkLatencyMs = Number(rtt[1]); continue; }
    store = storeFromName(part);
    if (!store) return `--threshold "${expr}": unknown store "${part}" after @; valid: ${VALID_STORES}, or a link round trip such as @2ms`;
  }
  const onStore = { ...(store ? { store } : {}), ...(linkLatencyMs !== undefined ? { linkLatencyMs } : {}) };
  if (strategy !== undefined && Object.hasOwn(SELECTORS, strategy)) return { expr, safe: SELECTORS[strategy], ...onStore, metric, op, target: Number(target) };
  if (strategy && !strategies.includes(strategy)) return `--threshold "${expr}": unknown strategy "${strategy}"; valid: ${strategies.join(', ')}, or safe: / unsafe:`;
  return { expr, strategy, ...onStore, metric, op, target: Number(target) };
}

export function evaluateThresholds(thresholds: Threshold[], results: StrategyResult[]): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  // The store is named when there is a choice of stores, or the one store is not PostgreSQL.
  const stores = new Set(results.map((r) => r.store ?? 'pg'));
  const shown = stores.size > 1 || !stores.has('pg');
  for (const t of thresholds) {
    const mine = results.filter((x) => (!t.strategy || x.strategy === t.strategy) && (t.safe === undefined || x.safe === t.safe) && (!t.store || (x.store ?? 'pg') === t.store) &&
      (t.linkLatencyMs === undefined || x.linkLatencyMs === t.linkLatencyMs));
    for (const r of mine) {
      const value = METRICS[t.metric]!(r);
      out.push({ ...t, strategyName: r.strategy, ...(r.fault ? { fault: r.fault } : {}), ...(r.store && shown ? { storeName: r.store } : {}), ...(r.linkLatencyMs !== undefined ? { rttMs: r.linkLatencyMs } : {}), value, pass: OPS[t.op]!(value, t.target) });
    }
  }
  return out;
}
