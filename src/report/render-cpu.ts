import type { CpuFigures } from '../load/cpu.js';
import type { Report, StrategyResult } from './schema.js';
import { labeller, showsStore } from './render-faults.js';
import { esc } from './tables.js';

// CPU per component, as the report shows it: a table (report.md, report.html), a bar chart
// (report.html), the "where the time goes" line and one console cell. Everything reads
// results[].cpu, measured by src/load/cpu.ts; nothing here infers a split from ceilings.

/** The order components are shown in: the servers, the store, Redis, links, a target, the lab last. */
const KINDS: { kind: string; label: string; color: string; match: (name: string) => boolean }[] = [
  { kind: 'server', label: 'server', color: '#1f77b4', match: (n) => n.startsWith('server#') },
  { kind: 'postgres', label: 'PostgreSQL', color: '#2ca02c', match: (n) => n === 'postgres' },
  { kind: 'mysql', label: 'MySQL', color: '#2ca02c', match: (n) => n === 'mysql' },
  { kind: 'redis', label: 'Redis', color: '#d62728', match: (n) => n.startsWith('redis#') || n === 'sentinels' },
  { kind: 'links', label: 'links', color: '#9467bd', match: (n) => n === 'links' },
  { kind: 'target', label: 'target', color: '#bcbd22', match: (n) => n === 'target' },
  { kind: 'exited', label: 'processes that exited', color: '#e377c2', match: (n) => n === 'exited' },
  { kind: 'lab', label: 'lab', color: '#7f7f7f', match: (n) => n === 'lab' },
];
const kindOf = (name: string) => KINDS.find((k) => k.match(name)) ?? { kind: name, label: name, color: '#17becf', match: () => false };
const rank = (name: string) => {
  const i = KINDS.findIndex((k) => k.match(name));
  return (i < 0 ? KINDS.length : i) * 1000 + (Number(name.split('#')[1]) || (name === 'sentinels' ? 999 : 0));
};

