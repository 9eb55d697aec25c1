import type { Report } from '../report/schema.js';
import { machineLine, ms } from '../report/render-md.js';
import { grouped, renderFaultsConsole, resultLabel, showsStore } from '../report/render-faults.js';
import { linkRankings, rankingLines } from '../report/render-links.js';
import { fairnessTable, showsFairness } from '../report/render-fairness.js';
import { cpuConsoleCell } from '../report/render-cpu.js';

/** A compact aligned table for stderr; with stores, a store column and each strategy's stores side by side. */
export function renderConsoleTable(r: Report): string {
  const withStore = showsStore(r);
  const header = ['strategy', ...(withStore ? ['store'] : []), 'req/s', 'sellout', 'win p99', 'lose p99', 'p50', 'p99', 'p99.9', 'ok', 'conflict', 'soldOut', 'error', 'timeout', 'oversold', 'retries', 'lockFail', 'dbAvoid', 'effic', 'cpu µs/req', 'verdict'];
  const t = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(v / 1000).toFixed(2)}s`);
  const p99 = (l?: { count: number; p99: number }) => (l && l.count > 0 ? `${ms(l.p99)}ms` : '–');
  const rows = grouped(r.results).map((s) => [resultLabel(s), ...(withStore ? [s.store ?? 'pg'] : []), s.rps.toFixed(0), t(s.sale?.timeToSelloutMs), p99(s.latencyByOutcome?.ok), p99(s.latencyByOutcome?.rejected),
    `${ms(s.latencyMs.p50)}ms`, `${ms(s.latencyMs.p99)}ms`, `${ms(s.latencyMs.p999)}ms`, String(s.outcomes.ok), String(s.outcomes.conflict), String(s.outcomes.soldOut), String(s.outcomes.error), String(s.outcomes.timeout),
    String(s.oversold), String(s.retries), String(s.lockFailures), String(s.dbAvoided), s.efficiency?.toFixed(2) ?? (s.ceilingInvalid ? 'invalid' : '–'), cpuConsoleCell(s), s.verdict]);
  const left = withStore ? 2 : 1;
  const k = linkRankings(r);
  const net = k ? ['', ...rankingLines(k)] : [];
  const fair = showsFairness(r) ? fairnessTable({ ...r, results: grouped(r.results) }) : undefined;
  return [machineLine(r), `${r.scenario.name}: ${Object.entries(r.scenario.params).map(([k, v]) => `${k}=${v}`).join(' ')}`, '', ...aligned(header, rows, left),
    ...(fair ? ['', 'Who got the seats (report.md says what each column means):', ...aligned(fair.header, fair.rows, fair.left)] : []), ...net, ...renderFaultsConsole(r)].join('\n');
}

/** Columns padded to their widest cell: the first `left` to the left (names), the rest to the right (figures). */
function aligned(header: string[], rows: string[][], left: number): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(header), ...rows.map(fmt)];
}
