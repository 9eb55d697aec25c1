import type { Report, StrategyResult } from './schema.js';
import { bareLabel, grouped } from './render-faults.js';

// "What the network changed": every strategy at every round-trip time the links added, the ranking
// at each, and where two strategies swap places. A lock held across round trips pays for each one,
// so the ranking measured on loopback need not be the ranking across a network.

/** Whether a sale sold everything it had: no ticket left, or every seat held or sold. */
function soldAll(s: StrategyResult): boolean {
  const c = s.check;
  return c.remaining !== undefined ? c.remaining === 0 : c.seatsHeldOrSold !== undefined ? c.seatsHeldOrSold >= c.capacity : true;
}

interface Metric { by: string; value: (s: StrategyResult) => number | undefined; better: 'lower' | 'higher'; fmt: (v: number) => string }

/**
 * Time to sell out (only a sale that sold everything has one, and only one of 10 or more seats: a
 * single seat goes in the first round trip), time to answer every buyer (the load's duration: on a
 * hot seat, how long the losers wait to hear), and requests answered per second.
 */
const METRICS: Metric[] = [
  { by: 'time to sell out', value: (s) => (soldAll(s) && s.check.capacity >= 10 ? s.sale?.timeToSelloutMs ?? undefined : undefined), better: 'lower', fmt: (v) => `${(v / 1000).toFixed(2)} s` },
  { by: 'time to answer every buyer', value: (s) => s.durationMs, better: 'lower', fmt: (v) => `${(v / 1000).toFixed(2)} s` },
  { by: 'req/s', value: (s) => s.rps, better: 'higher', fmt: (v) => v.toFixed(0) },
];

/** Two figures closer than this (relative to the larger) are level: a one-run order between them is noise, not a ranking. */
const LEVEL = 0.1;
const apart = (a: number, b: number) => Math.abs(a - b) > LEVEL * Math.max(Math.abs(a), Math.abs(b));

export interface LinkRanking { latencyMs: number; order: { label: string; value: number }[]; unranked: string[] }
export interface LinkMetricRanking { by: string; fmt: (v: number) => string; rankings: LinkRanking[]; swaps: string[] }

/**
 * The healthy results of the strategies that claim to be safe (a control group that oversells is no
 * contender), ranked at each round trip by each metric, and every pair that swaps places between
 * round trips, counting only swaps where the two were more than 10% apart on both sides. A sale that did not sell everything has no time to sell out: it is listed as unranked.
 */
export function linkRankings(r: Report): { latencies: number[]; metrics: LinkMetricRanking[]; leftOut: string[] } | undefined {
  const all = r.results.filter((s) => s.linkLatencyMs !== undefined && !s.fault);
  const latencies = [...new Set(all.map((s) => s.linkLatencyMs!))].sort((a, b) => a - b);
  if (latencies.length < 2) return undefined;
  const linked = all.filter((s) => s.safe);
  const leftOut = [...new Set(all.filter((s) => !s.safe).map((s) => bareLabel(s)))];
  const metrics = METRICS.map((m) => {
    const rankings = latencies.map((lat) => {
      const here = linked.filter((s) => s.linkLatencyMs === lat);
      const order = here.flatMap((s) => { const v = m.value(s); return v === undefined ? [] : [{ label: bareLabel(s), value: v }]; })
        .sort((a, b) => (m.better === 'lower' ? a.value - b.value : b.value - a.value));
      return { latencyMs: lat, order, unranked: here.filter((s) => m.value(s) === undefined).map((s) => bareLabel(s)) };
    });
    // A crossover: a ahead of b by more than 10% at one round trip, b ahead of a by more than 10% at a
    // larger one (not necessarily the next: a slow drift through a level stretch is a crossover too).
    const swaps: string[] = [];
    const pos = (k: LinkRanking, l: string) => k.order.findIndex((x) => x.label === l);
    const val = (k: LinkRanking, l: string) => k.order[pos(k, l)]!.value;
    const names = [...new Set(rankings.flatMap((k) => k.order.map((x) => x.label)))];
    for (const a of names) for (const b of names) {
      let found: string | undefined;
      for (let i = 0; i < rankings.length && !found; i++) {
        const lo = rankings[i]!;
        if (pos(lo, a) < 0 || pos(lo, b) < 0 || pos(lo, a) > pos(lo, b) || !apart(val(lo, a), val(lo, b))) continue;
        for (let j = i + 1; j < rankings.length && !found; j++) {
          const hi = rankings[j]!;
          if (pos(hi, a) < 0 || pos(hi, b) < 0 || pos(hi, a) < pos(hi, b) || !apart(val(hi, a), val(hi, b))) continue;
          found = `${b} overtakes ${a} between +${lo.latencyMs} ms and +${hi.latencyMs} ms (${m.by}: ${a} ${m.fmt(val(lo, a))} → ${m.fmt(val(hi, a))}, ${b} ${m.fmt(val(lo, b))} → ${m.fmt(val(hi, b))})`;
        }
      }
      if (found) swaps.push(found);
    }
    return { by: m.by, fmt: m.fmt, rankings, swaps };
  }).filter((m) => m.rankings.some((k) => k.order.length > 0));
  return { latencies, metrics, leftOut };
}

