import type { Knex } from 'knex';
import type { HistoryOp } from '../load/history.js';
import { historyOutcome } from '../load/history.js';

// Liveness after the faults: a seat that PostgreSQL says is AVAILABLE (or a ticket the inventory
// still has) must be obtainable through the API again within a grace period. A strategy that keeps
// state outside the database (a Redis claim, a lost count) can refuse it forever: that is "stuck".

export interface LivenessInput {
  db: Knex;
  urls: string[];
  scheduleId: number;
  kind: 'seats' | 'tickets';
  probe: { token: string; userId: number };
  graceMs: number;
  /** The load phase's clock, so probe operations line up with the rest of the history. */
  now: () => number;
  /** At most this many items are probed (the rest are counted, not tried). */
  limit?: number;
}

export interface LivenessResult {
  graceMs: number;
  /** Items available in PostgreSQL when the probe began. */
  available: number;
  probed: number;
  /** Still refused (taken / sold out) while PostgreSQL has them available, after the grace period. */
  stuck: number;
  /** Never answered at all within the grace period (the service itself was down). */
  unanswered: number;
  stuckItems: (number | null)[];
  ops: HistoryOp[];
}

const RETRY_MS = 250;

export async function probeLiveness(i: LivenessInput): Promise<LivenessResult> {
  const deadline = i.now() + i.graceMs;
  const ops: HistoryOp[] = [];
  const items = await availableItems(i);
  const todo = items.slice(0, i.limit ?? 200);
  let stuck: (number | null)[] = [];
  let unanswered: (number | null)[] = [];
  let pending = todo;
  for (let round = 0; pending.length > 0; round++) {
    stuck = [];
    unanswered = [];
    // Several probes at once: a slow hold (a strategy working under its lock) must not make the
    // probe of 200 items take 200 × its duration. Each item is still tried once per round.
    const results = await inPool(pending, PROBES_AT_ONCE, (item, k) => tryOne(i, item, i.urls[(round + k) % i.urls.length]!, ops));
    for (const [k, r] of results.entries()) {
      if (r === 'refused') stuck.push(pending[k]!);
      else if (r === 'no-answer') unanswered.push(pending[k]!);
    }
    // A refusal counts only while PostgreSQL still has the item on sale.
    stuck = await stillAvailable(i, stuck);
    pending = [...stuck, ...unanswered];
    if (pending.length === 0 || i.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
  return { graceMs: i.graceMs, available: items.length, probed: todo.length, stuck: stuck.length, unanswered: unanswered.length, stuckItems: stuck.slice(0, 20), ops };
}

const PROBES_AT_ONCE = 16;

/** Runs `fn` over `items` with at most `n` in flight; results in the items' order. */
async function inPool<T, R>(items: readonly T[], n: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k]!, k);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

async function availableItems(i: LivenessInput): Promise<(number | null)[]> {
  if (i.kind === 'seats') {
    return (await i.db('seats').where({ schedule_id: i.scheduleId, status: 'AVAILABLE' }).orderBy('seat_no').pluck('seat_no')) as number[];
  }
  const inv = await i.db('inventory').where({ schedule_id: i.scheduleId }).first('remaining');
  return Array.from({ length: Math.max(0, Number(inv?.remaining ?? 0)) }, () => null);
}

async function stillAvailable(i: LivenessInput, refused: (number | null)[]): Promise<(number | null)[]> {
  if (refused.length === 0) return refused;
  if (i.kind === 'tickets') {
    const inv = await i.db('inventory').where({ schedule_id: i.scheduleId }).first('remaining');
    return refused.slice(0, Math.max(0, Number(inv?.remaining ?? 0)));
  }
  const free = new Set((await i.db('seats').where({ schedule_id: i.scheduleId, status: 'AVAILABLE' }).whereIn('seat_no', refused as number[]).pluck('seat_no')) as number[]);
  return refused.filter((s) => free.has(s as number));
}

async function tryOne(i: LivenessInput, item: number | null, url: string, ops: HistoryOp[]): Promise<'held' | 'refused' | 'no-answer'> {
  const seat = i.kind === 'seats';
  const start = i.now();
  let status: number | undefined;
  let json: { error?: string; reservationId?: number } = {};
  try {
    const res = await fetch(`${url}${seat ? '/api/reservations' : '/api/reservations/general'}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${i.probe.token}` },
      body: JSON.stringify(seat ? { scheduleId: i.scheduleId, seatNo: item } : { scheduleId: i.scheduleId }),
      signal: AbortSignal.timeout(5000),
    });
    status = res.status;
    json = (await res.json().catch(() => ({}))) as typeof json;
  } catch {
    status = undefined;
  }
  ops.push({
    index: -1, process: -1, instance: i.urls.indexOf(url), op: seat ? 'probe-hold' : 'probe-ticket', invokeMs: start, completeMs: i.now(),
    outcome: historyOutcome(status), ...(status !== undefined ? { status } : { error: 'NO_ANSWER' }), ...(json.error ? { error: json.error } : {}),
    userId: i.probe.userId, scheduleId: i.scheduleId, seatNo: item, ...(status === 201 && json.reservationId ? { reservationId: json.reservationId } : {}),
  });
  if (status === 201) return 'held';
  // Busy means "try again"; taken or sold out while the database has it free means stuck.
  if (status === 409 && json.error !== 'SEAT_BUSY') return 'refused';
  return 'no-answer';
}
