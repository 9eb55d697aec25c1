import { getMetricsFromIterator, type PromHistogramData, type PromMetrics } from 'prom2javascript';

// The lab's view inside the servers: during the load, every instance's GET /metrics (Prometheus
// text, prom-client; see src/server/metrics.ts) once a second. A scrape that fails — an instance
// paused, killed, restarting — is a gap in the series, never an error of the run. Only what the
// report needs is kept: the wait and time histograms (buckets, sum, count) and the event-loop lag.
// Counters restart with a restarted process; deltas are taken scrape to scrape, and a new process
// start time (or, without one, a drop in count, as Prometheus's rate() reads it) means everything
// the new process counted is new — even when it counted as much as the old one before the lab looked.

/** The histograms the report reads, by the name the server exports them under. */
export const SCRAPED_HISTOGRAMS = {
  lockWait: 'seatlab_lock_wait_seconds',
  poolWait: 'seatlab_db_pool_wait_seconds',
  query: 'seatlab_db_query_seconds',
  redis: 'seatlab_redis_command_seconds',
} as const;
export type HistogramKey = keyof typeof SCRAPED_HISTOGRAMS;
const LAG_P99 = 'nodejs_eventloop_lag_p99_seconds';
/** prom-client's default gauge: when the process started. A new value is a new process, whatever its counts. */
const STARTED = 'process_start_time_seconds';

/** One histogram summed over its label sets: cumulative counts per upper bound (seconds), sum and count. */
export interface Hist { le: number[]; counts: number[]; sum: number; count: number }

/** One instance's scrape. */
export interface Sample { atMs: number; instance: number; hist: Partial<Record<HistogramKey, Hist>>; lagP99Ms?: number; startedAt?: number }
export interface Gap { atMs: number; instance: number; error: string }
export interface ScrapeLog { everyMs: number; samples: Sample[]; gaps: Gap[] }

/** Parses a /metrics text (prom2javascript: every label set of a histogram, with its _sum and _count). */
export async function parseMetrics(text: string): Promise<PromMetrics> {
  return getMetricsFromIterator(text.split('\n')[Symbol.iterator]());
}

/** The parts of one /metrics text the report reads. */
export async function readMetrics(text: string): Promise<Pick<Sample, 'hist' | 'lagP99Ms' | 'startedAt'>> {
  const metrics = await parseMetrics(text);
  const hist: Sample['hist'] = {};
  const lag = metrics[LAG_P99]?.data[0] as { value?: number } | undefined;
  const started = metrics[STARTED]?.data[0] as { value?: number } | undefined;
  for (const key of Object.keys(SCRAPED_HISTOGRAMS) as HistogramKey[]) {
    const m = metrics[SCRAPED_HISTOGRAMS[key]];
    if (m?.type !== 'histogram') continue;
    let h: Hist | undefined;
    for (const d of m.data as PromHistogramData[]) {
      // Every label set of one histogram has the same bounds; "+Inf" is not a number JavaScript reads.
      const buckets = Object.entries(d.buckets).map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n] as const).sort((a, b) => a[0] - b[0]);
      h ??= { le: buckets.map(([le]) => le), counts: buckets.map(() => 0), sum: 0, count: 0 };
      if (buckets.length !== h.le.length) continue;
      buckets.forEach(([, n], i) => { h!.counts[i]! += n; });
      h.sum += d.sum ?? 0;
      h.count += d.count;
    }
    if (h) hist[key] = h;
  }
  return { hist, ...(typeof lag?.value === 'number' ? { lagP99Ms: lag.value * 1000 } : {}), ...(typeof started?.value === 'number' ? { startedAt: started.value } : {}) };
}

/**
 * Scrapes every instance each `everyMs` until stopped. `urlOf(i)` is read at every scrape, so an
 * instance that restarts on another port is followed. A scrape waits at most `everyMs` for its answer.
 */
export function startScraper(o: { instances: number; urlOf: (i: number) => string; now: () => number; everyMs?: number }): { stop(): Promise<ScrapeLog> } {
  const everyMs = o.everyMs ?? 1000;
  const log: ScrapeLog = { everyMs, samples: [], gaps: [] };
  const inFlight = new Set<Promise<void>>();
  const scrapeOne = async (instance: number) => {
    const atMs = o.now();
    try {
      const res = await fetch(`${o.urlOf(instance)}/metrics`, { signal: AbortSignal.timeout(everyMs) });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      log.samples.push({ atMs: Math.round(atMs), instance, ...(await readMetrics(await res.text())) });
    } catch (err) {
      log.gaps.push({ atMs: Math.round(atMs), instance, error: (err as Error).name === 'TimeoutError' ? `no answer within ${everyMs} ms` : (err as Error).message });
    }
  };
  const tick = () => {
    for (let i = 0; i < o.instances; i++) {
      const p = scrapeOne(i).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      tick();
      await Promise.all([...inFlight]);
      log.samples.sort((a, b) => a.atMs - b.atMs || a.instance - b.instance);
      return log;
    },
  };
}

/**
 * What happened to a histogram between two scrapes of one instance. After a restart (a new process
 * start time, or a drop in count when the start time is unknown) the new process's counts are all new.
 */
