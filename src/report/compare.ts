import type { Report, RunFigures, StrategyResult } from './schema.js';
import { overlaps, spread, welch } from './stats.js';
import { EXIT } from '../cli/errors.js';
import { labeller, reportStores, resultLabel } from './render-faults.js';
import type { Dialect } from '../db/dialect.js';

// Compares two reports result by result, a result being one (strategy, fault) cell. With at least
// 2 runs on each side a regression is a change of the means worse than the limit AND a one-sided
// Welch t-test that says "worse" at p < alpha (default 0.05): the limit says what matters, the
// test says it is not noise. With 3 runs the 95% intervals of the two sides overlap for changes far
// beyond the noise, so the interval rule (kept for single runs, where no test is possible) has
// little power. Every result × metric is one test: among 7 strategies × 5 metrics some p < 0.05
// happen by chance, which the limit filters only in part; a CI gate can ask for --alpha 0.01.
// A result of a two-store run is one (strategy, fault, store) cell, named "pessimistic@mysql"; a pg
// result is compared with a mysql one only when asked to (acrossStores: one store on each side).

export const ALPHA = 0.05;

type Metric = 'rps' | 'okPerSec' | 'p50' | 'p99' | 'p999';
const METRICS: { name: Metric; higherIsBetter: boolean; value: (r: StrategyResult | RunFigures) => number }[] = [
  { name: 'rps', higherIsBetter: true, value: (r) => r.rps },
  { name: 'okPerSec', higherIsBetter: true, value: (r) => r.okPerSec },
  { name: 'p50', higherIsBetter: false, value: (r) => r.latencyMs.p50 },
  { name: 'p99', higherIsBetter: false, value: (r) => r.latencyMs.p99 },
  { name: 'p999', higherIsBetter: false, value: (r) => r.latencyMs.p999 },
];

export interface MetricComparison {
  /** "strategy" or "strategy × fault"; with stores "strategy@store × fault" (across stores: "… (baseline strategy@pg)"). */
  label: string;
  strategy: string;
  fault?: string;
  store?: Dialect;
  metric: Metric;
  /** Mean over the runs (the single run's figure with one run). */
  baseline: number;
  current: number;
  baselineN: number;
  currentN: number;
  /** Relative change of the means, positive = worse. */
  worsePct: number;
  baselineCi: [number, number];
  currentCi: [number, number];
  overlap: boolean;
  /** One-sided Welch p-value for "current is worse"; absent when a side has a single run. */
  p?: number;
  regression: boolean;
  verdict: 'regression' | 'worse, within limit' | 'within noise' | 'better';
}

export interface Comparison {
  metrics: MetricComparison[];
  oversold: { label: string; oversold: number }[];
  /** In the baseline, absent from the current report: the gate could not check them. */
  missing: { label: string; reason?: string }[];
  /** In the current report only: not compared. */
  added: string[];
  /** Some result had a single run on a side: the interval rule was used for it. */
  singleRun: boolean;
  /** The significance level each Welch test was held to. */
  alpha: number;
  exitCode: 0 | 3 | 4 | 5;
}

const storeOf = (r: StrategyResult) => r.store ?? 'pg';
// A result measured through links is a different cell at every round trip: 0 ms pairs with 0 ms, never with "direct".
const rttOf = (r: StrategyResult) => (r.linkLatencyMs === undefined ? 'direct' : `${r.linkLatencyMs}`);
const sameCell = (a: StrategyResult, b: StrategyResult, acrossStores = false) =>
  a.strategy === b.strategy && (a.fault ?? '') === (b.fault ?? '') && (acrossStores || storeOf(a) === storeOf(b)) && rttOf(a) === rttOf(b);

/** Each run's figure for a metric; a report without runs[] counts as one run of its headline figure. */
const perRun = (r: StrategyResult, m: (typeof METRICS)[number]) => (r.runs?.length ? r.runs.map(m.value) : [m.value(r)]);

const round = (x: number, k = 10) => Math.round(x * k) / k;

function compareMetric(base: StrategyResult, cur: StrategyResult, m: (typeof METRICS)[number], limit: number, alpha: number, label: string): MetricComparison {
  const [bs, cs] = [perRun(base, m), perRun(cur, m)];
  const [sb, sc] = [spread(bs), spread(cs)];
  const worsePct = sb.mean === 0 ? 0 : ((m.higherIsBetter ? sb.mean - sc.mean : sc.mean - sb.mean) / sb.mean) * 100;
  // A single run has no spread of its own: fall back to whatever interval the report carries.
  const baselineCi = bs.length > 1 ? sb.ci95 : (base.stats?.[m.name]?.ci95 ?? sb.ci95);
  const currentCi = cs.length > 1 ? sc.ci95 : (cur.stats?.[m.name]?.ci95 ?? sc.ci95);
  const overlap = overlaps(baselineCi, currentCi);
  let p: number | undefined;
  let regression: boolean;
  let verdict: MetricComparison['verdict'];
  if (bs.length > 1 && cs.length > 1) {
    // "Worse" is a higher latency or a lower rate.
    p = m.higherIsBetter ? welch(bs, cs).pGreater : welch(cs, bs).pGreater;
    regression = worsePct > limit && p < alpha;
    verdict = regression ? 'regression' : p < alpha ? 'worse, within limit' : 1 - p < alpha ? 'better' : 'within noise';
  } else {
    regression = !overlap && worsePct > limit;
    verdict = regression ? 'regression' : overlap ? 'within noise' : worsePct > 0 ? 'worse, within limit' : 'better';
  }
  return {
    label, strategy: cur.strategy, ...(cur.fault ? { fault: cur.fault } : {}), ...(cur.store ? { store: cur.store } : {}), metric: m.name,
    baseline: sb.mean, current: sc.mean, baselineN: bs.length, currentN: cs.length, worsePct: round(worsePct),
    baselineCi, currentCi, overlap, ...(p !== undefined ? { p } : {}), regression, verdict,
  };
}

