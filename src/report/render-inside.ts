import type { Report, StrategyResult } from './schema.js';
import type { TimeSummary } from '../load/scrape.js';
import { identityColumns } from './render-faults.js';
import { markdownTable, ms } from './tables.js';

// Inside the server: what the booking servers' own /metrics said during the load — how long
// requests waited for a lock or a contended row, for a pooled connection, in queries and in Redis,
// and how late the event loop ran. report.md's table; report.html's chart over time (in render-html).

export const showsInside = (r: Report): boolean => r.results.some((s) => s.inside && s.inside.scrapes > 0);

const pair = (t: TimeSummary | null | undefined) => (!t || t.count === 0 || t.p50 === null || t.p99 === null ? '–' : `${ms(t.p50)} / ${ms(t.p99)}`);

const HEADER = ['strategy', 'lock wait p50 / p99 ms', 'pool wait p50 / p99 ms', 'query p50 / p99 ms', 'Redis p50 / p99 ms', 'event-loop lag p99 ms', 'scrapes (missed)'];

export function insideTable(r: Report): { header: string[]; rows: string[][]; left: number } {
  const id = identityColumns(r);
  const rs = r.results.filter((s) => s.inside && s.inside.scrapes > 0);
  const header = [...id.header, ...HEADER.slice(1)];
  const rows = rs.map((s) => {
    const x = s.inside!;
    return [...id.cells(s), pair(x.lockWait), pair(x.poolWait), pair(x.query), pair(x.redis), x.eventLoopLagP99Ms === null ? '–' : ms(x.eventLoopLagP99Ms),
      `${x.scrapes}${x.missedScrapes ? ` (${x.missedScrapes})` : ''}`];
  });
  return { header, rows, left: id.left };
}

export const INSIDE_LEGEND = 'From each booking server\'s own `/metrics` (Prometheus, prom-client), scraped once a second during the load, ' +
  'all instances together; quantiles from the histograms\' buckets as Prometheus\'s histogram_quantile computes them (linear within a bucket: ' +
  'buckets from 0.1 ms to 10 s), so read them to a bucket\'s width. Lock wait: per attempt, what the strategy waited for a lock or a contended row ' +
  '(FOR UPDATE, NOWAIT, the version update, the Redis lock; redlock-pessimistic records both of its waits; none and redis-decr their database write, ' +
  'which queues behind other writers\' row locks). Pool wait: waiting for a pooled database connection. Query: time in database queries. ' +
  'Redis: command time (– when the strategy uses no Redis). Event-loop lag: the worst p99 any instance reported. Missed scrapes: an instance ' +
  'paused, killed or restarting (a gap in the series, not an error).';

export function renderInsideMarkdown(r: Report): string[] {
  if (!showsInside(r)) return [];
  const t = insideTable(r);
  return ['## Inside the server', '', markdownTable(t.header, t.rows, t.left), '', INSIDE_LEGEND, ''];
}

/** The series of one result for report.html's chart: seconds since the load started → a wait's p99 (ms). */
export function insideSeries(s: StrategyResult, what: 'lockWaitP99' | 'poolWaitP99' | 'lagP99Ms'): [number, number][] {
  return (s.inside?.series ?? []).flatMap((p) => (p[what] === null ? [] : [[p.t, p[what]] as [number, number]]));
}
