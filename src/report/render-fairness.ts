import type { Report, StrategyResult } from './schema.js';
import { queueOf } from './compare.js';
import { identityColumns, showsStore, resultLabel } from './render-faults.js';
import { esc, htmlTable, markdownTable, ms, opt } from './tables.js';

// Who got the seats: per result, the first-come share and the order kept (from how every user's
// journey ended), the seats won in arrival order and the overtakes (numbered seats, from the
// history), the users who gave up while others still got one, and — with the waiting room on — the
// queue checker's verdict on the order it admitted in. report.md's table and report.html's (the same
// rows), and report.html's chart of each winner's arrival rank against its success rank.

/** The queue checker's findings that break "admitted in join order" (src/check/queue.ts). */
const QUEUE_ORDER_KINDS: [string, string][] = [
  ['admitted-out-of-order', 'out of order'], ['admission-skipped', 'skipped'], ['queue-place-lost', 'places lost'],
  ['join-lost', 'joins lost'], ['join-number-reissued', 'join numbers reissued'],
];

export const showsFairness = (r: Report): boolean => r.results.some((s) => s.fairness || s.seatOrder);


/** "in join order", or what the queue checker found against it ("3 out of order, 1 skipped"). */
export function queueOrderText(s: StrategyResult): string {
  const found = QUEUE_ORDER_KINDS.flatMap(([kind, words]) => ((s.violationCounts?.[kind] ?? 0) > 0 ? [`${s.violationCounts![kind]} ${words}`] : []));
  return found.length > 0 ? found.join(', ') : 'in join order';
}

const HEADER = ['strategy', 'got one', 'first come', 'order kept', 'seats won in order', 'overtakes (median / worst ms)', 'gave up while on sale'];

/** The table's header and rows (the identity columns as the other tables have them). */
export function fairnessTable(r: Report): { header: string[]; rows: string[][]; left: number } {
  const id = identityColumns(r);
  const queue = queueOf(r) === 'on';
  const rs = r.results.filter((s) => s.fairness || s.seatOrder);
  const users = r.scenario.params.users;
  // Seat order exists for numbered seats only: a general-admission table goes without its two columns.
  const seats = rs.some((s) => s.seatOrder);
  const header = [...id.header, ...HEADER.slice(1, 4), ...(seats ? HEADER.slice(4, 6) : []), HEADER[6]!, ...(queue ? ['waiting room'] : [])];
  const rows = rs.map((s) => {
    const f = s.fairness;
    const o = s.seatOrder;
    return [...id.cells(s),
      f ? `${f.winners}${users ? ` of ${users}` : ''}` : '–',
      opt(f?.firstComeShare, (x) => x.toFixed(2)), opt(f?.rankCorrelation, (x) => x.toFixed(2)),
      ...(seats ? [opt(o?.inOrderShare, (x) => x.toFixed(2)), o ? `${o.overtakes}${o.overtakeMs ? ` (${ms(o.overtakeMs.median)} / ${ms(o.overtakeMs.max)})` : ''}` : '–'] : []),
      f ? (f.gaveUpWhileOnSale > 0 ? `${f.gaveUpWhileOnSale} (after ≤ ${f.gaveUpAfter} refusals)` : '0') : '–',
      ...(queue ? [queueOrderText(s)] : [])];
  });
  return { header, rows, left: id.left };
}

/** What each column means and which to read for which scenario. */
export const FAIRNESS_LEGEND = 'Got one: users whose hold succeeded (a journey\'s hold counts whether or not it was paid for). ' +
  'First come: the share of those holds that went to the first `seats` users to ask (1 = first come, first served); read it on ' +
  'general admission and the journey, where every user wants the same thing. Order kept: rank correlation between the order ' +
  'winners asked and the order their holds succeeded (1 = in order). Seats won in order (numbered seats): the share of seats won ' +
  'by no request later than one refused as busy, or still waiting, for the same seat; an overtake is such a pair, and its distance ' +
  'how much later the winner asked. Read it on the flash sale and the hot seat, where which seats users pick decides first come ' +
  'more than the strategy does. Gave up while on sale: users who ended with nothing after refusals, at least one of them busy ' +
  '(a lock or a version, not the seat gone), while a later hold still succeeded — the buyers a strategy turns away early. ' +
  'Waiting room (with --queue on): the queue checker\'s verdict on the order it admitted users in. With several runs, one run\'s figures: ' +
  'the run with the median first-come share (its seat order: the run with the median share of seats won in order), so its counts may differ ' +
  'from the tables above, whose counts are medians field by field.';

