import { SEAT_BUSY, type AttemptRequest, type Journey, type LoadPlan } from './plan.js';
import { REFUSED, type Answer, type Recorder } from './recorder.js';

// One user's journey, and the closed model's loop over the plan, shared by the HTTP, the
// in-process and the open drivers: a journey moves to its next attempt only after a 409
// (conflict) and stops at anything else. Every attempt goes through the Recorder.

export interface JourneyCounts { total: number; succeeded: number; exhausted: number; stopped: number; unknown: number }

export type Send = (client: number, j: Journey, a: AttemptRequest) => Promise<Answer>;

/** How often a client retries an attempt the server refused to connect for (an instance restarting). */
const REFUSED_RETRIES = 50;
const REFUSED_BACKOFF_MS = 100;

/**
 * Runs one journey to its end and counts how it ended. `arriveAt` (recorder clock) is when the
 * user meant to send the first attempt (open model); by default, now. Follow-up attempts go out
 * as soon as the previous answer is in, so their latency counts from then.
 */
export async function runJourney(j: Journey, o: {
  rec: Recorder; counts: JourneyCounts; process: number; instance: number; send: Send; arriveAt?: number;
}): Promise<void> {
  const { rec, counts } = o;
  let attempt = 0;
  let refusals = 0;
  // Answers that refused this user (409s): all of them, and those that said busy rather than taken.
  let conflicts = 0;
  let busy = 0;
  let startAt = o.arriveAt;
  let arrivedAt: number | undefined;
  for (;;) {
    const a = j.attempts[attempt]!;
    const inv = rec.invoke({ op: 'other', ...a.meta, ...(j.userId !== undefined && a.meta?.userId === undefined ? { userId: j.userId } : {}) }, o.process, o.instance, startAt);
    startAt = undefined;
    arrivedAt ??= inv.startedAt;
    const answer = await o.send(o.process, j, a);
    const { outcome } = rec.complete(inv, answer);
    if (outcome === 'ok') {
      counts.succeeded++;
      rec.journey(arrivedAt, rec.now());
      return;
    }
    if (answer.wireError === REFUSED && refusals++ < REFUSED_RETRIES) {
      // Nothing reached the server: the same attempt again, after a pause (a user pressing again).
      await new Promise((r) => setTimeout(r, REFUSED_BACKOFF_MS));
      continue;
    }
    if (outcome === 'conflict') {
      conflicts++;
      if (answer.errorCode === SEAT_BUSY) busy++;
    }
    if (outcome === 'conflict' && attempt + 1 < j.attempts.length) {
      attempt++;
      continue;
    }
    if (outcome === 'conflict') counts.exhausted++;
    else if (outcome === 'timeout') counts.unknown++;
    else counts.stopped++;
    rec.journey(arrivedAt, undefined, conflicts > 0 ? { refusals: conflicts, busy, at: rec.now() } : undefined);
    return;
  }
}

/** The closed model: `clients` workers pull journeys from one queue in plan order. */
export async function runJourneys(plan: LoadPlan, o: {
  clients: number;
  rec: Recorder;
  /** Which server instance client i talks to. */
  instanceOf?: (client: number) => number;
  /** Stop starting journeys after this point on the recorder's clock. */
  deadlineMs?: number;
  send: Send;
}): Promise<JourneyCounts> {
  const queue = plan.journeys;
  const counts: JourneyCounts = { total: queue.length, succeeded: 0, exhausted: 0, stopped: 0, unknown: 0 };
  const deadline = o.deadlineMs ?? Infinity;
  let next = 0;

  async function client(id: number): Promise<void> {
    const instance = o.instanceOf?.(id) ?? 0;
    while (next < queue.length && o.rec.now() < deadline) {
      await runJourney(queue.at(next++)!, { rec: o.rec, counts, process: id, instance, send: o.send });
    }
  }

  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.clients, queue.length)) }, (_, i) => client(i)));
  return counts;
}
