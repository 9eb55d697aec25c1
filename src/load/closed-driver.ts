import { Pool } from 'undici';
import type { LoadPlan } from './plan.js';
import { Recorder } from './recorder.js';
import { send } from './http-send.js';
import { runJourneys } from './journey-loop.js';
import type { RunResult } from './result.js';

export interface ClosedOptions {
  /** One URL per server instance; connection i talks to instance i mod N (round-robin, no balancer). */
  urls: string[];
  connections: number;
  /** Per-request timeout; an unanswered request is an unknown outcome, not a failure. */
  timeoutSec?: number;
  /** Stop starting journeys after this long (a safety limit). */
  maxDurationSec?: number;
  onProgress?: (p: { elapsedMs: number; requests: number; ok: number; errors: number }) => void;
  /** Keep the per-operation history (default true). */
  history?: boolean;
  /** Record into this recorder (its clock is the load phase's clock, shared with the nemesis). */
  recorder?: Recorder;
}

export interface ClosedResult extends RunResult {
  recorder: Recorder;
}

/**
 * The closed model on undici: `connections` clients, each sending its next request when the
 * previous one is answered (see journey-loop.ts). Every operation goes through the Recorder, so a
 * request that never got an answer (timeout, reset, a killed instance) is an unknown in the
 * history, and one whose connection was refused before anything was sent is a definite failure,
 * tried again shortly.
 */
/** Journeys stop being started this long into a closed-model load unless maxDurationSec says otherwise (the report counts the users left out). */
export const CLOSED_DRIVER_LIMIT_SEC = 600;

export async function driveClosed(plan: LoadPlan, o: ClosedOptions): Promise<ClosedResult> {
  const clients = Math.max(1, Math.min(o.connections, plan.journeys.length));
  const timeoutMs = (o.timeoutSec ?? 10) * 1000;
  const perInstance = Math.ceil(clients / o.urls.length);
  const pools = o.urls.map((u) => new Pool(u, { connections: perInstance, pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: Math.min(timeoutMs, 5000), keepAliveTimeout: 60_000 }));
  const rec = o.recorder ?? new Recorder(o.urls.length, o.history ?? true);
  const ticker = o.onProgress ? setInterval(() => o.onProgress!({ elapsedMs: rec.now(), requests: rec.requests, ok: rec.outcomes.ok, errors: rec.outcomes.error + rec.outcomes.timeout }), 1000) : undefined;
  let journeys;
  try {
    journeys = await runJourneys(plan, {
      clients, rec, instanceOf: (i) => i % pools.length, deadlineMs: rec.now() + (o.maxDurationSec ?? CLOSED_DRIVER_LIMIT_SEC) * 1000,
      send: (i, j, a) => send(pools[i % pools.length]!, a, j),
    });
  } finally {
    if (ticker) clearInterval(ticker);
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
  return { model: 'closed', connections: clients, journeys, ...rec.summary(), recorder: rec };
}
