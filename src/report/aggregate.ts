import * as hdr from 'hdr-histogram-js';
import type { StrategyResult, RunFigures } from './schema.js';
import { median, spread } from './stats.js';
import { encode } from '../load/histogram.js';
import { mergeConnectionErrors } from '../infra/error-tally.js';

const sumRecords = (xs: Record<string, number>[]) => {
  const out: Record<string, number> = {};
  for (const x of xs) for (const [k, v] of Object.entries(x)) out[k] = (out[k] ?? 0) + v;
  return out;
};

/** The median run's count: with an even number of runs the lower middle one, so it is a count some run had. */
export const medianCount = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

/** Per key, the median run's count (keys missing from a run count as 0 there). */
const medianRecords = (xs: Record<string, number>[]) => {
  const keys = new Set(xs.flatMap((x) => Object.keys(x)));
  return Object.fromEntries([...keys].map((k) => [k, medianCount(xs.map((x) => x[k] ?? 0))]));
};
const rangeRecords = (xs: Record<string, number>[]) => {
  const keys = new Set(xs.flatMap((x) => Object.keys(x)));
  return Object.fromEntries([...keys].map((k) => { const v = xs.map((x) => x[k] ?? 0); return [k, [Math.min(...v), Math.max(...v)] as [number, number]]; }));
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
    ...(r.unknown !== undefined ? { unknown: r.unknown } : {}), ...(r.stuck !== undefined ? { stuck: r.stuck } : {}),
    ...(r.history ? { lostAcks: r.history.lostAcks, unexplainedWrites: r.history.unexplainedWrites } : {}),
    ...(r.nemesis ? { faults: r.nemesis.events } : {}),
    ...(r.sale ? { sale: r.sale } : {}),
    ...(r.latencyByOutcome ? { latencyByOutcome: r.latencyByOutcome } : {}),
    ...(r.cpu ? { cpu: r.cpu } : {}),
    ...(r.memory ? { memory: r.memory } : {}),
  };
}

/**
 * One strategy over N runs: rates and latencies are the median run (with min, max and a 95%
 * interval in `stats`), counts are the median run's (one sale's count, with min–max in
 * `countRanges`; sums over runs only under `totals`), oversold is the worst run, every run's raw figures and
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
    requests: medianCount(runs.map((r) => r.requests)),
    rps: median(runs.map((r) => r.rps)),
    okPerSec: median(runs.map((r) => r.okPerSec)),
    latencyMs: Object.fromEntries(keys.map((k) => [k, k === 'count' ? runs.reduce((a, r) => a + r.latencyMs.count, 0) : lat(k)])) as unknown as StrategyResult['latencyMs'],
    okLatencyMs: Object.fromEntries(keys.map((k) => [k, k === 'count' ? runs.reduce((a, r) => a + r.okLatencyMs.count, 0) : okLat(k)])) as unknown as StrategyResult['okLatencyMs'],
    outcomes: medianRecords(runs.map((r) => r.outcomes)) as StrategyResult['outcomes'],
    countRanges: rangeRecords(runs.map((r) => r.outcomes)),
    totals: { runs: runs.length, requests: runs.reduce((a, r) => a + r.requests, 0), outcomes: sumRecords(runs.map((r) => r.outcomes)) as StrategyResult['outcomes'] },
    statusCodes: medianRecords(runs.map((r) => r.statusCodes)),
    errorCodes: medianRecords(runs.map((r) => r.errorCodes)),
    journeys: medianRecords(runs.map((r) => r.journeys)) as StrategyResult['journeys'],
    oversold: Math.max(...runs.map((r) => r.oversold)),
    // Safety figures are the worst run's; the unknowns are the median run's (the runs are in runs[]).
    ...(first.stuck !== undefined ? { stuck: Math.max(...runs.map((r) => r.stuck ?? 0)) } : {}),
    ...(first.unknown !== undefined ? { unknown: median(runs.map((r) => r.unknown ?? 0)) } : {}),
    ...(first.sale ? { sale: medianSale(runs) } : {}),
    // One sale's seat order (the run with the median in-order share), so its counts belong together.
    ...(first.seatOrder ? { seatOrder: medianRun(runs, (r) => r.seatOrder?.inOrderShare).seatOrder } : {}),
    ...(first.fairness ? { fairness: medianRun(runs, (r) => r.fairness?.firstComeShare).fairness } : {}),
    ...(first.inside ? { inside: medianRun(runs, (r) => r.inside?.lockWait.p99).inside } : {}),
    ...(first.latencyByOutcome ? { latencyByOutcome: medianByOutcome(runs) } : {}),
    ...(first.cpu ? { cpu: medianCpu(runs) } : {}),
    ...(first.memory ? { memory: highestMemory(runs) } : {}),
    ...(first.load.rate ? { load: { ...first.load, rate: medianRate(runs) } } : {}),
    retries: medianCount(runs.map((r) => r.retries)),
    lockFailures: medianCount(runs.map((r) => r.lockFailures)),
    dbAvoided: medianCount(runs.map((r) => r.dbAvoided)),
    counters: medianRecords(runs.map((r) => r.counters)),
    violations: runs.flatMap((r, i) => r.violations.map((v) => ({ ...v, detail: `run ${i + 1}: ${v.detail}` }))).slice(0, 40),
    // Violations over all runs: every one is evidence, whichever run it came from.
    violationCounts: sumRecords(runs.map((r) => r.violationCounts)),
    verdict,
    notes: [...new Set(runs.flatMap((r) => r.notes))],
    histogram: mergeHistograms(runs.map((r) => r.histogram)),
    seedMs: median(runs.map((r) => r.seedMs)),
    storeCeiling: runs.find((r) => r.storeCeiling)?.storeCeiling,
    runs: runs.map((r, i) => runFigures(r, i + 1)),
    stats: statsOf(runs),
    // Every lost connection of every run: each one is something that happened.
    ...(runs.some((r) => r.connectionErrors) ? { connectionErrors: mergeConnectionErrors(runs.map((r) => r.connectionErrors ?? [])) } : {}),
  };
}

const medianOrNull = (xs: (number | null | undefined)[]) => {
  const v = xs.filter((x): x is number => typeof x === 'number');
  return v.length === 0 ? null : median(v);
};

/** The run with the median of a figure, so that figures counted together (one sale's) stay together. */
function medianRun(runs: StrategyResult[], by: (r: StrategyResult) => number | null | undefined): StrategyResult {
  return [...runs].sort((a, b) => (by(a) ?? 0) - (by(b) ?? 0))[Math.floor((runs.length - 1) / 2)]!;
}