/** One line per metric and round trip, then the swaps: for report.md and the console alike. */
export function rankingLines(k: NonNullable<ReturnType<typeof linkRankings>>): string[] {
  const out: string[] = [];
  for (const m of k.metrics) {
    for (const rk of m.rankings) {
      out.push(`ranking at +${rk.latencyMs} ms by ${m.by}: ${rk.order.map((x) => `${x.label} ${m.fmt(x.value)}`).join(' > ') || '–'}${rk.unranked.length ? ` (did not sell out: ${rk.unranked.join(', ')})` : ''}`);
    }
    out.push(...(m.swaps.length > 0 ? m.swaps.map((x) => `by ${m.by}, the order changes: ${x}`) : [`by ${m.by}, no strategy overtakes another by more than 10% from one round-trip time to the next`]));
  }
  if (k.leftOut.length) out.push(`not ranked (control groups, unsafe by design): ${k.leftOut.join(', ')}`);
  return out;
}

export function renderLinksMarkdown(r: Report): string[] {
  const links = r.config.links;
  if (!links) return [];
  const out = ['## The network', ''];
  out.push(`Every server instance reached every store through a link of the lab's (a TCP proxy, one per instance and store) adding a round-trip time of ` +
    `${links.latenciesMs.map((x) => `+${x} ms`).join(', ')} (half each way${links.jitterMs ? `, jitter ±${links.jitterMs / 2} ms on each one-way delay` : ''}); links were on because of ${links.reason}. ` +
    `The link RTT column is that added round trip, the figure people quote for a network (0.3–2 ms within one region); the store ceiling went through a link of the same latency. ` +
    (links.overheadUs !== undefined ? `A link costs ${links.overheadUs} µs per round trip by itself on this machine (through a 0 ms link minus direct), and its proxy process shares the cores with everything else.` : ''), '');
  const k = linkRankings(r);
  if (!k) return out;
  const rows = grouped(r.results.filter((s) => s.linkLatencyMs !== undefined && !s.fault));
  const names = [...new Set(rows.map((s) => bareLabel(s)))];
  const cell = (s: StrategyResult | undefined) => (s ? `${s.rps.toFixed(0)} req/s · ${s.sale?.timeToSelloutMs != null ? `${(s.sale.timeToSelloutMs / 1000).toFixed(2)} s` : '–'} · ${s.latencyByOutcome?.ok?.count ? `${s.latencyByOutcome.ok.p99.toFixed(1)} ms` : '–'}` : '–');
  out.push(`| strategy | ${k.latencies.map((l) => `+${l} ms`).join(' | ')} |`, `| --- | ${k.latencies.map(() => '---:').join(' | ')} |`);
  for (const name of names) out.push(`| ${name} | ${k.latencies.map((l) => cell(rows.find((s) => bareLabel(s) === name && s.linkLatencyMs === l))).join(' | ')} |`);
  out.push('', 'Each cell: req/s · time to sell out · winners\' p99 (one sale: the median run).', '');
  out.push(...rankingLines(k).map((l) => `- ${l}`), '');
  return out;
}
