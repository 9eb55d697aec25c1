import { Pool } from 'undici';
import type { LoadPlan } from './plan.js';
import { Recorder } from './recorder.js';
import { send } from './http-send.js';
import { runJourney, type JourneyCounts } from './journey-loop.js';
import { createLatencyHistogram } from './histogram.js';
import type { OpenRate, RunResult } from './result.js';

export interface OpenOptions {
  /** One URL per server instance; arrival k goes to instance k mod N (round-robin, no balancer). */
  urls: string[];
  /** Arrivals (journeys started) per second. */
  rate: number;
  /** Journeys in flight at once, over all instances; an arrival finding none free is dropped. */
  maxConnections: number;
  /** Per-request timeout; an unanswered request is an unknown outcome, not a failure. */
  timeoutSec?: number;
  /** Stop scheduling arrivals after this long (a safety limit); the rest count as missed. */
  maxDurationSec?: number;
  onProgress?: (p: { elapsedMs: number; requests: number; ok: number; errors: number }) => void;
  /** Keep the per-operation history (default true). */
  history?: boolean;
  /** Record into this recorder (its clock is the load phase's clock, shared with the nemesis). */
  recorder?: Recorder;
}

export interface OpenResult extends RunResult {
  rate: OpenRate;
  recorder: Recorder;
}

/**
 * The open model, as wrk2 and k6's constant-arrival-rate have it: journey k of the plan is one
 * user arriving at t0 + k/rate, whether or not earlier users have had their answers. Its first
 * attempt's latency counts from that intended time, so a server (or a load generator) that falls
 * behind shows as latency instead of quietly lowering the rate. A journey holds one connection
 * from its arrival to its end (its follow-ups after a 409 go out as soon as the answer is in);
 * an arrival that finds every connection of its instance busy is dropped — not sent, counted
 * (k6's dropped_iterations), and absent from the latency figures.
 */
export async function driveOpen(plan: LoadPlan, o: OpenOptions): Promise<OpenResult> {
  const queue = plan.journeys;
  const timeoutMs = (o.timeoutSec ?? 10) * 1000;
  // Each instance gets its share of the connections (the first ones one more when it does not divide).
  const caps = o.urls.map((_, i) => Math.floor(o.maxConnections / o.urls.length) + (i < o.maxConnections % o.urls.length ? 1 : 0));
  const pools = o.urls.map((u, i) => new Pool(u, { connections: Math.max(1, caps[i]!), pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: Math.min(timeoutMs, 5000), keepAliveTimeout: 60_000 }));
  const busy = o.urls.map(() => 0);
  const rec = o.recorder ?? new Recorder(o.urls.length, o.history ?? true);
  const counts: JourneyCounts = { total: queue.length, succeeded: 0, exhausted: 0, stopped: 0, unknown: 0 };
  const lag = createLatencyHistogram();
  const intervalMs = 1000 / o.rate;
  let started = 0;
  let dropped = 0;
  let inFlight = 0;
  let peak = 0;
  let lastStart = 0;
  const running: Promise<void>[] = [];
  const ticker = o.onProgress ? setInterval(() => o.onProgress!({ elapsedMs: rec.now(), requests: rec.requests, ok: rec.outcomes.ok, errors: rec.outcomes.error + rec.outcomes.timeout }), 1000) : undefined;

  const arrive = (k: number, intended: number, now: number) => {
    const instance = k % pools.length;
    if (busy[instance]! >= caps[instance]!) {
      dropped++;
      return;
    }
    busy[instance]!++;
    peak = Math.max(peak, ++inFlight);
    started++;
    lastStart = now;
    lag.recordValue(Math.max(1, Math.round((now - intended) * 1000)));
    running.push(runJourney(queue.at(k)!, { rec, counts, process: k, instance, arriveAt: intended, send: (_, j, a) => send(pools[instance]!, a, j) })
      .finally(() => { busy[instance]!--; inFlight--; }));
  };

  const t0 = rec.now();
  const deadline = t0 + (o.maxDurationSec ?? 600) * 1000;
  let next = 0;
  try {
    await new Promise<void>((resolve) => {
      // Timers fire late, never early: each wake-up starts every arrival that is due, each with its
      // own intended time, so the lateness of the generator itself is part of the measured latency.
      const tick = () => {
        const now = rec.now();
        while (next < queue.length) {
          const intended = t0 + next * intervalMs;
          if (intended > now || intended >= deadline) break;
          arrive(next++, intended, now);
        }
        if (next >= queue.length || t0 + next * intervalMs >= deadline) return resolve();
        setTimeout(tick, Math.max(0, t0 + next * intervalMs - rec.now()));
      };
      tick();
    });
    await Promise.all(running);
  } finally {
    if (ticker) clearInterval(ticker);
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
  const scheduledMs = Math.max(lastStart - t0 + intervalMs, next * intervalMs);
  const achieved = round1((started / Math.max(1, scheduledMs)) * 1000);
  const rate: OpenRate = {
    requested: o.rate, achieved, shortfall: achieved < o.rate * 0.95,
    missed: queue.length - started, dropped, maxConnections: o.maxConnections, peakConnections: peak,
    startLagMs: { p50: ms(lag.getValueAtPercentile(50)), p99: ms(lag.getValueAtPercentile(99)), max: ms(lag.maxValue) },
  };
  return { model: 'open', rate, connections: o.maxConnections, journeys: counts, ...rec.summary(), recorder: rec };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const ms = (us: number) => Math.round(us) / 1000;
