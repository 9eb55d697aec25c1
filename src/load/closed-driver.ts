import { Pool } from 'undici';
import type { AttemptRequest, Journey, LoadPlan } from './plan.js';
import { Recorder, REFUSED, type Answer } from './recorder.js';
import type { RunResult } from './driver.js';

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

/** How often a client retries an attempt the server refused to connect for (an instance restarting). */
const REFUSED_RETRIES = 50;
const REFUSED_BACKOFF_MS = 100;

/**
 * The closed model on undici: `connections` clients, each sending its next request when the
 * previous one is answered, journeys pulled from one shared queue. A journey moves to its next
 * attempt only after a 409 (conflict). Every operation goes through the Recorder, so a request that
 * never got an answer (timeout, reset, a killed instance) is an unknown in the history, and one
 * whose connection was refused before anything was sent is a definite failure, tried again shortly.
 */
export async function driveClosed(plan: LoadPlan, o: ClosedOptions): Promise<ClosedResult> {
  const queue = plan.journeys;
  const clients = Math.max(1, Math.min(o.connections, queue.length));
  const timeoutMs = (o.timeoutSec ?? 10) * 1000;
  const perInstance = Math.ceil(clients / o.urls.length);
  const pools = o.urls.map((u) => new Pool(u, { connections: perInstance, pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: Math.min(timeoutMs, 5000), keepAliveTimeout: 60_000 }));
  const rec = o.recorder ?? new Recorder(o.urls.length, o.history ?? true);
  const journeys = { total: queue.length, succeeded: 0, exhausted: 0, stopped: 0, unknown: 0 };
  const deadline = rec.now() + (o.maxDurationSec ?? 600) * 1000;
  let next = 0;

  async function client(id: number): Promise<void> {
    const instance = id % pools.length;
    const pool = pools[instance]!;
    while (next < queue.length && rec.now() < deadline) {
      const j = queue[next++]!;
      let attempt = 0;
      let refusals = 0;
      for (;;) {
        const a = j.attempts[attempt]!;
        const inv = rec.invoke({ op: 'other', ...a.meta, ...(j.userId !== undefined && a.meta?.userId === undefined ? { userId: j.userId } : {}) }, id, instance);
        const answer = await send(pool, a, j);
        const { outcome } = rec.complete(inv, answer);
        if (outcome === 'ok') {
          journeys.succeeded++;
          break;
        }
        if (answer.wireError === REFUSED && refusals++ < REFUSED_RETRIES) {
          // Nothing reached the server: the same attempt again, after a pause (a user pressing again).
          await new Promise((r) => setTimeout(r, REFUSED_BACKOFF_MS));
          continue;
        }
        if (outcome === 'conflict' && attempt + 1 < j.attempts.length) {
          attempt++;
          continue;
        }
        if (outcome === 'conflict') journeys.exhausted++;
        else if (outcome === 'timeout') journeys.unknown++;
        else journeys.stopped++;
        break;
      }
    }
  }

  const ticker = o.onProgress ? setInterval(() => o.onProgress!({ elapsedMs: rec.now(), requests: rec.requests, ok: rec.outcomes.ok, errors: rec.outcomes.error + rec.outcomes.timeout }), 1000) : undefined;
  try {
    await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  } finally {
    if (ticker) clearInterval(ticker);
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
  const s = rec.summary();
  return { model: 'closed', connections: clients, journeys, ...s, recorder: rec };
}

async function send(pool: Pool, a: AttemptRequest, j: Journey): Promise<Answer> {
  try {
    const res = await pool.request({
      path: a.path,
      method: a.method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${j.token}`, ...a.headers },
      body: a.body,
    });
    const text = await res.body.text();
    const answer: Answer = { status: res.statusCode };
    if (text && text.charCodeAt(0) === 123 /* { */) {
      try {
        const json = JSON.parse(text) as { error?: unknown; reservationId?: unknown; paymentId?: unknown };
        if (res.statusCode >= 400 && typeof json.error === 'string') answer.errorCode = json.error;
        if (res.statusCode < 300 && typeof json.reservationId === 'number') answer.reservationId = json.reservationId;
        if (res.statusCode < 300 && typeof json.paymentId === 'number') answer.paymentId = json.paymentId;
      } catch {
        // Not JSON after all: the status code is the answer.
      }
    }
    return answer;
  } catch (err) {
    return { wireError: wireError(err) };
  }
}

function wireError(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? 'ERROR';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  if (code === 'ECONNREFUSED' || e.cause?.code === 'ECONNREFUSED') return REFUSED;
  return code;
}