/** One run's CPU figures whole (the run with the median total CPU per request), so its components add up; it says which run. */
/** The run whose lab process peaked highest: what a machine must have room for. */
function highestMemory(runs: StrategyResult[]): NonNullable<StrategyResult['memory']> {
  const withMemory = runs.filter((r) => r.memory);
  const top = withMemory.reduce((a, r) => (r.memory!.peakRssBytes > a.memory!.peakRssBytes ? r : a));
  return { ...top.memory!, run: runs.indexOf(top) + 1 };
}

function medianCpu(runs: StrategyResult[]): NonNullable<StrategyResult['cpu']> {
  const withCpu = runs.filter((r) => r.cpu);
  const m = medianRun(withCpu, (r) => r.cpu!.total.usPerRequest);
  return { ...m.cpu!, run: runs.indexOf(m) + 1 };
}

function medianSale(runs: StrategyResult[]): NonNullable<StrategyResult['sale']> {
  const s = runs.map((r) => r.sale);
  return {
    timeToSelloutMs: medianOrNull(s.map((x) => x?.timeToSelloutMs)), holdsPerSecUntilSellout: medianOrNull(s.map((x) => x?.holdsPerSecUntilSellout)),
    firstComeShare: medianOrNull(s.map((x) => x?.firstComeShare)), rankCorrelation: medianOrNull(s.map((x) => x?.rankCorrelation)),
  };
}

/** The open model's schedule over runs: the median run's rate and counts, the worst generator lag. */
function medianRate(runs: StrategyResult[]): NonNullable<StrategyResult['load']['rate']> {
  const rates = runs.map((r) => r.load.rate!);
  const achieved = median(rates.map((r) => r.achieved));
  const lag = (k: 'p50' | 'p99' | 'max') => Math.max(...rates.map((r) => r.startLagMs?.[k] ?? 0));
  return {
    ...rates[0]!, achieved, shortfall: achieved < rates[0]!.requested * 0.95,
    missed: medianCount(rates.map((r) => r.missed)), dropped: medianCount(rates.map((r) => r.dropped ?? 0)),
    peakConnections: medianCount(rates.map((r) => r.peakConnections ?? 0)),
    startLagMs: { p50: lag('p50'), p99: lag('p99'), max: lag('max') },
  };
}

function medianByOutcome(runs: StrategyResult[]): NonNullable<StrategyResult['latencyByOutcome']> {
  const first = runs[0]!.latencyByOutcome!;
  const keys = ['count', 'p50', 'p90', 'p99', 'p999', 'max', 'mean'] as const;
  return Object.fromEntries(Object.keys(first).map((c) => [c, Object.fromEntries(keys.map((k) =>
    [k, (k === "count" ? medianCount : median)(runs.map((r) => r.latencyByOutcome?.[c as keyof typeof first]?.[k] ?? 0))]))])) as unknown as NonNullable<StrategyResult['latencyByOutcome']>;
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
