import * as hdr from 'hdr-histogram-js';
import type { Report, StrategyResult } from './schema.js';
import { machineLine, tableRow, tableHeader, markdownTable, storesOf, engineName, saleHeader, saleRow } from './render-md.js';
import { bareLabel, showsLinks, grouped, labeller, renderFaultsMarkdown, reportStores, resultLabel, showsStore } from './render-faults.js';
import { linkRankings } from './render-links.js';
import { fairnessHtml } from './render-fairness.js';
import { esc, htmlTable } from './tables.js';
import { INSIDE_LEGEND, insideSeries, insideTable, showsInside } from './render-inside.js';
import { renderCheckHtml } from './render-check.js';
import { cpuHtml } from './render-cpu.js';
import type { Dialect } from '../db/dialect.js';

// A self-contained report: inline SVG, no script, no network. Every chart draws one series per
// strategy, marked with data-strategy (and data-store) so a browser test can count them. The colour
// is the strategy's (× fault's), the same on every store; the line says the store: solid on pg,
// dashed on mysql.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const PERCENTILES = [50, 75, 90, 95, 99, 99.9, 99.99];

function percentileCurve(s: StrategyResult, encoded = s.histogram): { p: number; ms: number }[] {
  const h = hdr.decodeFromCompressedBase64(encoded, 32, false);
  if (h.totalCount === 0) return [];
  return PERCENTILES.map((p) => ({ p, ms: Math.max(0.001, h.getValueAtPercentile(p) / 1000) }));
}

interface Series { name: string; color: string; points: [number, number][]; dashed?: boolean; strategy?: string; store?: Dialect }

/** The line of each store: PostgreSQL solid, MySQL/MariaDB dashed. */
const STORE_DASH: Record<Dialect, string | undefined> = { pg: undefined, mysql: '6 4' };
const LOSER_DASH = '6 4';
const dashAttr = (d: string | undefined) => (d ? ` stroke-dasharray="${d}"` : '');
const seriesDash = (s: Series) => (s.dashed ? LOSER_DASH : s.store ? STORE_DASH[s.store] : undefined);

/**
 * Tick labels for a time axis in seconds: every 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30 … s, the
 * smallest step (at least `minStep`: 1 for whole seconds) that puts at most `max` ticks on [x0, x1].
 */
export function timeTicks(x0: number, x1: number, o: { max?: number; minStep?: number } = {}): [number, string][] {
  const max = o.max ?? 10;
  const span = Math.max(x1 - x0, 0.1);
  const step = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600].find((st) => st >= (o.minStep ?? 0.1) && span / st <= max) ?? Math.ceil(span / max / 3600) * 3600;
  const out: [number, string][] = [];
  // Multiples of the step, counted in whole steps so that 0.1 + 0.2 never drifts into 0.30000000000000004.
  for (let k = Math.ceil(x0 / step - 1e-9); k * step <= x1 + 1e-9; k++) {
    const v = Math.round(k * step * 10) / 10;
    out.push([v, step < 1 ? v.toFixed(1) : String(v)]);
  }
  return out;
}

/** A shaded stretch of the x axis: a fault in force. */
interface Band { x0: number; x1: number; color: string; label: string }

