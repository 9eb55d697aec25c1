import type { AttemptRequest, Journey, LoadPlan } from './plan.js';
import { REFUSED, type Answer, type Recorder } from './recorder.js';

// The closed model's one loop, shared by the HTTP and the in-process drivers: `clients` workers
// pull journeys from one queue in plan order; a journey moves to its next attempt only after a
// 409 (conflict) and stops at anything else. Every attempt goes through the Recorder.

export interface JourneyCounts { total: number; succeeded: number; exhausted: number; stopped: number; unknown: number }

/** How often a client retries an attempt the server refused to connect for (an instance restarting). */
const REFUSED_RETRIES = 50;
const REFUSED_BACKOFF_MS = 100;

export async function runJourneys(plan: LoadPlan, o: {
  clients: number;
  rec: Recorder;
  /** Which server instance client i talks to. */
  instanceOf?: (client: number) => number;
  /** Stop starting journeys after this point on the recorder's clock. */
  deadlineMs?: number;
  send: (client: number, j: Journey, a: AttemptRequest) => Promise<Answer>;
}): Promise<JourneyCounts> {
  const { rec } = o;
  const queue = plan.journeys;
  const counts: JourneyCounts = { total: queue.length, succeeded: 0, exhausted: 0, stopped: 0, unknown: 0 };
  const deadline = o.deadlineMs ?? Infinity;
  let next = 0;

  async function client(id: number): Promise<void> {
    const instance = o.instanceOf?.(id) ?? 0;
    while (next < queue.length && rec.now() < deadline) {
      const j = queue[next++]!;
      let attempt = 0;
      let refusals = 0;
      let arrivedAt: number | undefined;
      for (;;) {
        const a = j.attempts[attempt]!;
        const inv = rec.invoke({ op: 'other', ...a.meta, ...(j.userId !== undefined && a.meta?.userId === undefined ? { userId: j.userId } : {}) }, id, instance);
        arrivedAt ??= inv.startedAt;
        const answer = await o.send(id, j, a);
        const { outcome } = rec.complete(inv, answer);
        if (outcome === 'ok') {
          counts.succeeded++;
          rec.journey(arrivedAt, rec.now());
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
        if (outcome === 'conflict') counts.exhausted++;
        else if (outcome === 'timeout') counts.unknown++;
        else counts.stopped++;
        rec.journey(arrivedAt, undefined);
        break;
      }
    }
  }

  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.clients, queue.length)) }, (_, i) => client(i)));
  return counts;
}
