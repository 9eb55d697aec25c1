import autocannon from 'autocannon';
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { classify, OUTCOMES, type Journey, type LoadPlan, type Outcome } from './plan.js';
import { createLatencyHistogram, encode, summarize, type LatencySummaryMs } from './histogram.js';
import type { InstanceStats, OutcomeClass, Sellout } from './recorder.js';

export interface DriveOptions {
  url: string;
  connections: number;
  /** Per-request timeout; an unanswered request is an unknown outcome, not a failure. */
  timeoutSec?: number;
  /** Safety limit for the whole run. */
  maxDurationSec?: number;
  onProgress?: (p: Progress) => void;
  /** Open model: start requests at this overall rate (per second) instead of back to back. */
  rate?: number;
}

export interface Progress { elapsedMs: number; requests: number; ok: number; errors: number }

/** Plain data out of the run loop; rendering happens elsewhere (report/). */
export interface RunResult {
  /** closed: each connection sends when its previous request is answered; open: requests start on a schedule (--rate). */
  model: 'closed' | 'open';
  /** Open model only: what was asked, what was achieved, and how many scheduled requests never went out. */
  rate?: { requested: number; achieved: number; shortfall: boolean; missed: number };
  connections: number;
  durationMs: number;
  requests: number;
  rps: number;
  okPerSec: number;
  outcomes: Record<Outcome, number>;
  statusCodes: Record<string, number>;
  errorCodes: Record<string, number>;
  journeys: { total: number; succeeded: number; exhausted: number; stopped: number; unknown: number };
  latencyMs: LatencySummaryMs;
  okLatencyMs: LatencySummaryMs;
  histogram: string;
  perSecond: { ok: number[]; requests: number[] };
  transportErrors: number;
  /** Per server instance: requests, successes, errors and unknowns (drivers that spread over instances). */
  instances?: InstanceStats[];
  /** Wall-clock time of the load phase's start (epoch ms), the origin of the history's times. */
  t0EpochMs?: number;
  /** Drivers on the Recorder: latency per outcome class, winners'/losers' histograms, the sellout. */
  latencyByOutcome?: Record<OutcomeClass, LatencySummaryMs>;
  histograms?: { ok: string; rejected: string };
  sellout?: Sellout;
  /** Share of holds that went to the first arrivals, and arrival/success rank correlation. */
  fairness?: { firstComeShare: number | null; rankCorrelation: number | null; winners: number };
}

interface Work { journey: Journey; attempt: number }
interface Ctx { work?: Work }

/**
 * Drives the plan closed-model: `connections` sockets, each sending its next request as soon as
 * the previous one is answered. Journeys are pulled from one shared queue. A journey's follow-up
 * attempt (after a 409) is handed to the same connection: autocannon calls onResponse and then,
 * synchronously, setupRequest for that connection's next request.
 */