function lineChart(title: string, series: Series[], o: { xLabel: string; yLabel: string; logY?: boolean; xTicks?: [number, string][]; bands?: Band[] }): string {
  // The legend (a line sample and the name) gets the room its longest name needs.
  const R = Math.max(150, 40 + 6.5 * Math.max(0, ...series.map((s) => s.name.length)));
  const W = 490 + R, H = 300, L = 60, T = 30, B = 40;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<p>${esc(title)}: no data</p>`;
  const xs = [...all.map((p) => p[0]), ...(o.bands ?? []).flatMap((b) => [b.x0, b.x1])];
  const ys = all.map((p) => (o.logY ? Math.log10(p[1]) : p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  let [y0, y1] = [Math.min(...ys, o.logY ? Infinity : 0), Math.max(...ys)];
  if (o.logY) { y0 = Math.floor(y0); y1 = Math.ceil(y1); }
  if (y1 === y0) y1 = y0 + 1;
  const sx = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y: number) => H - B - (((o.logY ? Math.log10(y) : y) - y0) / (y1 - y0)) * (H - T - B);
  const yTicks: string[] = [];
  if (o.logY) for (let e = y0; e <= y1; e++) yTicks.push(`<text x="${L - 6}" y="${sy(10 ** e) + 4}" text-anchor="end">${10 ** e}</text><line x1="${L}" x2="${W - R}" y1="${sy(10 ** e)}" y2="${sy(10 ** e)}" class="grid"/>`);
  else for (let i = 0; i <= 4; i++) { const v = y0 + ((y1 - y0) * i) / 4; yTicks.push(`<text x="${L - 6}" y="${sy(v) + 4}" text-anchor="end">${Math.round(v)}</text><line x1="${L}" x2="${W - R}" y1="${sy(v)}" y2="${sy(v)}" class="grid"/>`); }
  const bands = (o.bands ?? []).map((b) => `<rect class="fault-band" x="${sx(b.x0).toFixed(1)}" y="${T}" width="${Math.max(2, sx(b.x1) - sx(b.x0)).toFixed(1)}" height="${H - T - B}" fill="${b.color}" fill-opacity="0.15"><title>${esc(b.label)}</title></rect>`);
  const xTicks = (o.xTicks ?? []).map(([x, label]) => `<text x="${sx(x)}" y="${H - B + 16}" text-anchor="middle">${esc(label)}</text>`);
  const lines = series.map((s, i) => `<polyline class="series" data-strategy="${esc(s.strategy ?? s.name)}"${s.store ? ` data-store="${s.store}"` : ''} fill="none" stroke="${s.color}" stroke-width="2"${dashAttr(seriesDash(s))} points="${s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>` +
    `<line class="legend-line" x1="${W - R + 8}" x2="${W - R + 30}" y1="${T + 10 + i * 16}" y2="${T + 10 + i * 16}" stroke="${s.color}" stroke-width="2"${dashAttr(seriesDash(s))}/>` +
    `<text x="${W - R + 36}" y="${T + 14 + i * 16}" style="fill:${s.color};font-weight:600">${esc(s.name)}</text>`);
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">
${bands.join('')}<g class="axes">${yTicks.join('')}${xTicks.join('')}<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>
<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel)}</text><text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">${esc(o.yLabel)}</text></g>
${lines.join('\n')}</svg></figure>`;
}

function outcomeBars(results: StrategyResult[], label: (s: StrategyResult) => string, withStore: boolean): string {
  const kinds = ['ok', 'conflict', 'soldOut', 'rejected', 'error', 'timeout'] as const;
  const colors = { ok: '#2ca02c', conflict: '#ff7f0e', soldOut: '#9467bd', rejected: '#8c564b', error: '#d62728', timeout: '#7f7f7f' };
  const W = 640, rowH = 22, L = Math.max(150, 16 + 6.5 * Math.max(0, ...results.map((s) => label(s).length)));
  const rows = results.map((s, i) => {
    const total = kinds.reduce((a, k) => a + s.outcomes[k], 0) || 1;
    let x = L;
    const parts = kinds.map((k) => {
      const w = (s.outcomes[k] / total) * (W - L - 10);
      const r = w > 0 ? `<rect x="${x.toFixed(1)}" y="${i * rowH + 4}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${colors[k]}"><title>${k}: ${s.outcomes[k]}</title></rect>` : '';
      x += w;
      return r;
    });
    return `<g class="series" data-strategy="${esc(s.strategy)}"${withStore ? ` data-store="${s.store ?? 'pg'}"` : ''}><text x="${L - 8}" y="${i * rowH + 17}" text-anchor="end">${esc(label(s))}</text>${parts.join('')}</g>`;
  });
  const legend = kinds.map((k, i) => `<rect x="${L + i * 80}" y="${results.length * rowH + 8}" width="10" height="10" fill="${colors[k]}"/><text x="${L + i * 80 + 14}" y="${results.length * rowH + 17}">${k}</text>`);
  return `<figure><figcaption>Outcomes (share of requests)</figcaption><svg viewBox="0 0 ${W} ${results.length * rowH + 30}" width="${W}" height="${results.length * rowH + 30}">${rows.join('')}${legend.join('')}</svg></figure>`;
}

/** Throughput and winners' p99 against the round trip the links added: one line per strategy, so a crossover shows. */
function rttCharts(r: Report, color: (s: StrategyResult) => string): string {
  const rs = r.results.filter((s) => s.linkLatencyMs !== undefined && !s.fault);
  const names = [...new Set(rs.map((s) => bareLabel(s)))];
  const lats = [...new Set(rs.map((s) => s.linkLatencyMs!))].sort((a, b) => a - b);
  const xTicks = lats.map((l) => [l, `+${l} ms`] as [number, string]);
  const series = (y: (s: StrategyResult) => number | undefined) => names.map((name) => {
    const mine = rs.filter((s) => bareLabel(s) === name).sort((a, b) => a.linkLatencyMs! - b.linkLatencyMs!);
    return { name, strategy: mine[0]!.strategy, color: color(mine[0]!), points: mine.flatMap((s) => { const v = y(s); return v === undefined ? [] : [[s.linkLatencyMs!, v] as [number, number]]; }) };
  }).filter((x) => x.points.length > 0);
  return `<div class="rtt">${lineChart('Throughput against the round-trip time the network adds (req/s, the median run; one line per strategy)', series((s) => s.rps), { xLabel: 'round-trip time added by the links (ms)', yLabel: 'req/s', xTicks })}