/** "310 µs", "4.2 µs". */
export const usText = (us: number | null | undefined) => (us === null || us === undefined ? '–' : `${us >= 10 ? Math.round(us) : us.toFixed(1)} µs`);
/** "12%", "3.4%". */
export const shareText = (share: number) => { const p = share * 100; return `${p >= 10 ? Math.round(p) : p.toFixed(1)}%`; };
/** A not-measured reason's first words ("a server the lab did not start"), for a line that names several. */
const shortReason = (reason: string) => reason.split(/:| \(/)[0]!;

/**
 * "per request: server 310 µs, PostgreSQL 520 µs, lab 180 µs; the machine was 93% busy (these
 * processes 85%)": the components grouped by kind (every server instance together, every Redis
 * process together), from the measured figures.
 */
export function whereTimeGoes(cpu: CpuFigures): string {
  const parts: string[] = [];
  // Processes that exited (killed instances …) count with their kind when they were all of one.
  const exited = cpu.components.find((c) => c.name === 'exited');
  const exitedKinds = new Set(cpu.components.filter((c) => c.exited || c.started).map((c) => kindOf(c.name).kind));
  const foldInto = exited && exitedKinds.size === 1 ? [...exitedKinds][0] : undefined;
  for (const k of KINDS) {
    const mine = cpu.components.filter((c) => k.match(c.name));
    const unmeasured = cpu.notMeasured.filter((c) => k.match(c.name));
    if (k.kind === 'exited' && foldInto) continue;
    if (mine.length > 0) {
      const extra = k.kind === foldInto ? exited!.usPerRequest ?? 0 : 0;
      const us = mine.reduce((a, c) => a + (c.usPerRequest ?? 0), 0) + extra;
      const n = k.kind === 'server' && mine.length > 1 ? `${mine.length} servers` : k.label;
      parts.push(`${n} ${cpu.requests > 0 ? usText(us) : '–'}${extra > 0 ? ` (${usText(extra)} of it in processes that exited)` : ''}`);
    } else if (unmeasured.length > 0) parts.push(`${k.label} not measured (${shortReason(unmeasured[0]!.reason)})`);
  }
  const busy = cpu.machine ? `; the machine was ${shareText(cpu.machine.share)} busy (these processes ${shareText(cpu.total.share)})` : `; these processes kept ${shareText(cpu.total.share)} of the machine busy`;
  return `CPU per request${cpu.run ? ` (run ${cpu.run}, the median)` : ''}: ${parts.join(', ')}${busy}, over ${(cpu.durationMs / 1000).toFixed(1)} s on ${cpu.cores} cores`;
}

/** The components of every result, in display order. */
function columns(results: StrategyResult[]): string[] {
  const names = new Set(results.flatMap((s) => [...(s.cpu?.components ?? []).map((c) => c.name), ...(s.cpu?.notMeasured ?? []).map((c) => c.name)]));
  return [...names].sort((a, b) => rank(a) - rank(b));
}

/** One result's cells: each component "310 µs · 12%" (* when a process exited or started between the readings), then the total and the machine. */
function cells(cpu: CpuFigures | undefined, cols: string[]): string[] {
  if (!cpu) return [...cols.map(() => '–'), '–', '–'];
  return [
    ...cols.map((name) => {
      const c = cpu.components.find((x) => x.name === name);
      if (c) return `${usText(c.usPerRequest)} · ${shareText(c.share)}${c.exited || c.started ? ' *' : ''}`;
      return cpu.notMeasured.some((x) => x.name === name) ? 'not measured' : '–';
    }),
    `${usText(cpu.total.usPerRequest)} · ${shareText(cpu.total.share)}`,
    cpu.machine ? shareText(cpu.machine.share) : '–',
  ];
}

/** The CPU table as header and rows: one row per result, one column per component. */
export function cpuTable(r: Report): { header: string[]; rows: string[][] } | undefined {
  const rs = r.results.filter((s) => s.cpu);
  if (rs.length === 0) return undefined;
  const label = labeller(r);
  const cols = columns(rs);
  const withRun = rs.some((s) => s.cpu!.run !== undefined);
  return {
    header: ['strategy', ...(withRun ? ['run'] : []), ...cols, 'all measured', 'machine busy'],
    rows: rs.map((s) => [label(s), ...(withRun ? [String(s.cpu!.run ?? 1)] : []), ...cells(s.cpu, cols)]),
  };
}

/** What the table means, how it was measured and what it cannot see: the lines under it. */
export function cpuNotes(r: Report): string[] {
  const rs = r.results.filter((s) => s.cpu);
  const first = rs[0]?.cpu;
  if (!first) return [];
  const label = labeller(r);
  const out = [
    `Each cell: CPU time (user + system) per answered request, and its share of the machine (${first.cores} cores × the load's duration). ` +
    `Read from /proc/<pid>/stat just before and just after the measured load (after the warm-up): clock ticks of ${first.tickMs} ms, ` +
    'the lab\'s own process from getrusage. A server counts with every process it forked: its own time, its exited children\'s (cutime, cstime) ' +
    'and every live descendant\'s (PostgreSQL\'s backends come and go). Machine busy: /proc/stat over the same window, every process and the kernel; ' +
    'what "all measured" leaves of it ran in other processes, or in the kernel outside any process (softirq: network receive) and is not attributed.',
    'lab: the load generator and the checkers, in the lab\'s own process, on the cores it measures: its CPU per request is what the measuring costs.',
  ];
  const reasons = new Map<string, string>();
  for (const s of rs) for (const c of s.cpu!.notMeasured) reasons.set(`${c.name}: ${c.reason}`, c.name);
  if (reasons.size > 0) out.push(`Not measured: ${[...reasons.keys()].join('; ')}.`);
  const marks = rs.flatMap((s) => s.cpu!.components.filter((c) => c.exited || c.started).map((c) => `${label(s)} ${c.name}: ` +
    [c.exited ? `pid ${c.exited.join(', ')} exited between the readings (only what was read before counts)` : '', c.started ? `pid ${c.started.join(', ')} started between them (counted from its start)` : ''].filter(Boolean).join('; ')));
  if (marks.length > 0) out.push(`\\* ${marks.join('. ')}.`);
  const notes = [...new Set(rs.flatMap((s) => s.cpu!.components.filter((c) => c.note).map((c) => `${c.name}: ${c.note}`)))];
  if (notes.length > 0) out.push(`${notes.join('; ')}.`);
  if (rs.some((s) => s.cpu!.run !== undefined)) out.push('Several runs: each row is one run whole (the run whose total CPU per request is the median), so its components add up; every run\'s figures are in report.json (runs[].cpu).');
  return out;
}

/** The report.md section. */
export function renderCpuMarkdown(r: Report, table: (header: string[], rows: string[][], left: number) => string): string[] {
  const t = cpuTable(r);
  if (!t) return [];
  const left = t.header[1] === 'run' ? 2 : 1;
  return ['## CPU per component', '', table(t.header, t.rows, left), '', ...cpuNotes(r).flatMap((l) => [l, ''])];
}

/** One console cell: all measured components' µs per request, and the lab's. */
export function cpuConsoleCell(s: StrategyResult): string {
  const c = s.cpu;
  if (!c || c.total.usPerRequest === null) return '–';
  const lab = c.components.find((x) => x.name === 'lab')?.usPerRequest;
  return `${Math.round(c.total.usPerRequest)} (lab ${lab === null || lab === undefined ? '–' : Math.round(lab)})`;
}


/** report.html: stacked bars of µs per request by component, one per result, then the table and its notes. */
export function cpuHtml(r: Report): string {
  const t = cpuTable(r);
  if (!t) return '';
  const label = labeller(r);
  const withStore = showsStore(r);
  const rs = r.results.filter((s) => s.cpu && s.cpu.total.usPerRequest !== null);
  const max = Math.max(1, ...rs.map((s) => s.cpu!.total.usPerRequest ?? 0));
  const W = 720, rowH = 24, L = Math.max(150, 16 + 6.5 * Math.max(0, ...rs.map((s) => label(s).length))), R = 70;
  const scale = (us: number) => (us / max) * (W - L - R);
  const bars = rs.map((s, i) => {
    let x = L;
    const parts = [...s.cpu!.components].sort((a, b) => rank(a.name) - rank(b.name)).map((c) => {
      const w = scale(c.usPerRequest ?? 0);
      const rect = w > 0 ? `<rect x="${x.toFixed(1)}" y="${i * rowH + 4}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${kindOf(c.name).color}" stroke="#fff" stroke-width="0.5"><title>${esc(`${c.name}: ${usText(c.usPerRequest)} per request, ${shareText(c.share)} of the machine`)}</title></rect>` : '';
      x += w;
      return rect;
    });
    return `<g class="series" data-strategy="${esc(s.strategy)}"${withStore ? ` data-store="${esc(s.store ?? 'pg')}"` : ''}><text x="${L - 8}" y="${i * rowH + 17}" text-anchor="end">${esc(label(s))}</text>${parts.join('')}` +
      `<text x="${(x + 6).toFixed(1)}" y="${i * rowH + 17}">${esc(usText(s.cpu!.total.usPerRequest))}</text></g>`;
  });
  const kinds = KINDS.filter((k) => rs.some((s) => s.cpu!.components.some((c) => k.match(c.name))));
  const legend = kinds.map((k, i) => `<rect x="${L + i * 95}" y="${rs.length * rowH + 8}" width="10" height="10" fill="${k.color}"/><text x="${L + i * 95 + 14}" y="${rs.length * rowH + 17}">${esc(k.label)}</text>`);
  const H = rs.length * rowH + 30;
  const chart = rs.length > 0 ? `<figure><figcaption>CPU per request by component (µs, measured from /proc over the load)</figcaption><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${bars.join('')}${legend.join('')}</svg></figure>` : '';
  const row = (cells: string[], th: boolean) => `<tr>${cells.map((c) => (th ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`;
  return `<h2>CPU per component</h2>
${chart}
<table class="cpu">${row(t.header, true)}${t.rows.map((x) => row(x, false)).join('')}</table>
${cpuNotes(r).map((l) => `<p class="legend">${esc(l.replace(/^\\\*/, '*'))}</p>`).join('\n')}`;
}
