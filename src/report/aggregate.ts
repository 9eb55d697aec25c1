import * as hdr from 'hdr-histogram-js';
import type { StrategyResult, RunFigures } from './schema.js';
import { median, spread } from './stats.js';
import { encode } from '../load/histogram.js';

const sumRecords = (xs: Record<string, number>[]) => {
  const out: Record<string, number> = {};
  for (const x of xs) for (const [k, v] of Object.entries(x)) out[k] = (out[k] ?? 0) + v;
  return out;
};

/** Merges the compressed histograms of several runs into one (for the headline percentiles). */
function mergeHistograms(encoded: string[]): string {
  const merged = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  for (const e of encoded) merged.add(hdr.decodeFromCompressedBase64(e, 32, false));
  return encode(merged);
}

export function runFigures(r: StrategyResult, run: number): RunFigures {
  return {
    run, durationMs: r.durationMs, requests: r.requests, rps: r.rps, okPerSec: r.okPerSec, latencyMs: r.latencyMs,
    outcomes: r.outcomes, oversold: r.oversold, verdict: r.verdict, histogram: r.histogram, perSecond: r.perSecond, warmup: r.warmup,
  };
}

/**
 * One strategy over N runs: rates and latencies are the median run (with min, max and a 95%
 * interval in `stats`), counts are summed, oversold is the worst run, every run's raw figures and
 * histogram are kept so the report can be re-aggregated later.
 */
export function aggregateRuns(runs: StrategyResult[]): StrategyResult {
  const first = runs[0]!;
  if (runs.length === 1) return { ...first, runs: [runFigures(first, 1)], stats: statsOf(runs) };
  const verdicts = runs.map((r) => r.verdict);
  const verdict = verdicts.includes('fail') ? 'fail' : verdicts.includes('unsafe-as-expected') ? 'unsafe-as-expected' : first.verdict;
  const lat = (k: keyof StrategyResult['latencyMs']) => median(runs.map((r) => r.latencyMs[k]));
  const okLat = (k: keyof StrategyResult['latencyMs']) => median(runs.map((r) => r.okLatencyMs[k]));
  const keys = ['count', 'p50', 'p90', 'p99', 'p999', 'max', 'mean'] as const;
  return {
    ...first,
    durationMs: median(runs.map((r) => r.durationMs)),
    requests: runs.reduce((a, r) => a + r.requests, 0),
    rps: median(runs.map((r) => r.rps)),
    okPerSec: median(runs.map((r) => r.okPerSec)),
    latencyMs: Object.fromEntries(keys.map((k) => [k, k === 'count' ? runs.reduce((a, r) => a + r.latencyMs.count, 0) : lat(k)])) as unknown as StrategyResult['latencyMs'],
    okLatencyMs: Object.fromEntries(keys.map((k) => [k, k === 'count' ? runs.reduce((a, r) => a + r.okLatencyMs.count, 0) : okLat(k)])) as unknown as StrategyResult['okLatencyMs'],
    outcomes: sumRecords(runs.map((r) => r.outcomes)) as StrategyResult['outcomes'],
    statusCodes: sumRecords(runs.map((r) => r.statusCodes)),
    errorCodes: sumRecords(runs.map((r) => r.errorCodes)),
    journeys: sumRecords(runs.map((r) => r.journeys)) as StrategyResult['journeys'],
    oversold: Math.max(...runs.map((r) => r.oversold)),
    retries: runs.reduce((a, r) => a + r.retries, 0),
    lockFailures: runs.reduce((a, r) => a + r.lockFailures, 0),
    dbAvoided: runs.reduce((a, r) => a + r.dbAvoided, 0),
    counters: sumRecords(runs.map((r) => r.counters)),
    violations: runs.flatMap((r, i) => r.violations.map((v) => ({ ...v, detail: `run ${i + 1}: ${v.detail}` }))).slice(0, 40),
    violationCounts: sumRecords(runs.map((r) => r.violationCounts)),
    verdict,
    notes: [...new Set(runs.flatMap((r) => r.notes))],
    histogram: mergeHistograms(runs.map((r) => r.histogram)),
    seedMs: median(runs.map((r) => r.seedMs)),
    storeCeiling: runs.find((r) => r.storeCeiling)?.storeCeiling,
    runs: runs.map((r, i) => runFigures(r, i + 1)),
    stats: statsOf(runs),
  };
}

function statsOf(runs: StrategyResult[]): NonNullable<StrategyResult['stats']> {
  return {
    rps: spread(runs.map((r) => r.rps)),
    okPerSec: spread(runs.map((r) => r.okPerSec)),
    p50: spread(runs.map((r) => r.latencyMs.p50)),
    p99: spread(runs.map((r) => r.latencyMs.p99)),
    p999: spread(runs.map((r) => r.latencyMs.p999)),
  };
}