/**
 * `acrossStores`: pair results by strategy and fault whatever their store (a baseline on one store, the
 * current on another); only the CLI's --allow-different-params asks for it.
 */
export function compareReports(baseline: Report, current: Report, maxRegressionPct: number, alpha = ALPHA, opts: { acrossStores?: boolean } = {}): Comparison {
  const across = opts.acrossStores ?? false;
  const [baseLabel, curLabel] = [labeller(baseline), labeller(current)];
  const metrics: MetricComparison[] = [];
  const added: string[] = [];
  for (const cur of current.results) {
    const base = baseline.results.find((b) => sameCell(b, cur, across));
    if (!base) { added.push(curLabel(cur)); continue; }
    const label = storeOf(base) === storeOf(cur) ? curLabel(cur) : `${resultLabel(cur, true)} (baseline ${resultLabel(base, true)})`;
    for (const m of METRICS) metrics.push(compareMetric(base, cur, m, maxRegressionPct, alpha, label));
  }
  const missing = baseline.results.filter((b) => !current.results.some((c) => sameCell(b, c, across))).map((b) => ({
    label: baseLabel(b), reason: current.config?.skipped?.find((s) => s.strategy === b.strategy)?.reason,
  }));
  // A strategy that claims to be safe and oversold is a failure whatever the speed.
  const oversold = current.results.filter((r) => r.safe && r.oversold > 0).map((r) => ({ label: curLabel(r), oversold: r.oversold }));
  // Precedence: an oversell, then a regression found, then a result that could not be checked.
  const exitCode = oversold.length > 0 ? EXIT.invariantViolated : metrics.some((m) => m.regression) ? EXIT.regression : missing.length > 0 ? EXIT.missingStrategy : EXIT.ok;
  return { metrics, oversold, missing, added, singleRun: metrics.some((m) => m.p === undefined), alpha, exitCode };
}

const VERDICTS: Record<Comparison['exitCode'], string> = {
  0: 'no regression (exit 0)', 3: 'oversell (exit 3)', 4: 'regression (exit 4)', 5: 'a baseline result is missing from the current report (exit 5)',
};

export function renderComparison(c: Comparison, baseline: Report, current: Report, maxRegressionPct: number, notes: string[] = []): string {
  const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));
  const fmtP = (p?: number) => (p === undefined ? 'n/a (1 run)' : p < 0.001 ? '<0.001' : p.toFixed(3));
  const lines = [
    `## seatlab compare: ${current.scenario.name}`,
    '',
    `Baseline ${baseline.runId} (${baseline.git?.commit?.slice(0, 10) ?? 'no commit'}) → current ${current.runId} (${current.git?.commit?.slice(0, 10) ?? 'no commit'}); ` +
      `a regression is a change of the mean worse than ${maxRegressionPct}% that a one-sided Welch t-test over the runs calls worse at p < ${c.alpha}.`,
    '',
    ...notes.map((n) => `> ${n}`),
    ...(notes.length ? [''] : []),
    '| result | metric | baseline mean [95% CI] | current mean [95% CI] | runs | change | p (worse) | verdict |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...c.metrics.map((m) => `| ${m.label} | ${m.metric} | ${fmt(m.baseline)} [${fmt(m.baselineCi[0])}–${fmt(m.baselineCi[1])}] | ` +
      `${fmt(m.current)} [${fmt(m.currentCi[0])}–${fmt(m.currentCi[1])}] | ${m.baselineN}/${m.currentN} | ${m.worsePct > 0 ? '+' : ''}${m.worsePct}% worse | ` +
      `${fmtP(m.p)} | ${m.regression ? '**REGRESSION**' : m.verdict} |`),
    '',
  ];
  if (c.singleRun) {
    lines.push(`- Some results have 1 run on a side: 1 run cannot tell noise from change, so for them a regression is a change worse than ${maxRegressionPct}% ` +
      'whose 95% intervals do not overlap (no test possible). Use --runs 3 or more.');
  }
  for (const o of c.oversold) lines.push(`- **${o.label} OVERSOLD ${o.oversold} seat(s)** in the current run: always a failure.`);
  for (const s of c.missing) lines.push(`- **${s.label} is in the baseline but missing from the current report**${s.reason ? ` (skipped: ${s.reason})` : ''}: not checked.`);
  for (const s of c.added) lines.push(`- ${s} is not in the baseline; not compared.`);
  lines.push(`Verdict: ${VERDICTS[c.exitCode]}`, '');
  return lines.join('\n');
}

