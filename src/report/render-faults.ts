import type { Report, StrategyResult } from './schema.js';
import type { Dialect } from '../db/dialect.js';

// The fault matrix (strategy × fault) and the record of every injection, for report.md and the
// console. Each cell is one sale's figures: the worst run's oversold and stuck, the median run's
// unknowns and errors. Also how every renderer names a result: "strategy", "strategy × fault", and
// with a store "strategy@store" ("pessimistic@mysql × pause-instance") — the same strategy@store a
// --threshold names.

type Named = { strategy: string; fault?: string; store?: Dialect; linkLatencyMs?: number };

/**
 * "redlock × pause-instance", or just the strategy when it ran healthy; `withStore`: "redlock@mysql × pause-instance";
 * a result measured through links adds the round trip they added: "redlock@mysql@2ms × partition-db".
 */
export function resultLabel(s: Named, withStore = false): string {
  const name = `${withStore ? `${s.strategy}@${s.store ?? 'pg'}` : s.strategy}${s.linkLatencyMs !== undefined ? `@${s.linkLatencyMs}ms` : ''}`;
  return s.fault ? `${name} × ${s.fault}` : name;
}

/** The same label without the link's round trip, for tables that show it in a column of its own. */
export const bareLabel = (s: Named): string => resultLabel({ ...s, linkLatencyMs: undefined });

/** Whether results were measured through links (then tables get a "link RTT" column). */
export const showsLinks = (r: { results: Named[] }): boolean => r.results.some((s) => s.linkLatencyMs !== undefined);

/** The link column's text: "+2 ms", "+0 ms"; "direct" for a result without links. */
export const rttText = (s: Named): string => (s.linkLatencyMs === undefined ? 'direct' : `+${s.linkLatencyMs} ms`);

/**
 * The identity columns every per-result table starts with: the label, then the store and the link's
 * round trip when the report shows them; `left` is how many columns are names (left-aligned).
 */
export function identityColumns(r: { results: Named[]; config?: { stores?: Dialect[] } }): { header: string[]; cells: (s: Named) => string[]; left: number } {
  const withStore = showsStore(r);
  const withLink = showsLinks(r);
  return {
    header: ['strategy', ...(withStore ? ['store'] : []), ...(withLink ? ['link RTT'] : [])],
    cells: (s) => [withLink ? bareLabel(s) : resultLabel(s), ...(withStore ? [s.store ?? 'pg'] : []), ...(withLink ? [rttText(s)] : [])],
    left: 1 + (withStore ? 1 : 0) + (withLink ? 1 : 0),
  };
}

/** The stores of a report in the order they ran; a report from before there were two ran on pg. */
export function reportStores(r: { results: Named[]; config?: { stores?: Dialect[] } }): Dialect[] {
  if (r.config?.stores?.length) return r.config.stores;
  const seen = [...new Set(r.results.map((s) => s.store ?? 'pg'))];
  return seen.length > 0 ? seen : ['pg'];
}

/** Whether results are told apart by store: more than one store, or a single store that is not PostgreSQL. */
export function showsStore(r: { results: Named[]; config?: { stores?: Dialect[] } }): boolean {
  const stores = reportStores(r);
  return stores.length > 1 || stores[0] !== 'pg';
}

/** resultLabel with the store when the report shows stores. */
export const labeller = (r: { results: Named[]; config?: { stores?: Dialect[] } }) => {
  const withStore = showsStore(r);
  return (s: Named) => resultLabel(s, withStore);
};

/** Results with the same strategy (× fault) on every store side by side: strategies, then faults, then stores, each in first-seen order. */
export function grouped<T extends Named>(results: T[]): T[] {
  const rank = (xs: (string | undefined)[]) => { const order = [...new Set(xs)]; return (x: string | undefined) => order.indexOf(x); };
  const [byStrategy, byFault, byStore] = [rank(results.map((s) => s.strategy)), rank(results.map((s) => s.fault)), rank(results.map((s) => s.store ?? 'pg'))];
  return results.map((s, i) => ({ s, i })).sort((a, b) => byStrategy(a.s.strategy) - byStrategy(b.s.strategy) || byFault(a.s.fault) - byFault(b.s.fault) ||
    byStore(a.s.store ?? 'pg') - byStore(b.s.store ?? 'pg') || (a.s.linkLatencyMs ?? -1) - (b.s.linkLatencyMs ?? -1) || a.i - b.i).map((x) => x.s);
}

export interface MatrixCell {
  oversold: number; unknown: number; errors: number; stuck: number; verdict: StrategyResult['verdict'];
  /** Acknowledged operations missing from the database afterwards, one figure per run; absent without a history. */
  lostAcks?: number[];
}

/** Each run's lost acknowledgements (a report from before runs recorded them has the first run's only). */
function lostAcksPerRun(s: StrategyResult): number[] | undefined {
  if (s.runs?.some((x) => x.lostAcks !== undefined)) return s.runs.map((x) => x.lostAcks ?? 0);
  return s.history ? [s.history.lostAcks] : undefined;
}

