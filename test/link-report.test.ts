import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../src/report/render-md.js';
import { renderHtml } from '../src/report/render-html.js';
import { renderConsoleTable } from '../src/cli/console.js';
import { linkRankings, rankingLines } from '../src/report/render-links.js';
import { evaluateThresholds, parseThreshold, type Threshold } from '../src/report/thresholds.js';
import { compareReports, paramDifferences } from '../src/report/compare.js';
import { cellKey } from '../src/cli/run.js';
import { parseRunOptions } from '../src/cli/options.js';
import { parseFineDuration } from '../src/cli/network-options.js';
import { report, result } from './report-fixtures.js';

// Hand-built reports of a run with links at several round-trip times (no server needed): the link
// column, the ranking at each latency and the crossover, the chart against the round trip,
// thresholds and compare keyed by latency, and the flags' errors.

// The probe of issue 15: pessimistic ahead on loopback, behind optimistic at 2 ms; redis-decr first throughout.
const crossing = () => report([
  result('pessimistic', 0, 860, 2200), result('optimistic', 0, 711, 2900), result('redis-decr', 0, 2841, 600),
  result('pessimistic', 2, 241, 6900), result('optimistic', 2, 604, 3300), result('redis-decr', 2, 2623, 700),
], [0, 2]);

describe('a run at several link round trips', () => {
  it('ranks the safe strategies at each latency by time to sell out and by req/s, and names each crossover with its figures', () => {
    const k = linkRankings(crossing())!;
    const [sellout, answered, rps] = k.metrics;
    expect(answered!.by).toBe('time to answer every buyer');
    expect(answered!.swaps).toEqual([]);
    expect(sellout!.by).toBe('time to sell out');
    expect(sellout!.rankings.map((x) => x.order.map((y) => y.label))).toEqual([['redis-decr', 'pessimistic', 'optimistic'], ['redis-decr', 'optimistic', 'pessimistic']]);
    expect(sellout!.swaps).toEqual(['optimistic overtakes pessimistic between +0 ms and +2 ms (time to sell out: pessimistic 2.20 s → 6.90 s, optimistic 2.90 s → 3.30 s)']);
    expect(rps!.by).toBe('req/s');
    expect(rps!.swaps).toEqual(['optimistic overtakes pessimistic between +0 ms and +2 ms (req/s: pessimistic 860 → 241, optimistic 711 → 604)']);
    const same = linkRankings(report([result('a', 0, 100, 100), result('b', 0, 50, 200), result('a', 2, 90, 110), result('b', 2, 40, 300)], [0, 2]))!;
    expect(same.metrics.flatMap((m) => m.swaps)).toEqual([]);
    expect(linkRankings(report([result('a', 0, 100, 100)], [0]))).toBeUndefined();
    // Within 10% of each other the order of one run is noise: no crossover is claimed.
    const level = linkRankings(report([result('a', 0, 100, 1000), result('b', 0, 95, 1050), result('a', 2, 95, 1050), result('b', 2, 100, 1000)], [0, 2]))!;
    expect(level.metrics.flatMap((m) => m.swaps)).toEqual([]);
  });

  it('leaves the control group out of the ranking, and a sale that did not sell out out of the time-to-sell-out order', () => {
    const none = (rtt: number) => ({ ...result('none', rtt, 5000, 100), safe: false, oversold: 4200 });
    const short = (rtt: number) => ({ ...result('pessimistic-nowait', rtt, 1300, 50), check: { capacity: 1000, activeReservations: 871, remaining: 129 } });
    const k = linkRankings(report([none(0), short(0), result('pessimistic', 0, 700, 2300), none(2), short(2), result('pessimistic', 2, 260, 6500)], [0, 2]))!;
    expect(k.leftOut).toEqual(['none']);
    expect(k.metrics[0]!.rankings[0]).toMatchObject({ order: [{ label: 'pessimistic', value: 2300 }], unranked: ['pessimistic-nowait'] });
    expect(k.metrics[2]!.rankings[1]!.order.map((x) => x.label)).toEqual(['pessimistic-nowait', 'pessimistic']);
    expect(rankingLines(k)).toContain('ranking at +0 ms by time to sell out: pessimistic 2.30 s (did not sell out: pessimistic-nowait)');
    expect(rankingLines(k)).toContain('not ranked (control groups, unsafe by design): none');
  });

  it('report.md has a link RTT column, the per-latency table and the crossover; the console says it too', () => {
    const md = renderMarkdown(crossing());
    expect(md).toContain('| strategy | link RTT | safe |');
    expect(md).toMatch(/\| pessimistic \| \+2 ms \| yes \| 241 \|/);
    expect(md).toContain('## The network');
    expect(md).toContain('A link costs 40 µs per round trip by itself');
    expect(md).toContain('| pessimistic | 860 req/s · 2.20 s · 1.2 ms | 241 req/s · 6.90 s · 4.1 ms |');
    expect(md).toContain('- ranking at +2 ms by time to sell out: redis-decr 0.70 s > optimistic 3.30 s > pessimistic 6.90 s');
    expect(md).toContain('- by req/s, the order changes: optimistic overtakes pessimistic between +0 ms and +2 ms');
    const con = renderConsoleTable(crossing());
    expect(con).toContain('pessimistic@2ms');
    expect(con).toContain('by time to sell out, the order changes: optimistic overtakes pessimistic');
    // Without links nothing changes: no column, no section.
    const plain = renderMarkdown(report([result('pessimistic', undefined, 860, 2200)], undefined));
    expect(plain).not.toContain('link RTT');
    expect(plain).not.toContain('## The network');
  });

  it('report.html charts throughput and winners\' p99 against the round trip, one line per strategy with a point per latency', () => {
    const html = renderHtml(crossing());
    const rtt = html.slice(html.indexOf('<div class="rtt">'), html.indexOf('</div>', html.indexOf('<div class="rtt">')));
    expect(rtt).toContain('Throughput against the round-trip time');
    expect(rtt).toContain('Winners\' p99 against the round-trip time');
    const lines = [...rtt.matchAll(/<polyline class="series" data-strategy="([^"]+)"[^>]*points="([^"]+)"/g)];
    expect(lines.map((m) => m[1])).toEqual(['pessimistic', 'optimistic', 'redis-decr', 'pessimistic', 'optimistic', 'redis-decr']);
    for (const m of lines) expect(m[2]!.trim().split(' ')).toHaveLength(2);
    expect(rtt).toContain('+2 ms');
  });

  it('thresholds and compare treat the latency as part of a result\'s identity', () => {
    const t = parseThreshold('pessimistic@2ms:rps>300', ['pessimistic', 'optimistic']) as Threshold;
    expect(t).toMatchObject({ strategy: 'pessimistic', linkLatencyMs: 2, metric: 'rps' });
    const evald = evaluateThresholds([t], crossing().results);
    expect(evald).toHaveLength(1);
    expect(evald[0]).toMatchObject({ rttMs: 2, value: 241, pass: false });
    expect(parseThreshold('pessimistic@mysql@0.5ms:p99<5', ['pessimistic'])).toMatchObject({ store: 'mysql', linkLatencyMs: 0.5 });
    expect(parseThreshold('pessimistic@fast:p99<5', ['pessimistic'])).toMatch(/unknown store "fast".*@2ms/);
    expect(cellKey('redlock', 'partition-db', undefined, 0.5)).toBe('redlock@partition-db.rtt0.5ms');
    // A report at 0 and 2 ms is not compared with one measured directly, unless asked.
    const direct = report([result('pessimistic', undefined, 860, 2200)], undefined);
    expect(paramDifferences(direct, crossing()).map((d) => d.field)).toContain('link round trips (config.links, results[].linkLatencyMs)');
    const c = compareReports(crossing(), crossing(), 10);
    expect(c.missing).toEqual([]);
  });

  it('flags: --link-latency takes fractional round trips; every mistake is named with its flag', () => {
    expect(['0', '0.5ms', '2ms', '500us', '1s'].map(parseFineDuration)).toEqual([0, 0.5, 2, 0.5, 1000]);
    const ok = parseRunOptions({ strategy: 'pessimistic', scenario: 'hot-seat', linkLatency: '0,0.5ms,2ms', linkJitter: '0.2ms' });
    expect(ok.problems).toEqual([]);
    expect(ok.options!.network).toEqual({ links: { latenciesMs: [0, 0.5, 2], jitterMs: 0.2 }, redisTopology: 'single', dbDurability: 'full' });
    const bad = parseRunOptions({ strategy: 'pessimistic', scenario: 'hot-seat', linkLatency: '2 ms,fast', linkJitter: 'x', redisTopology: 'ring', dbDurability: 'maybe', threshold: ['pessimistic@3ms:p99<5'] });
    expect(bad.problems.join('\n')).toMatch(/--link-latency: "2 ms" is not a round-trip time/);
    expect(bad.problems.join('\n')).toMatch(/--link-latency: "fast"/);
    expect(bad.problems.join('\n')).toMatch(/--link-jitter must be a duration/);
    expect(bad.problems.join('\n')).toMatch(/--redis-topology must be one of single, sentinel/);
    expect(bad.problems.join('\n')).toMatch(/--db-durability must be full .* or async/);
    expect(bad.problems.join('\n')).toMatch(/no result of this run has a link round trip of 3 ms/);
    expect(parseRunOptions({ strategy: 'pessimistic', scenario: 'hot-seat', linkJitter: '1ms' }).problems.join('\n')).toMatch(/--link-jitter needs --link-latency/);
  });
});