${lineChart('Winners\' p99 against the round-trip time the network adds (ms, successful holds, the median run)', series((s) => (s.latencyByOutcome?.ok?.count ? s.latencyByOutcome.ok.p99 : undefined)), { xLabel: 'round-trip time added by the links (ms)', yLabel: 'ms', xTicks })}</div>`;
}

export function renderHtml(report: Report): string {
  // The same strategy on every store side by side, whatever order the results came in.
  const r: Report = { ...report, results: grouped(report.results) };
  const withStore = showsStore(r);
  const stores = reportStores(r);
  const multiStore = stores.length > 1;
  const label = labeller(r);
  // One colour per strategy (× fault), shared by its results on every store.
  // A strategy keeps its colour at every link round trip, so the chart against the round trip reads as one line each.
  const keys = [...new Set(r.results.map((s) => bareLabel(s)))];
  const color = (s: StrategyResult) => COLORS[keys.indexOf(bareLabel(s)) % COLORS.length]!;
  const onStore = (s: StrategyResult) => (withStore ? { store: s.store ?? 'pg' } : {});
  const lines = multiStore ? ` · colour: strategy; line: ${stores.map((d) => `${d} ${STORE_DASH[d] ? 'dashed' : 'solid'}`).join(', ')}` : '';
  const latency = lineChart(`Latency by percentile (all requests, all runs; log scale)${lines}`, r.results.map((s) => ({
    name: label(s), strategy: s.strategy, ...onStore(s), color: color(s), points: percentileCurve(s).map(({ p, ms }) => [-Math.log10(1 - p / 100), ms] as [number, number]),
  })), { xLabel: 'percentile', yLabel: 'ms', logY: true, xTicks: PERCENTILES.map((p) => [-Math.log10(1 - p / 100), `p${p}`] as [number, string]) });
  const selloutEnd = Math.max(0, ...r.results.map((s) => (s.selloutCurve?.length ?? 0) / 10));
  const sold = r.results.some((s) => s.selloutCurve?.length)
    ? lineChart(`Seats sold over time (cumulative successful holds, 100 ms buckets, first run): the sellout curve${lines}`, r.results.filter((s) => s.selloutCurve?.length).map((s) => ({
      name: label(s), strategy: s.strategy, ...onStore(s), color: color(s), points: s.selloutCurve!.map((v, i) => [(i + 1) / 10, v] as [number, number]),
    })), { xLabel: 'seconds since the first request', yLabel: 'seats held', xTicks: timeTicks(0.1, selloutEnd) })
    : '';
  const pct = (p: number) => -Math.log10(1 - p / 100);
  // Dashes already tell winners from losers here, so with two stores each store gets a chart of its own.
  const wlStores: (Dialect | undefined)[] = multiStore ? stores : [undefined];
  const winnersLosers = r.results.some((s) => s.outcomeHistograms)
    ? wlStores.map((d) => {
      const info = d ? storesOf(r).find((x) => x.store === d) : undefined;
      const on = d ? ` on ${d}${info ? ` (${engineName(info)})` : ''}` : '';
      const rs = r.results.filter((s) => s.outcomeHistograms && (!d || (s.store ?? 'pg') === d));
      if (rs.length === 0) return '';
      return lineChart(`Winners (solid) and losers (dashed)${on}: latency by percentile, first run, log scale`, rs.flatMap((s) => [
        { name: `${label(s)} won`, strategy: s.strategy, color: color(s), points: percentileCurve(s, s.outcomeHistograms!.ok).map(({ p, ms }) => [pct(p), ms] as [number, number]) },
        { name: `${label(s)} lost`, strategy: s.strategy, dashed: true, color: color(s), points: percentileCurve(s, s.outcomeHistograms!.rejected).map(({ p, ms }) => [pct(p), ms] as [number, number]) },
      ].map((x) => ({ ...x, ...(d ? { store: d } : {}) })).filter((x) => x.points.length > 0)), { xLabel: 'percentile', yLabel: 'ms', logY: true, xTicks: PERCENTILES.map((p) => [pct(p), `p${p}`] as [number, string]) });
    }).join('\n')
    : '';
  const rtt = linkRankings(r) ? rttCharts(r, color) : '';
  const faults = [...new Set(r.results.map((s) => s.fault))];
  // One throughput chart per fault, with every injection of the first run shaded in its strategy's colour.
  const throughput = faults.map((f) => {
    const rs = r.results.filter((s) => s.fault === f);
    const series = rs.map((s) => ({ name: label(s), strategy: s.strategy, ...onStore(s), color: color(s), points: (s.runs?.[0]?.perSecond ?? s.perSecond).requests.map((v, sec) => [sec, v] as [number, number]) }));
    const bands = rs.flatMap((s) => (s.runs?.[0]?.faults ?? s.nemesis?.events ?? []).map((e) => ({ x0: e.startMs / 1000, x1: Math.max(e.endMs, e.startMs + 100) / 1000, color: color(s), label: `${label(s)}: ${e.target}: ${e.detail}` })));
    const xs = [...series.flatMap((x) => x.points.map((p) => p[0])), ...bands.flatMap((b) => [b.x0, b.x1])];
    return lineChart(`Throughput over time (requests per second, first run)${f ? ` under ${f}; shaded: the fault in force` : ''}${lines}`, series,
      { xLabel: 'second of the run', yLabel: 'req/s', bands, xTicks: xs.length > 0 ? timeTicks(Math.min(...xs), Math.max(...xs), { minStep: 1 }) : [] });
  }).join('\n');
  // Inside the servers, over the same seconds as throughput, with the same fault bands: one chart per wait.
  const inside = showsInside(r) ? faults.map((f) => {
    const rs = r.results.filter((s) => s.fault === f && s.inside);
    const bands = rs.flatMap((s) => (s.runs?.[0]?.faults ?? s.nemesis?.events ?? []).map((e) => ({ x0: e.startMs / 1000, x1: Math.max(e.endMs, e.startMs + 100) / 1000, color: color(s), label: `${label(s)}: ${e.target}: ${e.detail}` })));
    const chart = (what: 'lockWaitP99' | 'poolWaitP99' | 'lagP99Ms', title: string) => {
      const series = rs.map((s) => ({ name: label(s), strategy: s.strategy, ...onStore(s), color: color(s), points: insideSeries(s, what) })).filter((x) => x.points.length > 0);
      const xs = series.flatMap((x) => x.points.map((p) => p[0]));
      return lineChart(`${title}${f ? ` under ${f}; shaded: the fault in force` : ''}${lines}`, series,
        { xLabel: 'second of the load', yLabel: 'ms', bands, xTicks: xs.length > 0 ? timeTicks(Math.min(...xs), Math.max(...xs), { minStep: 1 }) : [] });
    };
    return `<div class="inside">${chart('lockWaitP99', 'Inside the server: lock wait p99 per second (ms, from /metrics, the median run)')}
