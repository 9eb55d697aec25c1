import type { Report, StrategyResult } from './schema.js';

// The fault matrix (strategy × fault) and the record of every injection, for report.md and the
// console. Each cell is one sale's figures: the worst run's oversold and stuck, the median run's
// unknowns and errors.

/** "redlock × pause-instance", or just the strategy when it ran healthy. */
export function resultLabel(s: StrategyResult): string {
  return s.fault ? `${s.strategy} × ${s.fault}` : s.strategy;
}

export interface MatrixCell { oversold: number; unknown: number; errors: number; stuck: number; verdict: StrategyResult['verdict'] }

export function faultMatrix(r: Report): { faults: string[]; rows: { strategy: string; safe: boolean; cells: (MatrixCell | undefined)[] }[] } | undefined {
  const faults = [...new Set(r.results.map((s) => s.fault).filter((f): f is string => Boolean(f)))];
  if (faults.length === 0) return undefined;
  const strategies = [...new Set(r.results.map((s) => s.strategy))];
  return {
    faults,
    rows: strategies.map((name) => {
      const mine = r.results.filter((s) => s.strategy === name);
      return {
        strategy: name,
        safe: mine.every((s) => s.safe),
        cells: faults.map((f) => {
          const s = mine.find((x) => x.fault === f);
          return s && { oversold: s.oversold, unknown: s.unknown ?? s.outcomes.timeout, errors: s.outcomes.error, stuck: s.stuck ?? 0, verdict: s.verdict };
        }),
      };
    }),
  };
}

const cellText = (c: MatrixCell | undefined, bold: (s: string) => string) =>
  c ? `${c.oversold > 0 ? bold(`oversold ${c.oversold}`) : 'oversold 0'} · unknown ${c.unknown} · errors ${c.errors} · ${c.stuck > 0 ? bold(`stuck ${c.stuck}`) : 'stuck 0'}` : '–';

export function renderFaultsMarkdown(r: Report): string[] {
  const m = faultMatrix(r);
  if (!m) return [];
  const out: string[] = ['## Fault matrix', ''];
  out.push(`${r.config.instances ?? 1} server instance(s); each cell is one sale under that fault (worst run's oversold and stuck, median run's unknowns; errors = 5xx answers and refused connections). ` +
    `Stuck: available in PostgreSQL but still refused ${r.config.livenessGraceMs ?? 0} ms after the faults ended.`, '');
  out.push(`| strategy | safe | ${m.faults.join(' | ')} |`, `| --- | --- | ${m.faults.map(() => '---').join(' | ')} |`);
  for (const row of m.rows) out.push(`| ${row.strategy} | ${row.safe ? 'yes' : 'no'} | ${row.cells.map((c) => cellText(c, (s) => `**${s}**`)).join(' | ')} |`);
  out.push('', '## Faults injected', '');
  for (const s of r.results.filter((x) => x.nemesis)) {
    const n = s.nemesis!;
    out.push(`- **${resultLabel(s)}** (every ${n.everyMs} ms for ${n.forMs} ms, first at ${n.firstMs} ms): ` +
      (n.events.length === 0 ? 'the load ended before the first injection.' : `${n.events.length} injection(s)`));
    for (const e of n.events) out.push(`  - ${(e.startMs / 1000).toFixed(2)}–${(e.endMs / 1000).toFixed(2)} s (${e.startedAt}): ${e.applied ? '' : '(not applied) '}${e.target}: ${e.detail}`);
  }
  out.push('');
  return out;
}

export function renderInstancesMarkdown(r: Report): string[] {
  const multi = r.results.filter((s) => s.instances && (s.instances.count > 1 || s.instances.restarts > 0));
  if (multi.length === 0) return [];
  const out = ['## Server instances', '', '| result | instance | requests | ok | errors | unknown |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const s of multi) for (const i of s.instances!.perInstance) out.push(`| ${resultLabel(s)} | ${i.instance} | ${i.requests} | ${i.ok} | ${i.errors} | ${i.unknown} |`);
  out.push('');
  return out;
}

/** The matrix for stderr: one line per strategy, one column per fault. */
export function renderFaultsConsole(r: Report): string[] {
  const m = faultMatrix(r);
  if (!m) return [];
  const header = ['strategy', ...m.faults];
  const rows = m.rows.map((row) => [row.strategy, ...row.cells.map((c) => (c ? `ov ${c.oversold} unk ${c.unknown} err ${c.errors} stuck ${c.stuck}` : '–'))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return ['', 'fault matrix (ov = oversold, unk = unknown outcomes, err = errors, stuck = refused although free):', fmt(header), ...rows.map(fmt)];
}
