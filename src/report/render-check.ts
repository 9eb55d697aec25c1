import type { EngineFigures, Report, StrategyResult } from './schema.js';
import { esc, htmlTable, markdownTable, ms, opt } from './tables.js';

// A sale seatlab did not drive (bench check): which checks ran on it and which could not, and the
// load engine's own figures next to the lab's reading of the history. Markdown and HTML.

const checked = (r: Report) => r.results.filter((s): s is StrategyResult & { checks: NonNullable<StrategyResult['checks']> } => s.checks !== undefined);

const CHECK_HEADER = ['check', 'ran', 'what it saw, or what it needs'];
const checkRows = (s: StrategyResult) => (s.checks ?? []).map((c) => [c.check, c.ran ? 'yes' : 'no', c.detail]);

const pair = (l: EngineFigures['winnersMs']) => (l ? `${ms(l.p50)} / ${ms(l.p99)} (max ${ms(l.max)}, ${l.count})` : '–');
const ENGINE_HEADER = ['figure', 'the engine counted'];
function engineRows(e: EngineFigures, s: StrategyResult): string[][] {
  const count = (rec: Record<string, number>) => Object.entries(rec).map(([k, v]) => `${k} ${v}`).join(', ') || '–';
  return [
    ['users arrived (repeated)', `${e.users.arrived} (${e.users.repeated})`],
    ['hold requests, per second', `${e.requests}, ${opt(e.rps, (x) => x.toFixed(0))}/s over ${opt(e.durationMs, (x) => `${(x / 1000).toFixed(1)} s`)}`],
    ['outcomes', count(e.outcomes)],
    ['status codes', count(e.statusCodes)],
    ['no answer', count(e.wireErrors)],
    ['journeys', count(e.journeys)],
    ['winners p50 / p99 ms', pair(e.winnersMs)],
    ['losers p50 / p99 ms', pair(e.losersMs)],
    ['last successful hold after the first arrival', opt(e.timeToSelloutMs, (x) => `${(x / 1000).toFixed(2)} s`)],
    ['the lab, from the history: sold out in', opt(s.sale?.timeToSelloutMs, (x) => `${(x / 1000).toFixed(2)} s`)],
  ];
}

const LOAD = 'seatlab did not drive this load: it checked the sale afterwards (bench check). The truth is the database; ' +
  'the history (when given) is what each client was told, replayed through the same recorder and checkers as bench run; ' +
  'the engine\'s figures are its own counters and percentiles, unchecked.';

export function renderCheckMarkdown(r: Report): string[] {
  const out: string[] = [];
  for (const s of checked(r)) {
    out.push('## Checked after the load', '', LOAD, '');
    out.push(markdownTable(CHECK_HEADER, checkRows(s), 3), '');
    if (s.engine) {
      out.push(`### ${s.engine.engine === 'artillery' ? 'Artillery' : s.engine.engine}'s figures`, '');
      out.push(markdownTable(ENGINE_HEADER, engineRows(s.engine, s), 1), '');
      out.push(`Reports: ${s.engine.reports.map((f) => `\`${f}\``).join(', ')} — ${s.engine.merged}. Latency is from the request's start in the engine's ` +
        'process; the history\'s latency is the same interval, measured by the same processor.', '');
    }
  }
  return out;
}

export function renderCheckHtml(r: Report): string {
  return checked(r).map((s) => `<h2>Checked after the load</h2><p>${esc(LOAD)}</p>${htmlTable('checks', CHECK_HEADER, checkRows(s))}` +
    (s.engine ? `<h3>Artillery's figures</h3>${htmlTable('engine', ENGINE_HEADER, engineRows(s.engine, s))}<p>${esc(`Reports: ${s.engine.reports.join(', ')} — ${s.engine.merged}.`)}</p>` : '')).join('');
}
