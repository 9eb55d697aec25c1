import { performance } from 'node:perf_hooks';
import { classify, OUTCOMES, type Outcome } from './plan.js';
import { historyOutcome, type OpMeta, type OpOutcome } from './history.js';
import { HistoryLog } from './history-log.js';
import type { RunResult } from './result.js';
import { createLatencyHistogram, encode, summarize, type LatencySummaryMs } from './histogram.js';

// One place that counts: outcomes, status and error codes, HDR histograms, the per-second series,
// per-instance counts and the history. Drivers only say "this operation started" and "this is
// what came back"; nothing here formats text.

/** What came back for one operation. No status means no HTTP answer (wireError says why). */
export interface Answer {
  status?: number;
  errorCode?: string;
  /** timeout, ECONNRESET, ECONNREFUSED, … */
  wireError?: string;
  reservationId?: number;
  paymentId?: number;
  /** A waiting-room join's place in line, when it was acknowledged. */
  joinNumber?: number;
  /** The outcome when a target's answers are read by its profile's rules, not by seatlab's codes. */
  outcome?: Outcome;
}

export interface Invocation { index: number; process: number; instance: number; meta: OpMeta; startedAt: number }

export interface InstanceStats {
  instance: number;
  requests: number;
  ok: number;
  /** Answered 5xx, or refused before anything was sent. */
  errors: number;
  /** No answer (timeout, reset): may or may not have happened. */
  unknown: number;
}

/** Latency by what became of the request: winners, losers (4xx), errors (5xx, refused), unknowns (at the time given up on). */
export type OutcomeClass = 'ok' | 'rejected' | 'error' | 'unknown';
export const OUTCOME_CLASSES: readonly OutcomeClass[] = ['ok', 'rejected', 'error', 'unknown'];

/** How the sale went for the people in it. */
export interface Sellout {
  /** First request to the last successful hold (for one seat: to the winner); null without a success. */
  timeToSelloutMs: number | null;
  /** Successful holds per second until the last one. */
  holdsPerSecUntilSellout: number | null;
  /** Cumulative successful holds at the end of each 100 ms bucket since the first request. */
  cumulativeOkPer100ms: number[];
}

/** What the Recorder hands a driver: RunResult's counting part, plus what only the Recorder knows. */
export type Recorded = Pick<RunResult, 'durationMs' | 'requests' | 'rps' | 'okPerSec' | 'outcomes' | 'statusCodes' | 'errorCodes' | 'latencyMs' | 'okLatencyMs' | 'histogram' | 'perSecond' | 'transportErrors'> & {
  /** Each outcome class from its own HDR histogram (p50/p99 of winners next to losers'). */
  latencyByOutcome: Record<OutcomeClass, LatencySummaryMs>;
  /** Encoded histograms of winners and losers, for the report's percentile curves. */
  histograms: { ok: string; rejected: string };
  sellout: Sellout;
  instances: InstanceStats[];
  t0EpochMs: number;
};


/** Who got the seats, from how every user's journey ended (see Recorder.fairness). */
export interface Fairness {
  /** Share of successful holds that went to the first `seats` users to ask (1 = first come, first served). */
  firstComeShare: number | null;
  /** Spearman's rank correlation between the order winners asked and the order their holds succeeded. */
  rankCorrelation: number | null;
  winners: number;
  /** Users who ended without one after refusals, at least one of them busy, while a later hold still succeeded. */
  gaveUpWhileOnSale: number;
  /** The most refusals one of them took before giving up (null when nobody gave up so). */
  gaveUpAfter: number | null;
  /** [arrival rank among all users, rank of the hold's success among winners], 0-based, one per winner (evenly sampled). */
  winnerRanks: [number, number][];
}

const MAX_RANK_POINTS = 400;

/** A connection refused before the request was written: it certainly did not happen. */
export const REFUSED = 'ECONNREFUSED';

export class Recorder {
  readonly t0 = performance.now();
  readonly t0EpochMs = Date.now();
  /** The per-operation history, columnar (see history-log.ts); streamed to a file when the caller asks. */
  readonly history = new HistoryLog();
  readonly outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  private readonly statusCodes: Record<string, number> = {};
  private readonly errorCodes: Record<string, number> = {};
  private readonly all = createLatencyHistogram();
  private readonly okHist = createLatencyHistogram();
  private readonly byClass = Object.fromEntries(OUTCOME_CLASSES.map((c) => [c, createLatencyHistogram()])) as Record<OutcomeClass, ReturnType<typeof createLatencyHistogram>>;
  private readonly okTimes: number[] = [];
  private readonly journeys = new JourneyEnds();
  private readonly perSecond = { ok: [] as number[], requests: [] as number[] };
  private readonly instances: InstanceStats[];
  private next = 0;
  private first = Infinity;
  private last = 0;
  requests = 0;
  transportErrors = 0;