export function drive(plan: LoadPlan, opts: DriveOptions): Promise<RunResult> {
  const queue = plan.journeys;
  let next = 0;
  let handoff: Work | null = null;
  let lastWasIdle = false;
  const inflight = new Set<Work>();

  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const statusCodes: Record<string, number> = {};
  const errorCodes: Record<string, number> = {};
  const journeys = { total: queue.length, succeeded: 0, exhausted: 0, stopped: 0, unknown: 0 };
  const all = createLatencyHistogram();
  const okHist = createLatencyHistogram();
  const perSecond = { ok: [] as number[], requests: [] as number[] };
  let requests = 0;
  let transportErrors = 0;
  let t0 = 0;
  let tLast = 0;

  const connections = Math.max(1, Math.min(opts.connections, queue.length));
  // Each connection is scheduled every connections/rate seconds.
  const expectedIntervalUs = opts.rate ? Math.round((connections / opts.rate) * 1_000_000) : 0;

  const setupRequest = (req: autocannon.Request, context: Ctx): autocannon.Request => {
    let work = handoff;
    handoff = null;
    if (!work && next < queue.length) work = { journey: queue[next++]!, attempt: 0 };
    if (!work) {
      // Nothing left for this connection (only reachable after a timeout or reconnect):
      // a cheap request whose answer ends the connection and is not measured.
      context.work = undefined;
      return { ...req, method: 'GET', path: '/healthz', body: undefined, headers: {} } as autocannon.Request;
    }
    if (t0 === 0) t0 = performance.now();
    context.work = work;
    inflight.add(work);
    const a = work.journey.attempts[work.attempt]!;
    return {
      ...req,
      method: a.method,
      path: a.path,
      body: a.body,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${work.journey.token}`, ...a.headers },
    } as autocannon.Request;
  };

  const onResponse = (status: number, body: string, context: Ctx) => {
    const work = context.work;
    lastWasIdle = !work;
    if (!work) return;
    inflight.delete(work);
    let code: string | undefined;
    if (status >= 400) {
      try { code = (JSON.parse(body) as { error?: string }).error; } catch { code = undefined; }
      const key = code ?? `HTTP_${status}`;
      errorCodes[key] = (errorCodes[key] ?? 0) + 1;
    }
    const outcome = classify(status, code);
    outcomes[outcome]++;
    statusCodes[status] = (statusCodes[status] ?? 0) + 1;
    if (outcome === 'ok') journeys.succeeded++;
    else if (outcome === 'conflict' && work.attempt + 1 < work.journey.attempts.length) handoff = { journey: work.journey, attempt: work.attempt + 1 };
    else if (outcome === 'conflict') journeys.exhausted++;
    else journeys.stopped++;
    const sec = Math.floor((performance.now() - t0) / 1000);
    perSecond.requests[sec] = (perSecond.requests[sec] ?? 0) + 1;
    if (outcome === 'ok') perSecond.ok[sec] = (perSecond.ok[sec] ?? 0) + 1;
  };

  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        connections,
        pipelining: 1,
        timeout: opts.timeoutSec ?? 10,
        duration: opts.maxDurationSec ?? 600,
        ...(opts.rate ? { overallRate: opts.rate } : {}),
        requests: [{ setupRequest, onResponse } as unknown as autocannon.Request],
      },
      (err) => {
        clearInterval(ticker);
        if (err) return reject(err);
        for (let i = 0; i < perSecond.requests.length; i++) {
          perSecond.requests[i] ??= 0;
          perSecond.ok[i] ??= 0;
        }
        // Requests that never got an answer (timeout, reset) have an unknown outcome.
        outcomes.timeout += inflight.size;
        journeys.unknown += inflight.size;
        const whole = t0 === 0 ? 0 : Math.max(1, tLast - t0);
        const durationMs = whole;
        const rate = opts.rate
          ? { requested: opts.rate, achieved: round1((requests / Math.max(1, whole)) * 1000),
              shortfall: (requests / Math.max(1, whole)) * 1000 < opts.rate * 0.95,
              missed: Math.max(0, Math.round((opts.rate * Math.max(1, whole)) / 1000) - requests) }
          : undefined;
        resolve({
          model: opts.rate ? 'open' : 'closed',
          ...(rate ? { rate } : {}),
          connections,
          durationMs: Math.round(durationMs),
          requests,
          rps: round1((requests / Math.max(1, durationMs)) * 1000),
          okPerSec: round1((outcomes.ok / Math.max(1, durationMs)) * 1000),
          outcomes,
          statusCodes,
          errorCodes,
          journeys,
          latencyMs: summarize(all),
          okLatencyMs: summarize(okHist),
          histogram: encode(all),
          perSecond,
          transportErrors,
        });
      },
    );
    const events = instance as unknown as EventEmitter;
    events.on('response', (client: { reqsMade: number; responseMax?: number }, _status: number, _bytes: number, responseTimeMs: number) => {
      if (!lastWasIdle) {
        requests++;
        tLast = performance.now();
        const us = Math.max(1, Math.round(responseTimeMs * 1000));
        const ok = _status >= 200 && _status < 300;
        // Open model: latency counts from the intended send time. A response slower than the
        // schedule hid the requests that should have started meanwhile; HDR back-fills them.
        const record = (h: typeof all) => (expectedIntervalUs ? h.recordValueWithExpectedInterval(us, expectedIntervalUs) : h.recordValue(us));
        record(all);
        if (ok) record(okHist);
      }
      // No follow-up for this connection and nothing queued: end it before it asks for more.
      if (handoff === null && next >= queue.length) client.responseMax = client.reqsMade;
    });
    events.on('reqError', () => { transportErrors++; });
    const ticker = setInterval(() => {
      opts.onProgress?.({ elapsedMs: t0 ? performance.now() - t0 : 0, requests, ok: outcomes.ok, errors: outcomes.error + transportErrors });
    }, 1000);
  });
}

const round1 = (n: number) => Math.round(n * 10) / 10;