/** One row per strategy (per strategy and store when the report shows stores: `strategy` is then "pessimistic@mysql"). */
export function faultMatrix(r: Report): { faults: string[]; rows: { strategy: string; safe: boolean; cells: (MatrixCell | undefined)[] }[] } | undefined {
  const faults = [...new Set(r.results.map((s) => s.fault).filter((f): f is string => Boolean(f)))];
  if (faults.length === 0) return undefined;
  const label = labeller(r);
  const rowName = (s: Named) => label({ strategy: s.strategy, store: s.store, ...(s.linkLatencyMs !== undefined ? { linkLatencyMs: s.linkLatencyMs } : {}) });
  const rowNames = [...new Set(grouped(r.results).map(rowName))];
  return {
    faults,
    rows: rowNames.map((name) => {
      const mine = r.results.filter((s) => rowName(s) === name);
      return {
        strategy: name,
        safe: mine.every((s) => s.safe),
        cells: faults.map((f) => {
          const s = mine.find((x) => x.fault === f);
          const lostAcks = s && lostAcksPerRun(s);
          return s && { oversold: s.oversold, unknown: s.unknown ?? s.outcomes.timeout, errors: s.outcomes.error, stuck: s.stuck ?? 0, verdict: s.verdict, ...(lostAcks ? { lostAcks } : {}) };
        }),
      };
    }),
  };
}

const lostText = (c: MatrixCell, word: string, bold: (s: string) => string) =>
  c.lostAcks ? ` · ${c.lostAcks.some((x) => x > 0) ? bold(`${word} ${c.lostAcks.join('/')}`) : `${word} ${c.lostAcks.join('/')}`}` : '';

const cellText = (c: MatrixCell | undefined, bold: (s: string) => string) =>
  c ? `${c.oversold > 0 ? bold(`oversold ${c.oversold}`) : 'oversold 0'} · unknown ${c.unknown} · errors ${c.errors} · ${c.stuck > 0 ? bold(`stuck ${c.stuck}`) : 'stuck 0'}${lostText(c, 'lost acks', bold)}` : '–';

export function renderFaultsMarkdown(r: Report): string[] {
  const m = faultMatrix(r);
  if (!m) return [];
  const out: string[] = ['## Fault matrix', ''];
  out.push(`${r.config.instances ?? 1} server instance(s); each cell is one sale under that fault (worst run's oversold and stuck, median run's unknowns; errors = 5xx answers and refused connections). ` +
    `Stuck: available in the database but still refused ${r.config.livenessGraceMs ?? 0} ms after the faults ended. ` +
    'Lost acks: holds acknowledged (201) whose reservation is missing from the database afterwards, each run in turn (run 1/run 2/…).', '');
  out.push(`| strategy | safe | ${m.faults.join(' | ')} |`, `| --- | --- | ${m.faults.map(() => '---').join(' | ')} |`);
  for (const row of m.rows) out.push(`| ${row.strategy} | ${row.safe ? 'yes' : 'no'} | ${row.cells.map((c) => cellText(c, (s) => `**${s}**`)).join(' | ')} |`);
  out.push('', '## Faults injected', '');
  const label = labeller(r);
  for (const s of grouped(r.results).filter((x) => x.nemesis)) {
    const n = s.nemesis!;
    // Every run's injections (a result's nemesis record is its first run's).
    const perRun = (s.runs?.length ?? 0) > 1 && s.runs!.every((x) => x.faults) ? s.runs!.map((x) => ({ run: `run ${x.run}, `, events: x.faults! })) : [{ run: '', events: n.events }];
    const total = perRun.reduce((a, x) => a + x.events.length, 0);
    out.push(`- **${label(s)}** (every ${n.everyMs} ms for ${n.forMs} ms, first at ${n.firstMs} ms): ` +
      (total === 0 ? 'the load ended before the first injection.' : `${total} injection(s)${perRun.length > 1 ? ` in ${perRun.length} runs` : ''}`));
    for (const { run, events } of perRun) {
      for (const e of events) out.push(`  - ${run}${(e.startMs / 1000).toFixed(2)}–${(e.endMs / 1000).toFixed(2)} s (${e.startedAt}): ${e.applied ? '' : '(not applied) '}${e.target}: ${e.detail}`);
    }
  }
  out.push('');
  return out;
}

export function renderInstancesMarkdown(r: Report): string[] {
  const multi = grouped(r.results).filter((s) => s.instances && (s.instances.count > 1 || s.instances.restarts > 0));
  if (multi.length === 0) return [];
  const label = labeller(r);
  const out = ['## Server instances', '', '| result | instance | requests | ok | errors | unknown |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const s of multi) for (const i of s.instances!.perInstance) out.push(`| ${label(s)} | ${i.instance} | ${i.requests} | ${i.ok} | ${i.errors} | ${i.unknown} |`);
  out.push('');
  return out;
}

/** The matrix for stderr: one line per strategy, one column per fault. */
export function renderFaultsConsole(r: Report): string[] {
  const m = faultMatrix(r);
  if (!m) return [];
  const header = ['strategy', ...m.faults];
  const rows = m.rows.map((row) => [row.strategy, ...row.cells.map((c) => (c ? `ov ${c.oversold} unk ${c.unknown} err ${c.errors} stuck ${c.stuck}${lostText(c, 'lost', (x) => x)}` : '–'))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return ['', 'fault matrix (ov = oversold, unk = unknown outcomes, err = errors, stuck = refused although free, lost = lost acknowledgements per run):', fmt(header), ...rows.map(fmt)];
}
