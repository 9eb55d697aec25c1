import type { Report, StrategyResult } from './schema.js';
import { overlaps } from './stats.js';

// Compares two reports. A regression is only called when the change is worse than the limit AND
// the 95% intervals do not overlap: a difference inside the noise is not a regression.

type Metric = 'rps' | 'okPerSec' | 'p50' | 'p99' | 'p999';
const METRICS: { name: Metric; higherIsBetter: boolean; value: (r: StrategyResult) => number }[] = [
  { name: 'rps', higherIsBetter: true, value: (r) => r.rps },
  { name: 'okPerSec', higherIsBetter: true, value: (r) => r.okPerSec },
  { name: 'p50', higherIsBetter: false, value: (r) => r.latencyMs.p50 },
  { name: 'p99', higherIsBetter: false, value: (r) => r.latencyMs.p99 },
  { name: 'p999', higherIsBetter: false, value: (r) => r.latencyMs.p999 },
];

export interface MetricComparison {
  strategy: string;
  metric: Metric;
  baseline: number;
  current: number;
  /** Relative change, positive = worse. */
  worsePct: number;
  baselineCi: [number, number];
  currentCi: [number, number];
  overlap: boolean;
  regression: boolean;
}

export interface Comparison {
  metrics: MetricComparison[];
  oversold: { strategy: string; oversold: number }[];
  missing: string[];
  exitCode: 0 | 3 | 4;
}

const ci = (r: StrategyResult, m: Metric, v: number): [number, number] => r.stats?.[m]?.ci95 ?? [v, v];

export function compareReports(baseline: Report, current: Report, maxRegressionPct: number): Comparison {
  const metrics: MetricComparison[] = [];
  const missing: string[] = [];
  for (const cur of current.results) {
    const base = baseline.results.find((b) => b.strategy === cur.strategy);
    if (!base) { missing.push(cur.strategy); continue; }
    for (const m of METRICS) {
      const b = m.value(base);
      const c = m.value(cur);
      const worsePct = b === 0 ? 0 : ((m.higherIsBetter ? b - c : c - b) / b) * 100;
      const baselineCi = ci(base, m.name, b);
      const currentCi = ci(cur, m.name, c);
      const overlap = overlaps(baselineCi, currentCi);
      metrics.push({ strategy: cur.strategy, metric: m.name, baseline: b, current: c, worsePct: Math.round(worsePct * 10) / 10, baselineCi, currentCi, overlap,
        regression: !overlap && worsePct > maxRegressionPct });
    }
  }
  // A strategy that claims to be safe and oversold is a failure whatever the speed.
  const oversold = current.results.filter((r) => r.safe && r.oversold > 0).map((r) => ({ strategy: r.strategy, oversold: r.oversold }));
  const exitCode = oversold.length > 0 ? 3 : metrics.some((m) => m.regression) ? 4 : 0;
  return { metrics, oversold, missing, exitCode };
}

export function renderComparison(c: Comparison, baseline: Report, current: Report, maxRegressionPct: number): string {
  const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));
  const lines = [
    `## seatlab compare: ${current.scenario.name}`,
    '',
    `Baseline ${baseline.runId} (${baseline.git.commit?.slice(0, 10) ?? 'no commit'}) → current ${current.runId} (${current.git.commit?.slice(0, 10) ?? 'no commit'}); ` +
      `a regression is a change worse than ${maxRegressionPct}% whose 95% intervals do not overlap.`,
    '',
    '| strategy | metric | baseline [95% CI] | current [95% CI] | change | verdict |',
    '| --- | --- | ---: | ---: | ---: | --- |',
    ...c.metrics.map((m) => `| ${m.strategy} | ${m.metric} | ${fmt(m.baseline)} [${fmt(m.baselineCi[0])}–${fmt(m.baselineCi[1])}] | ` +
      `${fmt(m.current)} [${fmt(m.currentCi[0])}–${fmt(m.currentCi[1])}] | ${m.worsePct > 0 ? '+' : ''}${m.worsePct}% worse | ` +
      `${m.regression ? '**REGRESSION**' : m.overlap ? 'within noise' : m.worsePct > 0 ? 'worse, within limit' : 'better'} |`),
    '',
  ];
  for (const o of c.oversold) lines.push(`- **${o.strategy} OVERSOLD ${o.oversold} seat(s)** in the current run: always a failure.`);
  for (const s of c.missing) lines.push(`- ${s} is not in the baseline; not compared.`);
  lines.push(`Verdict: ${c.exitCode === 3 ? 'oversell (exit 3)' : c.exitCode === 4 ? 'regression (exit 4)' : 'no regression (exit 0)'}`, '');
  return lines.join('\n');
}
