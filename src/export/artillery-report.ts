import { readFile } from 'node:fs/promises';
import type { EngineFigures, EngineSummary } from '../report/schema.js';

// Artillery's JSON report (`artillery run --output FILE`) read for the seatlab.* figures the
// export's processor emits. Artillery already adds them up across the threads (and, on Fargate or
// Lambda, across the containers) of one run; several reports are runs that were started apart (the
// export's --workers folders): their counters add up, their percentiles cannot be merged from
// summaries, so the worst worker's are shown and the report says so.

interface ArtillerySummary { count: number; p50?: number; median?: number; p99: number; max: number }
interface ArtilleryAggregate {
  counters?: Record<string, number>;
  summaries?: Record<string, ArtillerySummary>;
  firstCounterAt?: number;
  lastCounterAt?: number;
}

export class EngineReportError extends Error {}

async function readAggregate(file: string): Promise<ArtilleryAggregate> {
  let json: { aggregate?: ArtilleryAggregate };
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as typeof json;
  } catch (err) {
    throw new EngineReportError(`--engine-report ${file}: ${(err as Error).message}`);
  }
  if (!json.aggregate || typeof json.aggregate.counters !== 'object') throw new EngineReportError(`--engine-report ${file}: not an Artillery JSON report (no aggregate.counters); write one with artillery run --output FILE`);
  if (!Object.keys(json.aggregate.counters).some((k) => k.startsWith('seatlab.'))) {
    throw new EngineReportError(`--engine-report ${file}: Artillery's report has no seatlab.* counters; was it a run of a bench export script?`);
  }
  return json.aggregate;
}

const worst = (list: (ArtillerySummary | undefined)[]): EngineSummary | null => {
  const present = list.filter((s): s is ArtillerySummary => s !== undefined && s.count > 0);
  if (present.length === 0) return null;
  return {
    count: present.reduce((n, s) => n + s.count, 0),
    p50: Math.max(...present.map((s) => s.p50 ?? s.median ?? 0)),
    p99: Math.max(...present.map((s) => s.p99)),
    max: Math.max(...present.map((s) => s.max)),
  };
};

/** The seatlab.* figures of one or more Artillery reports of one sale. */
export async function readArtilleryReports(files: string[]): Promise<EngineFigures> {
  const aggs = await Promise.all(files.map(readAggregate));
  const counters: Record<string, number> = {};
  for (const a of aggs) for (const [k, v] of Object.entries(a.counters ?? {})) counters[k] = (counters[k] ?? 0) + v;
  const group = (prefix: string) => Object.fromEntries(Object.entries(counters).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  const op = Object.keys(counters).some((k) => k.startsWith('seatlab.hold-ticket.')) ? 'hold-ticket' : 'hold';
  const outcomes = group(`seatlab.${op}.`);
  const requests = Object.values(outcomes).reduce((a, b) => a + b, 0);
  const firsts = aggs.map((a) => a.firstCounterAt).filter((x): x is number => typeof x === 'number');
  const lasts = aggs.map((a) => a.lastCounterAt).filter((x): x is number => typeof x === 'number');
  const durationMs = firsts.length > 0 && lasts.length > 0 ? Math.max(...lasts) - Math.min(...firsts) : null;
  const soldAt = worst(aggs.map((a) => a.summaries?.['seatlab.ok_after_ms']));
  return {
    engine: 'artillery', reports: files,
    merged: files.length === 1 ? 'one report (Artillery merged its workers itself)' : `${files.length} reports: counters added; percentiles are the worst report's, since percentiles cannot be merged from summaries`,
    durationMs, requests, rps: durationMs ? Math.round((requests / Math.max(1, durationMs)) * 10_000) / 10 : null,
    outcomes, statusCodes: group('seatlab.status.'), wireErrors: group('seatlab.wire.'), journeys: group('seatlab.journeys.'),
    users: { arrived: counters['seatlab.users.arrived'] ?? 0, repeated: counters['seatlab.users.repeated'] ?? 0 },
    winnersMs: worst(aggs.map((a) => a.summaries?.['seatlab.winners_ms'])),
    losersMs: worst(aggs.map((a) => a.summaries?.['seatlab.losers_ms'])),
    timeToSelloutMs: soldAt ? Math.round(soldAt.max) : null,
  };
}
