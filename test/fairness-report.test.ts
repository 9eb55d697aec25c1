import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../src/report/render-md.js';
import { renderHtml } from '../src/report/render-html.js';
import { renderConsoleTable } from '../src/cli/console.js';
import { paramDifferences } from '../src/report/compare.js';
import { fairnessTable, queueOrderText } from '../src/report/render-fairness.js';
import type { Fairness } from '../src/load/recorder.js';
import type { SeatOrder } from '../src/check/seat-order.js';
import type { Report } from '../src/report/schema.js';
import { report, result } from './report-fixtures.js';

// Hand-built reports (no server needed): the "who got the seats" table in report.md, the console
// and report.html, the rank chart, the waiting room's verdict, and compare keeping queue on and off apart.

const fair = (firstComeShare: number, gaveUp: number, ranks: [number, number][]): Fairness => ({
  firstComeShare, rankCorrelation: 0.5, winners: ranks.length, gaveUpWhileOnSale: gaveUp, gaveUpAfter: gaveUp > 0 ? 3 : null, winnerRanks: ranks,
});
const inOrder = (n: number): [number, number][] => Array.from({ length: n }, (_, i) => [i, i]);
const barged = (n: number): [number, number][] => Array.from({ length: n }, (_, i) => [4000 + i, i]);

function ga(): Report {
  const r = report([
    { ...result('pessimistic', undefined, 700, 1200), fairness: fair(0.99, 0, inOrder(5)) },
    { ...result('optimistic', undefined, 600, 6800), fairness: fair(0.31, 841, barged(5)) },
  ], undefined);
  r.scenario.params = { users: 5000, seats: 1000, connections: 64, seed: 42 };
  return r;
}

const seatOrder = (overtakes: number): SeatOrder => ({ seatsWon: 200, seatsContested: 50, seatsWonInOrder: 200 - overtakes, inOrderShare: (200 - overtakes) / 200, overtakes,
  overtakeMs: overtakes ? { median: 100, max: 400 } : null, examples: [] });

