import { performance } from 'node:perf_hooks';
import { createLatencyHistogram, summarize, type Histogram, type LatencySummaryMs } from './histogram.js';
import type { RunResult } from './result.js';
import type { QueueAnswers } from './history.js';
import type { HistoryLog } from './history-log.js';
import { Recorder } from './recorder.js';
import { SEAT_BUSY } from './plan.js';

/** One user's journey, decided before the clock starts (seeded). */
export interface JourneySpec {
  token: string;
  userId?: number;
  scheduleId: number;
  /** Pay for the hold, or walk away and let it expire. */
  pays: boolean;
  /** Random numbers in [0,1) that pick a seat among those AVAILABLE, one per attempt. */
  seatPicks: number[];
  idempotencyKey: string;
}

export interface JourneyOptions {
  /** One URL per server instance; journey i goes to instance i mod N. */
  urls: string[];
  /** Concurrent users in flight (closed model). */
  concurrency: number;
  /** How often a waiting user asks for its place (default 500 ms). */
  pollMs?: number;
  /** Give up waiting in line after this long (counted as unknown). */
  maxWaitMs?: number;
  onProgress?: (p: { elapsedMs: number; requests: number; ok: number; errors: number }) => void;
  /** Without the waiting room, a journey starts at the seat map (--queue off). */
  queue?: boolean;
  /** Counts into this recorder (the caller's, for fairness); a fresh one by default. */
  recorder?: Recorder;
}

const STEPS = ['join', 'status', 'seats', 'hold', 'pay'] as const;
type Step = (typeof STEPS)[number];

export interface JourneyResult extends RunResult {
  steps: Record<Step, LatencySummaryMs>;
  journeyOutcomes: { holds: number; paid: number; abandoned: number; noSeat: number; failed: number; gaveUpWaiting: number };
  /** The contended writes (holds and payments) as a history. */
  history: HistoryLog;
  /** What the waiting room told the users, for the queue checker. */
  queueAnswers: QueueAnswers;
}

/**
 * Drives stateful journeys over HTTP: join the waiting room, wait (polling) until ACTIVE, read the
 * seat map, hold a seat (up to N tries), then pay or abandon. Each step's latency goes into its own
 * HDR histogram; the headline latency is holds and payments, the contended writes.
 */
