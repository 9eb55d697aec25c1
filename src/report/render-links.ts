import type { Report, StrategyResult } from './schema.js';
import { bareLabel, grouped } from './render-faults.js';

// "What the network changed": every strategy at every round-trip time the links added, the ranking
// at each, and where two strategies swap places. A lock held across round trips pays for each one,
// so the ranking measured on loopback need not be the ranking across a network.

/** The figure a ranking uses: time to sell out when the sale sold out in every cell, else req/s. */
function rankBy(results: StrategyResult[]): { name: string; value: (s: StrategyResult) => number; better: 'lower' | 'higher'; fmt: (v: number) => string } {
  if (results.every((s) => s.sale?.timeToSelloutMs != null)) {
    return { name: 'time to sell out', value: (s) => s.sale!.timeToSelloutMs!, better: 'lower', fmt: (v) => `${(v / 1000).toFixed(2)} s` };
  }
  return { name: 'req/s', value: (s) => s.rps, better: 'higher', fmt: (v) => v.toFixed(0) };
}

export interface LinkRanking { latencyMs: number; order: { label: string; value: number }[] }

/** Per fault and store: the latencies, each result's row, the ranking at each latency and the swaps between neighbouring latencies. */
export function linkRankings(r: Report): { by: string; latencies: number[]; rankings: LinkRanking[]; swaps: string[] } | undefined {
  const linked = r.results.filter((s) => s.linkLatencyMs !== undefined && !s.fault);
  const latencies = [...new Set(linked.map((s) => s.linkLatencyMs!))].sort((a, b) => a - b);
  if (latencies.length < 2) return undefined;
  const rank = rankBy(linked);
  const rankings = latencies.map((lat) => {
    const here = linked.filter((s) => s.linkLatencyMs === lat);
    const order = here.map((s) => ({ label: bareLabel(s), value: rank.value(s) }))
      .sort((a, b) => (rank.better === 'lower' ? a.value - b.value : b.value - a.value));
    return { latencyMs: lat, order };
  });
  const swaps: string[] = [];
  for (let i = 1; i < rankings.length; i++) {
    const [prev, cur] = [rankings[i - 1]!, rankings[i]!];
    const pos = (k: LinkRanking, l: string) => k.order.findIndex((x) => x.label === l);
    const names = prev.order.map((x) => x.label);
    for (const a of names) for (const b of names) {
      if (pos(prev, a) < pos(prev, b) && pos(cur, a) > pos(cur, b) && pos(cur, a) >= 0 && pos(cur, b) >= 0) {
        swaps.push(`${b} overtakes ${a} between +${prev.latencyMs} ms and +${cur.latencyMs} ms (${rank.name}: ${a} ${rank.fmt(prev.order[pos(prev, a)]!.value)} → ${rank.fmt(cur.order[pos(cur, a)]!.value)}, ` +
          `${b} ${rank.fmt(prev.order[pos(prev, b)]!.value)} → ${rank.fmt(cur.order[pos(cur, b)]!.value)})`);
      }
    }
  }
  return { by: rank.name, latencies, rankings: rankings.map((k) => ({ ...k, order: k.order })), swaps };
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
  for (const rk of k.rankings) out.push(`- ranking at +${rk.latencyMs} ms (${k.by}): ${rk.order.map((x) => x.label).join(' > ')}`);
  out.push(k.swaps.length > 0 ? `- the order changes: ${k.swaps.join('; ')}` : '- the order is the same at every round-trip time', '');
  return out;
}