function delta(a: Hist | undefined, b: Hist | undefined, restarted = false): Hist | undefined {
  if (!b) return undefined;
  if (!a || restarted || b.count < a.count || a.le.length !== b.le.length) return b;
  return { le: b.le, counts: b.counts.map((c, i) => c - a.counts[i]!), sum: b.sum - a.sum, count: b.count - a.count };
}

function add(a: Hist | undefined, b: Hist | undefined): Hist | undefined {
  if (!a) return b && { ...b, counts: [...b.counts] };
  if (!b || a.le.length !== b.le.length) return a;
  return { le: a.le, counts: a.counts.map((c, i) => c + b.counts[i]!), sum: a.sum + b.sum, count: a.count + b.count };
}

/**
 * The q-quantile (0..1) of a histogram, in ms, as Prometheus's histogram_quantile computes it:
 * linear within the bucket that holds the rank, the lower bound of the first bucket taken as 0.
 * null when nothing was observed.
 */
export function quantileMs(h: Hist | undefined, q: number): number | null {
  if (!h || h.count <= 0) return null;
  const rank = q * h.count;
  for (let i = 0; i < h.le.length; i++) {
    if (h.counts[i]! >= rank) {
      const upper = h.le[i]!;
      const lower = i === 0 ? 0 : h.le[i - 1]!;
      // Beyond the last finite bound there is no upper edge: the last finite bound is the answer.
      if (upper === Infinity) return round(lower * 1000);
      const below = i === 0 ? 0 : h.counts[i - 1]!;
      const inBucket = h.counts[i]! - below;
      return round((lower + (upper - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1)) * 1000);
    }
  }
  return round(h.le[h.le.length - 2]! * 1000);
}

export interface TimeSummary { count: number; p50: number | null; p99: number | null; meanMs: number | null }

/** The server-side view of one result: whole-phase summaries and a per-interval series for the chart. */
export interface InsideServer {
  everyMs: number;
  instances: number;
  scrapes: number;
  /** Scrapes that got no answer (an instance paused, killed or restarting): gaps in the series. */
  missedScrapes: number;
  lockWait: TimeSummary;
  poolWait: TimeSummary;
  query: TimeSummary;
  /** null when no Redis command was timed (a strategy without Redis). */
  redis: TimeSummary | null;
  /** The worst event-loop lag p99 any instance reported during the load (prom-client's monitorEventLoopDelay), ms. */
  eventLoopLagP99Ms: number | null;
  /** Per scrape interval (seconds since the load started), all instances together: p99 of each wait and the worst lag. */
  series: { t: number; lockWaitP99: number | null; poolWaitP99: number | null; queryP99: number | null; lagP99Ms: number | null }[];
}

/** Folds a scrape log into the report's figures; `startMs` is where the load phase began on the same clock. */
export function insideServer(log: ScrapeLog, instances: number, startMs: number): InsideServer {
  const keys = Object.keys(SCRAPED_HISTOGRAMS) as HistogramKey[];
  const total: Partial<Record<HistogramKey, Hist>> = {};
  const buckets = new Map<number, { hist: Partial<Record<HistogramKey, Hist>>; lag: number | null }>();
  for (let i = 0; i < instances; i++) {
    const mine = log.samples.filter((s) => s.instance === i);
    for (let k = 1; k < mine.length; k++) {
      const [a, b] = [mine[k - 1]!, mine[k]!];
      const t = Math.max(0, Math.round((b.atMs - startMs) / log.everyMs));
      const slot = buckets.get(t) ?? { hist: {}, lag: null };
      const restarted = a.startedAt !== undefined && b.startedAt !== undefined && a.startedAt !== b.startedAt;
      for (const key of keys) {
        const d = delta(a.hist[key], b.hist[key], restarted);
        total[key] = add(total[key], d);
        slot.hist[key] = add(slot.hist[key], d);
      }
      if (b.lagP99Ms !== undefined) slot.lag = Math.max(slot.lag ?? 0, b.lagP99Ms);
      buckets.set(t, slot);
    }
  }
  const summary = (h: Hist | undefined): TimeSummary => ({ count: h?.count ?? 0, p50: quantileMs(h, 0.5), p99: quantileMs(h, 0.99), meanMs: h && h.count > 0 ? round((h.sum / h.count) * 1000) : null });
  const lags = log.samples.flatMap((s) => (s.lagP99Ms !== undefined ? [s.lagP99Ms] : []));
  return {
    everyMs: log.everyMs, instances, scrapes: log.samples.length, missedScrapes: log.gaps.length,
    lockWait: summary(total.lockWait), poolWait: summary(total.poolWait), query: summary(total.query),
    redis: total.redis && total.redis.count > 0 ? summary(total.redis) : null,
    eventLoopLagP99Ms: lags.length > 0 ? round(Math.max(...lags)) : null,
    series: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([t, s]) => ({
      t: (t * log.everyMs) / 1000, lockWaitP99: quantileMs(s.hist.lockWait, 0.99), poolWaitP99: quantileMs(s.hist.poolWait, 0.99),
      queryP99: quantileMs(s.hist.query, 0.99), lagP99Ms: s.lag === null ? null : round(s.lag),
    })),
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