  constructor(instanceCount: number, private readonly keepHistory = true) {
    this.instances = Array.from({ length: Math.max(1, instanceCount) }, (_, instance) => ({ instance, requests: 0, ok: 0, errors: 0, unknown: 0 }));
  }

  now(): number {
    return performance.now() - this.t0;
  }

  /**
   * An operation starts. `startedAt` (on this recorder's clock) is for the open model, whose
   * latency counts from the intended send time rather than from the moment this is called.
   */
  invoke(meta: OpMeta, process: number, instance: number, startedAt = this.now()): Invocation {
    if (startedAt < this.first) this.first = startedAt;
    return { index: this.next++, process, instance, meta, startedAt };
  }

  /** Records the answer (that came at `end`, by default now); returns the table's outcome and the history's. */
  complete(inv: Invocation, a: Answer, end = this.now()): { outcome: Outcome; history: OpOutcome } {
    this.last = Math.max(this.last, end);
    const refused = a.status === undefined && a.wireError === REFUSED;
    const outcome: Outcome = a.status !== undefined ? (a.outcome ?? classify(a.status, a.errorCode)) : refused ? 'error' : 'timeout';
    const history: OpOutcome = refused ? 'fail' : a.outcome && a.status !== undefined ? (a.outcome === 'ok' ? 'ok' : a.outcome === 'error' ? 'unknown' : 'fail') : historyOutcome(a.status);
    this.requests++;
    this.outcomes[outcome]++;
    if (a.status !== undefined) this.statusCodes[a.status] = (this.statusCodes[a.status] ?? 0) + 1;
    else this.transportErrors++;
    const code = a.status !== undefined && a.status >= 400 ? (a.errorCode ?? `HTTP_${a.status}`) : a.status === undefined ? a.wireError ?? 'NO_ANSWER' : undefined;
    if (code) this.errorCodes[code] = (this.errorCodes[code] ?? 0) + 1;
    // A request given up on enters the histogram at the time it was given up on.
    const us = Math.max(1, Math.round((end - inv.startedAt) * 1000));
    this.all.recordValue(us);
    if (outcome === 'ok') {
      this.okHist.recordValue(us);
      this.okTimes.push(end);
    }
    this.byClass[outcome === 'ok' ? 'ok' : outcome === 'timeout' ? 'unknown' : outcome === 'error' ? 'error' : 'rejected'].recordValue(us);
    const sec = Math.floor(end / 1000);
    this.perSecond.requests[sec] = (this.perSecond.requests[sec] ?? 0) + 1;
    if (outcome === 'ok') this.perSecond.ok[sec] = (this.perSecond.ok[sec] ?? 0) + 1;
    const inst = this.instances[inv.instance];
    if (inst) {
      inst.requests++;
      if (outcome === 'ok') inst.ok++;
      else if (history === 'unknown' && a.status === undefined) inst.unknown++;
      else if (outcome === 'error') inst.errors++;
    }
    if (this.keepHistory) {
      this.history.record(inv.index, inv.process, inv.instance, inv.meta, {
        invokeMs: round3(inv.startedAt), completeMs: round3(end), outcome: history,
        ...(a.status !== undefined ? { status: a.status } : {}), ...(code ? { error: code } : {}),
        ...(a.reservationId !== undefined ? { reservationId: a.reservationId } : {}),
        ...(a.paymentId !== undefined ? { paymentId: a.paymentId } : {}), ...(a.joinNumber !== undefined ? { joinNumber: a.joinNumber } : {}),
      });
    }
    return { outcome, history };
  }