describe('who got the seats, in the report', () => {
  it('report.md: one row per strategy with got one, first come, order kept and the buyers turned away busy; no seat columns on general admission', () => {
    const md = renderMarkdown(ga());
    const section = md.slice(md.indexOf('## Who got the seats'), md.indexOf('## Throughput and all requests'));
    expect(section).toContain('| strategy | got one | first come | order kept | gave up while on sale |');
    expect(section).toContain('| pessimistic | 5 of 5000 | 0.99 | 0.50 | 0 |');
    expect(section).toContain('| optimistic | 5 of 5000 | 0.31 | 0.50 | 841 (after ≤ 3 refusals) |');
    expect(section).not.toContain('seats won in order |');
    expect(section).toContain('read it on general admission');
    // The sale table keeps the sale; the seat-level figures moved to this section.
    expect(md.slice(0, md.indexOf('## Who got the seats'))).not.toContain('overtakes');
  });

  it('numbered seats add seats won in order and the overtakes with their distance', () => {
    const r = report([{ ...result('pessimistic', undefined, 700, 1200), fairness: fair(0.76, 0, inOrder(3)), seatOrder: seatOrder(22) },
      { ...result('optimistic', undefined, 700, 1200), fairness: fair(0.77, 0, inOrder(3)), seatOrder: seatOrder(0) }], undefined);
    const t = fairnessTable(r);
    expect(t.header).toEqual(['strategy', 'got one', 'first come', 'order kept', 'seats won in order', 'overtakes (median / worst ms)', 'gave up while on sale']);
    expect(t.rows[0]!.slice(4, 6)).toEqual(['0.89', '22 (100 / 400)']);
    expect(t.rows[1]!.slice(4, 6)).toEqual(['1.00', '0']);
  });

  it('with the waiting room on, a column says whether it admitted in join order, from the queue checker', () => {
    const ok = result('pessimistic', undefined, 700, 1200);
    const broken = { ...result('redis-decr', undefined, 700, 1200), violationCounts: { 'join-lost': 502, 'join-number-reissued': 110, 'queue-place-lost': 95, 'oversold': 0 } };
    expect(queueOrderText(ok)).toBe('in join order');
    expect(queueOrderText(broken)).toBe('95 places lost, 502 joins lost, 110 join numbers reissued');
    const r = report([{ ...ok, fairness: fair(1, 0, inOrder(3)) }, { ...broken, fairness: fair(0.9, 0, inOrder(3)) }], undefined);
    r.config.queue = { maxActive: 200, ratePerSec: 400, activeTtlMs: 4000 };
    expect(fairnessTable(r).header.at(-1)).toBe('waiting room');
    expect(renderMarkdown(r)).toContain('waiting room on (at most 200 admitted at once, 400 admissions/s');
    r.config.queue = 'off';
    expect(fairnessTable(r).header).not.toContain('waiting room');
    expect(renderMarkdown(r)).toContain('; waiting room off.');
  });

  it('the console prints the table under the comparison', () => {
    const text = renderConsoleTable(ga());
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith('Who got the seats'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^strategy\s+got one\s+first come\s+order kept\s+gave up while on sale$/);
    expect(lines[at + 3]).toMatch(/^optimistic\s+5 of 5000\s+0\.31\s+0\.50\s+841 \(after ≤ 3 refusals\)$/);
  });

  it('report.html: the table, and one rank panel per strategy with a dot per winner and the first-come diagonal', () => {
    const html = renderHtml(ga());
    expect(html).toContain('<h2>Who got the seats</h2>');
    expect(html).toMatch(/<tr data-strategy="optimistic"><td>optimistic<\/td><td>5 of 5000<\/td><td>0.31<\/td>/);
    const panels = [...html.matchAll(/<svg class="rank-panel" data-strategy="([^"]+)"[\s\S]*?<\/svg>/g)];
    expect(panels.map((m) => m[1])).toEqual(['pessimistic', 'optimistic']);
    for (const [svg] of panels) {
      expect(svg.match(/<circle /g)).toHaveLength(5);
      expect(svg).toContain('class="diagonal"');
    }
    // In order, the first winner sits at the origin; barging (winners who arrived 4,000th and later of 5,000) puts every dot far to the right.
    const dots = (svg: string) => [...svg.matchAll(/cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(dots(panels[0]![0])[0]).toEqual([36, 212]);
    expect(dots(panels[1]![0]).every(([x]) => x > 150)).toBe(true);
  });

  it('a report without fairness figures (an older one, a balance sale) has no section', () => {
    const r = report([result('pessimistic', undefined, 700, 1200)], undefined);
    expect(renderMarkdown(r)).not.toContain('Who got the seats');
    expect(renderHtml(r)).not.toContain('Who got the seats');
  });
});

describe('compare and the waiting room', () => {
  it('a run with the queue on is not compared with one with it off, and a report from before config.queue reads as its scenario had it', () => {
    const on = ga();
    on.config.queue = { maxActive: 200, ratePerSec: 400, activeTtlMs: 4000 };
    const off = ga();
    off.config.queue = 'off';
    expect(paramDifferences(off, on)).toEqual([{ field: 'waiting room (config.queue)', baseline: 'off', current: 'on' }]);
    const old = ga();
    delete (old.config as { queue?: unknown }).queue;
    expect(paramDifferences(old, off)).toEqual([]);
    const oldJourney: Report = { ...ga(), scenario: { ...ga().scenario, name: 'journey' } };
    const newJourney: Report = { ...oldJourney, config: { ...oldJourney.config, queue: { maxActive: 200, ratePerSec: 400, activeTtlMs: 4000 } } };
    expect(paramDifferences(oldJourney, newJourney)).toEqual([]);
  });
});