${chart('poolWaitP99', 'Inside the server: pool wait p99 per second (ms)')}
${chart('lagP99Ms', 'Inside the server: event-loop lag p99 (ms, the worst instance)')}</div>`;
  }).join('\n') : '';
  const insideTableHtml = showsInside(r) ? (() => {
    const t = insideTable(r);
    return `<h2>Inside the server</h2>${htmlTable('inside', t.header, t.rows)}<p class="legend">${esc(INSIDE_LEGEND)}</p>`;
  })() : '';
  const storeCell = (s: StrategyResult) => (withStore ? `<td>${esc(s.store ?? 'pg')}</td>` : '');
  const storeAttr = (s: StrategyResult) => (withStore ? ` data-store="${esc(s.store ?? 'pg')}"` : '');
  const oversold = r.results.map((s) => `<tr data-strategy="${esc(s.strategy)}"${storeAttr(s)}><td>${esc(resultLabel(s))}</td>${storeCell(s)}<td class="${s.oversold > 0 ? 'bad' : 'good'}">${s.oversold}</td><td>${esc(s.verdict)}</td></tr>`).join('');
  const withLink = showsLinks(r);
  const table = markdownTable(tableHeader(withStore, withLink), r.results.map((s) => tableRow(s, withStore, withLink))).split('\n').filter((_, i) => i !== 1).map((line, i) => {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim().replace(/\*\*/g, ''));
    return `<tr>${cells.map((c) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`;
  }).join('\n');
  // The sale first, as report.md leads with it: the same columns and cells (render-md's saleRow).
  const sale = r.results.some((s) => s.sale)
    ? `<h2>The sale</h2><table class="sale">${htmlRow(saleHeader(withStore, withLink), 'th')}${r.results.map((s) => htmlRow(saleRow(s, withStore, withLink), 'td', ` data-strategy="${esc(s.strategy)}"${storeAttr(s)}`)).join('')}</table>`
    : '';
  const storeList = withStore
    ? `<h2>Stores</h2><table class="stores"><tr><th>store</th><th>engine</th><th>kind</th><th>isolation</th><th>settings</th></tr>${storesOf(r).map((x) =>
      `<tr data-store="${esc(x.store)}"><td>${esc(x.store)}</td><td>${esc(engineName(x))}</td><td>${esc(x.kind)}</td><td>${esc(x.isolation)}</td><td>${esc(Object.entries(x.settings).map(([k, v]) => `${k}=${v}`).join(', '))}</td></tr>`).join('')}</table>` +
      (multiStore ? `<p class="legend">Charts: the colour is the strategy, the same on every store; the line is the store: ${stores.map((d) => `${d} ${STORE_DASH[d] ? 'dashed' : 'solid'}`).join(', ')}. ` +
        'Winners and losers have a chart per store (there the dashes are the losers).</p>' : '')
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seatlab · ${esc(r.scenario.name)} · ${esc(r.runId)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}
.bad{color:#fff;background:#d62728;font-weight:bold}.good{color:#2ca02c}
svg text{font-size:11px;fill:#333}.grid{stroke:#eee}.axes line{stroke:#999}figure{margin:16px 0}figcaption{font-weight:600;margin-bottom:4px}
.machine{color:#555}.panels{display:flex;flex-wrap:wrap;gap:8px}.legend{color:#555;font-size:13px}
</style></head><body>
<h1>seatlab · ${esc(r.scenario.name)}</h1>
<p class="machine">${esc(machineLine(r))}<br>${esc(r.machine.note)}. Run ${esc(r.runId)}, ${r.config.runs} run(s) per strategy${multiStore ? ' on each store' : ''}, seed ${r.config.seed}.</p>
${storeList}
${sale}${sale ? '\n<h2>Throughput and all requests</h2>' : ''}
<table class="comparison">${table}</table>
<h2>Oversold</h2><table class="oversold"><tr><th>strategy</th>${withStore ? '<th>store</th>' : ''}<th>oversold</th><th>verdict</th></tr>${oversold}</table>
${sold}
${fairnessHtml(r, color)}
${rtt}
${winnersLosers}
${latency}
${throughput}
${insideTableHtml}
${renderCheckHtml(r)}
${inside}
${outcomeBars(r.results, label, withStore)}
${faultsHtml(r)}
${cpuHtml(r)}
<h2>Ceilings (measured in this run)</h2>
<table class="ceilings"><tr><th>what</th><th>per second</th><th>p99 ms</th><th>efficiency</th></tr>
<tr><td>HTTP: GET /lab/noop, same load model</td><td>${r.ceilings?.http?.perSec ?? '–'}</td><td>${r.ceilings?.http?.p99Ms ?? '–'}</td><td></td></tr>
${r.results.map((s) => `<tr data-strategy="${esc(s.strategy)}"${storeAttr(s)}><td>store ceiling: ${esc(label(s))}, the same plan in-process (no HTTP)</td><td>${s.storeCeiling?.perSec ?? '–'}</td><td>${s.storeCeiling?.p99Ms ?? '–'}</td><td>${s.efficiency?.toFixed(2) ?? (s.ceilingInvalid ? 'invalid' : '–')}</td></tr>`).join('\n')}
</table>
</body></html>
`;
}

/** One table row from a markdown renderer's cells (bold marks an alarm: it becomes red). */
function htmlRow(cells: string[], tag: 'th' | 'td', attrs = ''): string {
  return `<tr${attrs}>${cells.map((c) => (c.startsWith('**') ? `<${tag} class="bad">${esc(c.replace(/\*\*/g, ''))}</${tag}>` : `<${tag}>${esc(c)}</${tag}>`)).join('')}</tr>`;
}

/** The fault matrix and the injections, from the markdown renderer's lines (tables and lists only). */
function faultsHtml(r: Report): string {
  const md = renderFaultsMarkdown(r);
  if (md.length === 0) return '';
  const html: string[] = [];
  let inTable = false;
  for (const line of md) {
    if (line.startsWith('| ---')) continue;
    if (line.startsWith('|')) {
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      html.push(`${inTable ? '' : '<table class="faults">'}<tr>${cells.map((c) => (inTable ? `<td>${c.startsWith('**') || c.includes('**') ? `<span class="bad">${esc(c.replace(/\*\*/g, ''))}</span>` : esc(c)}</td>` : `<th>${esc(c)}</th>`)).join('')}</tr>`);
      inTable = true;
      continue;
    }
    if (inTable) { html.push('</table>'); inTable = false; }
    if (line.startsWith('## ')) html.push(`<h2>${esc(line.slice(3))}</h2>`);
    else if (line.trim()) html.push(`<p>${esc(line.replace(/\*\*/g, ''))}</p>`);
  }
  if (inTable) html.push('</table>');
  return html.join('\n');
}