export function renderFairnessMarkdown(r: Report): string[] {
  if (!showsFairness(r)) return [];
  const t = fairnessTable(r);
  return ['## Who got the seats', '', markdownTable(t.header, t.rows, t.left), '', FAIRNESS_LEGEND, ''];
}

/**
 * One small panel per result: a dot per winner at (arrival rank, success rank). First come, first
 * served is the diagonal; dots far below it are latecomers served before earlier users.
 */
export function fairnessHtml(r: Report, color: (s: StrategyResult) => string): string {
  if (!showsFairness(r)) return '';
  const t = fairnessTable(r);
  const rs = r.results.filter((x) => x.fairness || x.seatOrder);
  const table = htmlTable('fairness', t.header, t.rows, (i) => ` data-strategy="${esc(rs[i]!.strategy)}"`);
  const withStore = showsStore(r);
  const users = r.scenario.params.users;
  // Across: every user who asked, the same in every panel, so how far right the dots reach compares at a
  // glance; up: that strategy's own winners (a control group's thousands would flatten the others).
  const panels = r.results.filter((s) => s.fairness && s.fairness.winnerRanks.length > 1).map((s) => rankPanel(s, resultLabel(s, withStore), color(s),
    Math.max(1, (users ?? 0) - 1, ...s.fairness!.winnerRanks.map((p) => p[0])), Math.max(1, s.fairness!.winners - 1)));
  return `<h2>Who got the seats</h2>${table}<p class="legend">${esc(FAIRNESS_LEGEND)}</p>` + (panels.length > 0
    ? `<figure><figcaption>Each winner's place in the arrival order (x: 0 = first to ask${users ? `, of ${users} users` : ''}) against the order holds succeeded (y, first success at the bottom, up to that strategy's last winner); the median run. First come, first served is the grey diagonal: dots to its right are users who asked late and were served early.</figcaption><div class="panels">${panels.join('')}</div></figure>`
    : '');
}

function rankPanel(s: StrategyResult, name: string, colour: string, xMax: number, yMax: number): string {
  const pts = s.fairness!.winnerRanks;
  const W = 240, H = 240, L = 36, B = 28, T = 22, R = 8;
  const sx = (x: number) => L + (x / xMax) * (W - L - R);
  const sy = (y: number) => H - B - (y / yMax) * (H - T - B);
  // The diagonal of first come, first served: the k-th to succeed is the k-th to ask.
  const diag = Math.min(xMax, yMax);
  const dots = pts.map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="1.6"/>`).join('');
  return `<svg class="rank-panel" data-strategy="${esc(s.strategy)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">` +
    `<text x="${L}" y="14" style="font-weight:600;fill:${colour}">${esc(name)}</text>` +
    `<g class="axes"><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>` +
    `<text x="${L}" y="${H - B + 14}" text-anchor="middle">0</text><text x="${W - R}" y="${H - B + 14}" text-anchor="end">${xMax}</text>` +
    `<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">arrival rank</text>` +
    `<text x="${L - 4}" y="${H - B}" text-anchor="end">0</text><text x="${L - 4}" y="${T + 8}" text-anchor="end">${yMax}</text>` +
    `<text x="10" y="${(T + H - B) / 2}" transform="rotate(-90 10 ${(T + H - B) / 2})" text-anchor="middle">success rank</text></g>` +
    `<line class="diagonal" x1="${sx(0)}" y1="${sy(0)}" x2="${sx(diag).toFixed(1)}" y2="${sy(diag).toFixed(1)}" stroke="#bbb" stroke-dasharray="4 3"/>` +
    `<g fill="${colour}" fill-opacity="0.6">${dots}</g></svg>`;
}