/** One figure that must agree for two reports to be comparable, as text for both sides. */
export interface ParamDifference { field: string; baseline: string; current: string }

const distinct = (xs: string[]) => [...new Set(xs)].sort().join(', ') || 'none';
const loadRate = (r: StrategyResult) => (r.load?.model === 'open' ? `open ${r.load.rate?.requested ?? '?'}/s` : 'closed');

/** What defines the experiment: a change in any of these changes the numbers for a reason other than the code. */
const DEFINING: { field: string; of: (r: Report) => string }[] = [
  { field: 'rate (results[].load.model/rate.requested)', of: (r) => distinct(r.results.map(loadRate)) },
  { field: 'transport (results[].load.transport)', of: (r) => distinct(r.results.map((x) => x.load?.transport ?? 'http')) },
  { field: 'instances (config.instances)', of: (r) => String(r.config?.instances ?? 1) },
  { field: 'nemesis faults (config.nemesis.faults)', of: (r) => distinct(r.config?.nemesis?.faults ?? []) },
  // pg and mysql lock differently: their figures differ for a reason other than the code.
  { field: 'stores (config.stores, results[].store)', of: (r) => distinct(reportStores(r)) },
  // A round trip added between servers and stores changes the ranking, not only the figures.
  { field: 'link round trips (config.links, results[].linkLatencyMs)', of: (r) => distinct(r.results.map((x) => (x.linkLatencyMs === undefined ? 'direct' : `+${x.linkLatencyMs} ms`))) },
  { field: 'link jitter (config.links.jitterMs)', of: (r) => String(r.config?.links?.jitterMs ?? 0) },
  { field: 'Redis topology (config.redisTopology)', of: redisTopologyOf },
  { field: 'database durability (config.dbDurability)', of: (r) => r.config?.dbDurability ?? 'full' },
  // A waiting room in front of the sale changes who gets in and how fast.
  { field: 'waiting room (config.queue)', of: queueOf },
];

/** single, sentinel, or a cluster with its shape: 3 primaries and 5 are different experiments too. */
function redisTopologyOf(r: Report): string {
  const t = r.config?.redisTopology ?? 'single';
  const c = r.config?.redisCluster;
  return t === 'cluster' && c ? `cluster (${c.primaries} primaries, ${c.replicasPerPrimary} replicas each)` : t;
}

/** on or off; reports from before config.queue had it on exactly for the scenarios that needed it. */
export function queueOf(r: Report): 'on' | 'off' {
  const q = r.config?.queue ?? (r.scenario.name === 'journey' || r.scenario.name === 'queue-rush' ? 'on' : 'off');
  return q === 'off' ? 'off' : 'on';
}

/** "PostgreSQL 16.4 (embedded)" for each store the report names (servers.postgres in older reports). */
const serversOf = (r: Report) => {
  const stores = r.servers?.stores ?? (r.servers?.postgres ? [{ engine: 'postgresql', ...r.servers.postgres }] : []);
  return stores.map((s) => `${s.engine} ${s.version} (${s.kind})`).join(', ') || 'unknown';
};

/** What may differ and is compared anyway, but said, so that nobody reads it as the code's doing. */
const NOTED: { field: string; of: (r: Report) => string }[] = [
  { field: 'config.poolSize', of: (r) => String(r.config?.poolSize) },
  { field: 'config.runs', of: (r) => String(r.config?.runs) },
  { field: 'config.strategyOptions', of: (r) => JSON.stringify(r.config?.strategyOptions ?? {}) },
  { field: 'config.holdTtlMs', of: (r) => String(r.config?.holdTtlMs) },
  { field: 'machine', of: (r) => `${r.machine?.cpuModel} × ${r.machine?.cores} cores` },
  { field: 'database servers', of: serversOf },
];

function differences(list: { field: string; of: (r: Report) => string }[], a: Report, b: Report): ParamDifference[] {
  return list.map((d) => ({ field: d.field, baseline: d.of(a), current: d.of(b) })).filter((d) => d.baseline !== d.current);
}

/** The scenario, its params (users, seats, connections, seed …), rate, transport, instances and faults that differ. */
export function paramDifferences(baseline: Report, current: Report): ParamDifference[] {
  const [pa, pb] = [baseline.scenario.params ?? {}, current.scenario.params ?? {}];
  const scenario = [{ field: 'scenario', baseline: baseline.scenario.name, current: current.scenario.name }];
  const params = [...new Set([...Object.keys(pa), ...Object.keys(pb)])].map((k) => ({ field: `scenario.params.${k}`, baseline: String(pa[k] ?? 'absent'), current: String(pb[k] ?? 'absent') }));
  return [...scenario, ...params].filter((d) => d.baseline !== d.current).concat(differences(DEFINING, baseline, current));
}

export const otherDifferences = (baseline: Report, current: Report) => differences(NOTED, baseline, current);