  /**
   * A request that is not an operation of the history (a queue poll, a seat-map read in a journey):
   * it counts toward requests, the per-second series and its instance, nothing else.
   */
  count(startedAt: number, instance: number, status: number | undefined): void {
    const end = this.now();
    if (startedAt < this.first) this.first = startedAt;
    this.last = Math.max(this.last, end);
    this.requests++;
    const sec = Math.floor(end / 1000);
    this.perSecond.requests[sec] = (this.perSecond.requests[sec] ?? 0) + 1;
    const inst = this.instances[instance];
    if (!inst) return;
    inst.requests++;
    if (status === undefined) inst.unknown++;
    else if (status >= 500) inst.errors++;
    else if (status < 300) inst.ok++;
  }

  /**
   * A journey (one user) ended: when it first asked, and when it got a hold (undefined: it did not).
   * A user who did not get one says how many refusals it took and how many of those were busy
   * (a lock or a version, not the seat or ticket being gone), and when it gave up.
   */
  journey(arrivedAt: number, okAt: number | undefined, refused?: { refusals: number; busy: number; at: number }): void {
    this.journeys.push(arrivedAt, okAt, refused);
  }

  /**
   * Did the seats go to the people who asked first? The share of successful holds that went to the
   * first `capacity` arrivals (1 = first come, first served), Spearman's rank correlation between
   * the order the winners arrived in and the order their holds succeeded (1 = in order), the users
   * who gave up after refusals (at least one busy) while later users still got one, and each
   * winner's arrival rank against its success rank (for a chart; at most MAX_RANK_POINTS, evenly spread).
   */
  fairness(capacity: number): Fairness | undefined {
    const j = this.journeys;
    const n = j.length;
    if (n === 0) return undefined;
    // Journeys by arrival, ties in the order they ended (a stable sort); rank[k] is journey k's place.
    const byArrival = Uint32Array.from({ length: n }, (_, k) => k).sort((a, b) => j.arrivedAt(a) - j.arrivedAt(b) || a - b);
    const rank = new Uint32Array(n);
    byArrival.forEach((k, r) => { rank[k] = r; });
    let lastOk = -Infinity;
    const winners: number[] = [];
    for (const k of byArrival) {
      if (!j.won(k)) continue;
      winners.push(k);
      lastOk = Math.max(lastOk, j.okAt(k));
    }
    let gaveUpWhileOnSale = 0;
    let gaveUpAfter: number | null = null;
    for (let k = 0; k < n; k++) {
      if (!j.refused(k) || j.busy(k) <= 0 || !(j.refusedAt(k) < lastOk)) continue;
      gaveUpWhileOnSale++;
      gaveUpAfter = Math.max(gaveUpAfter ?? 0, j.refusals(k));
    }
    const gave = { gaveUpWhileOnSale, gaveUpAfter };
    if (winners.length === 0) return { firstComeShare: null, rankCorrelation: null, winners: 0, ...gave, winnerRanks: [] };
    const cap = Math.max(1, capacity);
    const share = winners.filter((k) => rank[k]! < cap).length / Math.min(winners.length, cap);
    // Winners in the order their holds succeeded, ties in arrival order (as a stable sort of winners by arrival).
    const bySuccess = [...winners].sort((a, b) => j.okAt(a) - j.okAt(b) || rank[a]! - rank[b]!);
    const ranks = bySuccess.map((k, i): [number, number] => [rank[k]!, i]);
    const step = Math.max(1, ranks.length / MAX_RANK_POINTS);
    const winnerRanks = ranks.length <= MAX_RANK_POINTS ? ranks : Array.from({ length: MAX_RANK_POINTS }, (_, i) => ranks[Math.floor(i * step)]!);
    return { firstComeShare: round3(Math.min(1, share)), rankCorrelation: winners.length > 1 ? round3(spearman(winners, bySuccess)) : null, winners: winners.length, ...gave, winnerRanks };
  }

  summary(): Recorded {
    const durationMs = this.requests === 0 ? 0 : Math.max(1, Math.round(this.last - this.first));
    const len = this.perSecond.requests.length;
    for (let i = 0; i < len; i++) {
      this.perSecond.requests[i] ??= 0;
      this.perSecond.ok[i] ??= 0;
    }
    this.perSecond.ok.length = len;
    return {
      durationMs,
      requests: this.requests,
      rps: round1((this.requests / Math.max(1, durationMs)) * 1000),
      okPerSec: round1((this.outcomes.ok / Math.max(1, durationMs)) * 1000),
      outcomes: { ...this.outcomes },
      statusCodes: { ...this.statusCodes },
      errorCodes: { ...this.errorCodes },
      latencyMs: summarize(this.all),
      okLatencyMs: summarize(this.okHist),
      latencyByOutcome: Object.fromEntries(OUTCOME_CLASSES.map((c) => [c, summarize(this.byClass[c])])) as Record<OutcomeClass, LatencySummaryMs>,
      histograms: { ok: encode(this.byClass.ok), rejected: encode(this.byClass.rejected) },
      sellout: this.sellout(),
      histogram: encode(this.all),
      perSecond: this.perSecond,
      transportErrors: this.transportErrors,
      instances: this.instances.map((i) => ({ ...i })),
      t0EpochMs: this.t0EpochMs,
    };
  }