export async function driveJourneys(specs: JourneySpec[], o: JourneyOptions): Promise<JourneyResult> {
  const hist = Object.fromEntries(STEPS.map((s) => [s, createLatencyHistogram()])) as Record<Step, Histogram>;
  const jo = { holds: 0, paid: 0, abandoned: 0, noSeat: 0, failed: 0, gaveUpWaiting: 0 };
  // Holds and payments, the contended writes, are the Recorder's operations (outcomes, histograms,
  // history); the other steps only count as requests, with a latency histogram per step.
  const rec = o.recorder ?? new Recorder(o.urls.length);
  const queueAnswers: QueueAnswers = { joins: [], joinsUnanswered: 0, placesLost: [] };

  async function req(w: Who, step: Step, method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) {
    const b = (body ?? {}) as { scheduleId?: number; seatNo?: number; reservationId?: number };
    const write = step === 'hold' || step === 'pay';
    const inv = write ? rec.invoke({ op: step, ...(w.userId !== undefined ? { userId: w.userId } : {}), ...(step === 'hold' ? { scheduleId: b.scheduleId, seatNo: b.seatNo ?? null } : { reservationId: b.reservationId }) }, w.process, w.instance) : undefined;
    const start = rec.now();
    let status: number | undefined;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the server's JSON answer; each step reads the fields its route returns
    let json: any;
    try {
      const res = await fetch(`${o.urls[w.instance]}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
      });
      status = res.status;
      json = res.status === 204 ? {} : await res.json();
    } catch {
      // No answer: an unknown outcome for a write, a failed step for the journey.
    }
    hist[step].recordValue(Math.max(1, Math.round((rec.now() - start) * 1000)));
    if (!inv) rec.count(start, w.instance, status);
    else {
      rec.complete(inv, status === undefined ? { wireError: 'NO_ANSWER' } : {
        status, ...(status >= 400 && typeof json?.error === 'string' ? { errorCode: json.error } : {}),
        ...(step === 'hold' && status === 201 ? { reservationId: json.reservationId as number } : {}),
        ...(step === 'pay' && status === 201 ? { paymentId: json.paymentId as number } : {}),
      });
    }
    return { status: status ?? 0, json };
  }

  async function journey(s: JourneySpec, w: Who): Promise<void> {
    const arrivedAt = rec.now();
    let q: Record<string, string> = {};
    if (o.queue !== false) {
      const admitted = await waitInLine(s, w);
      if (!admitted) return;
      q = admitted;
    }
    let reservationId: number | undefined;
    let refusals = 0;
    let busy = 0;
    for (const pick of s.seatPicks) {
      const map = await req(w, 'seats', 'GET', `/api/schedules/${s.scheduleId}/seats`, s.token, undefined, q);
      if (map.status !== 200) return void jo.failed++;
      const free = (map.json.seats as { seatNo: number; status: string }[]).filter((x) => x.status === 'AVAILABLE');
      if (free.length === 0) break;
      const seatNo = free[Math.floor(pick * free.length)]!.seatNo;
      const held = await req(w, 'hold', 'POST', '/api/reservations', s.token, { scheduleId: s.scheduleId, seatNo }, q);
      if (held.status === 201) { jo.holds++; reservationId = held.json.reservationId; break; }
      if (held.status !== 409) return void jo.failed++;
      refusals++;
      if (held.json?.error === SEAT_BUSY) busy++;
    }
    // Arrival is the user's first request: the join with the waiting room, the seat map without it.
    rec.journey(arrivedAt, reservationId !== undefined ? rec.now() : undefined, reservationId === undefined && refusals > 0 ? { refusals, busy, at: rec.now() } : undefined);
    if (reservationId === undefined) return void jo.noSeat++;
    if (!s.pays) return void jo.abandoned++;
    for (let attempt = 0; attempt < 20; attempt++) {
      const paid = await req(w, 'pay', 'POST', '/api/payments', s.token, { reservationId }, { ...q, 'idempotency-key': s.idempotencyKey });
      if (paid.status === 201) return void jo.paid++;
      if (paid.status !== 409 || paid.json?.error !== 'BALANCE_BUSY') return void jo.failed++;
    }
    jo.failed++;
  }

  /** Joins the waiting room and polls until ACTIVE: the queue token's header, or undefined when the journey ended in line. */
  async function waitInLine(s: JourneySpec, w: Who): Promise<Record<string, string> | undefined> {
    const joined = await req(w, 'join', 'POST', '/api/queue/tokens', s.token, { scheduleId: s.scheduleId });
    if (joined.status === 0 || joined.status >= 500) queueAnswers.joinsUnanswered++;
    if (joined.status !== 201) return void jo.failed++;
    const joinNumber = joined.json.joinNumber as number;
    if (w.userId !== undefined) queueAnswers.joins.push({ userId: w.userId, joinNumber });
    const q = { 'x-queue-token': joined.json.queueToken as string };
    let status = joined.json.status as string;
    const waitUntil = performance.now() + (o.maxWaitMs ?? 120_000);
    while (status !== 'ACTIVE') {
      if (performance.now() > waitUntil) return void jo.gaveUpWaiting++;
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
      const st = await req(w, 'status', 'GET', '/api/queue/status', s.token, undefined, q);
      if (st.status !== 200) return void jo.failed++;
      status = st.json.status;
      // In no line at all, never having been ACTIVE: the place it was promised is gone; waiting on is pointless.
      if (status === 'NONE') {
        if (w.userId !== undefined) queueAnswers.placesLost.push({ userId: w.userId, joinNumber, atMs: Math.round(rec.now()) });
        return void jo.failed++;
      }
    }
    return q;
  }

  let next = 0;
  const ticker = setInterval(() => o.onProgress?.({ elapsedMs: rec.now(), requests: rec.requests, ok: rec.outcomes.ok, errors: rec.outcomes.error + rec.outcomes.timeout }), 1000);
  await Promise.all(Array.from({ length: Math.min(o.concurrency, specs.length) }, async (_, process) => {
    while (next < specs.length) {
      const i = next++;
      await journey(specs[i]!, { process, instance: i % o.urls.length, userId: specs[i]!.userId });
    }
  }));
  clearInterval(ticker);
  return {
    model: 'closed', connections: o.concurrency, ...rec.summary(),
    journeys: { total: specs.length, succeeded: jo.paid, exhausted: jo.noSeat, stopped: jo.abandoned + jo.failed, unknown: jo.gaveUpWaiting },
    steps: Object.fromEntries(STEPS.map((s) => [s, summarize(hist[s])])) as Record<Step, LatencySummaryMs>,
    journeyOutcomes: jo,
    history: rec.history,
    queueAnswers,
  };
}

interface Who { process: number; instance: number; userId?: number }