  private sellout(): Sellout {
    if (this.okTimes.length === 0 || !Number.isFinite(this.first)) return { timeToSelloutMs: null, holdsPerSecUntilSellout: null, cumulativeOkPer100ms: [] };
    // A loop, not Math.max(...okTimes): spreading 110,000 arguments overflows the stack (a million-user sale did).
    let last = -Infinity;
    for (const t of this.okTimes) if (t > last) last = t;
    const buckets: number[] = new Array(Math.floor((last - this.first) / 100) + 1).fill(0);
    for (const t of this.okTimes) buckets[Math.floor((t - this.first) / 100)]!++;
    for (let i = 1; i < buckets.length; i++) buckets[i]! += buckets[i - 1]!;
    const ms = Math.max(1, last - this.first);
    return { timeToSelloutMs: Math.round(ms), holdsPerSecUntilSellout: round1((this.okTimes.length / ms) * 1000), cumulativeOkPer100ms: buckets };
  }
}

/** Spearman's rho between arrival rank (the order of `byArrival`) and success rank (the order of `bySuccess`), without ties. */
function spearman(byArrival: number[], bySuccess: number[]): number {
  const n = byArrival.length;
  const successRank = new Map(bySuccess.map((k, i) => [k, i]));
  let d2 = 0;
  byArrival.forEach((k, i) => { const d = i - successRank.get(k)!; d2 += d * d; });
  return 1 - (6 * d2) / (n * (n * n - 1));
}

/**
 * How every journey ended, one column per field (a million-user sale has a million journeys):
 * when it first asked, when its hold succeeded (NaN: it did not), and for one that gave up after
 * refusals, how many, how many busy, and when.
 */
class JourneyEnds {
  private cap = 1024;
  private n = 0;
  private arrived = new Float64Array(this.cap);
  private ok = new Float64Array(this.cap);
  private gaveUpAt = new Float64Array(this.cap);
  private refusalCount = new Uint32Array(this.cap);
  private busyCount = new Uint32Array(this.cap);

  get length(): number { return this.n; }

  push(arrivedAt: number, okAt: number | undefined, refused?: { refusals: number; busy: number; at: number }): void {
    if (this.n === this.cap) this.grow();
    const k = this.n++;
    this.arrived[k] = arrivedAt;
    this.ok[k] = okAt ?? NaN;
    this.gaveUpAt[k] = okAt === undefined && refused ? refused.at : NaN;
    this.refusalCount[k] = okAt === undefined && refused ? refused.refusals : 0;
    this.busyCount[k] = okAt === undefined && refused ? refused.busy : 0;
  }

  arrivedAt(k: number): number { return this.arrived[k]!; }
  won(k: number): boolean { return !Number.isNaN(this.ok[k]); }
  okAt(k: number): number { return this.ok[k]!; }
  refused(k: number): boolean { return !Number.isNaN(this.gaveUpAt[k]); }
  refusedAt(k: number): number { return this.gaveUpAt[k]!; }
  refusals(k: number): number { return this.refusalCount[k]!; }
  busy(k: number): number { return this.busyCount[k]!; }

  private grow(): void {
    this.cap *= 2;
    const widen = <T extends Float64Array | Uint32Array>(a: T, make: (n: number) => T): T => { const b = make(this.cap); b.set(a); return b; };
    this.arrived = widen(this.arrived, (c) => new Float64Array(c));
    this.ok = widen(this.ok, (c) => new Float64Array(c));
    this.gaveUpAt = widen(this.gaveUpAt, (c) => new Float64Array(c));
    this.refusalCount = widen(this.refusalCount, (c) => new Uint32Array(c));
    this.busyCount = widen(this.busyCount, (c) => new Uint32Array(c));
  }
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round3 = (n: number) => Math.round(n * 1000) / 1000;
