import type { ReservationInterval } from '../check/intervals.js';
import type { RedisClient } from '../infra/redis-client.js';
import { idNumber, pick, render, type Vars } from './template.js';

// Holds that live only in Redis (a key with a TTL per held seat, the database written only when
// the purchase is confirmed): the lab samples the target's Redis during the run and turns each
// key it saw into an interval, from the first sample that saw it to the last. What that can and
// cannot show: two holders of one seat seen at once are a double hold, whatever the keys'
// TTLs said; a key that lived between two samples is never seen; and an interval ends at its
// last sighting, so a hold and the next one on the same seat, one after the other, never overlap
// falsely — but a real overlap shorter than the sample interval can be missed.

/** Where a field of a hold is in a key: the key's n-th ':'-separated part, its string value, a hash field, or a path in a JSON value. */
export type RedisField = string;

export interface RedisTruthSpec {
  /** SCAN MATCH pattern of the hold keys, with {{scheduleId}} etc. ("hold:{{scheduleId}}:*"). */
  match: string;
  /** "key:N" (the key's N-th part, from 0), "value", "hash:<field>" or "json:<path>". */
  seatNo: RedisField;
  userId: RedisField;
  /** How often the keys are read during the run (default 200 ms). */
  sampleMs?: number;
}

const FIELD = /^(key:\d+|value|hash:.+|json:.+)$/;

export function validateRedisTruth(v: Record<string, unknown>, p: string[]): void {
  if (typeof v.match !== 'string' || v.match.length === 0) p.push('truth.redis.match: required, a SCAN pattern of the hold keys such as "hold:{{scheduleId}}:*"');
  for (const k of ['seatNo', 'userId']) {
    if (typeof v[k] !== 'string' || !FIELD.test(v[k])) p.push(`truth.redis.${k}: expected "key:N" (the key's N-th ':' part), "value", "hash:<field>" or "json:<path>" (got ${JSON.stringify(v[k])})`);
  }
  if (v.seatNo === 'value' && v.userId === 'value') p.push('truth.redis: seatNo and userId cannot both be the whole value');
  if (v.sampleMs !== undefined && !(Number.isInteger(v.sampleMs) && (v.sampleMs as number) >= 10)) p.push('truth.redis.sampleMs: expected an integer of at least 10 (milliseconds)');
}

/** One sample: every hold key the pattern matches, with its seat and holder. */
export async function readHolds(r: RedisClient, spec: RedisTruthSpec, vars: Vars): Promise<{ key: string; seatNo: number | null; userId: unknown }[]> {
  const match = render(spec.match, vars, 'truth.redis.match') as string;
  const out: { key: string; seatNo: number | null; userId: unknown }[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const [seat, user] = await Promise.all([field(r, key, spec.seatNo), field(r, key, spec.userId)]);
      // Gone between SCAN and the read: it was not there at this sample.
      if (seat === undefined || user === undefined) continue;
      const n = Number(seat);
      out.push({ key, seatNo: seat === null || !Number.isFinite(n) ? null : n, userId: user });
    }
  } while (cursor !== '0');
  return out;
}

async function field(r: RedisClient, key: string, f: RedisField): Promise<unknown> {
  if (f.startsWith('key:')) return key.split(':')[Number(f.slice(4))] ?? null;
  if (f.startsWith('hash:')) return (await r.hget(key, f.slice(5))) ?? undefined;
  const v = await r.get(key);
  if (v === null) return undefined;
  if (f === 'value') return v;
  try { return pick(JSON.parse(v), f.slice(5)) ?? null; } catch { return null; }
}

/** Samples the target's Redis every sampleMs until stopped; each (key, holder) seen, for as long as it is seen, becomes one interval. */
export function sampleRedisHolds(r: RedisClient, spec: RedisTruthSpec, vars: Vars, clockUs: () => number) {
  interface Seen { seatNo: number | null; userId: number; firstUs: number; lastUs: number }
  const open = new Map<string, Seen>();
  const closed: Seen[] = [];
  let samples = 0;
  let failures = 0;
  const once = async () => {
    const at = clockUs();
    try {
      const holds = await readHolds(r, spec, vars);
      samples++;
      const now = new Set<string>();
      for (const h of holds) {
        const id = `${h.key}\u0000${String(h.userId)}`;
        now.add(id);
        const s = open.get(id);
        if (s) s.lastUs = at;
        else open.set(id, { seatNo: h.seatNo, userId: idNumber(h.userId), firstUs: at, lastUs: at });
      }
      // Gone since the last sample: the hold ended (expired, released or confirmed) after its last sighting.
      for (const [id, s] of open) if (!now.has(id)) { closed.push(s); open.delete(id); }
    } catch {
      // A sample Redis did not answer changes nothing: no interval ends because of it.
      failures++;
    }
  };
  // A sample still running when the next is due is not queued behind: that tick is skipped.
  let busy = true;
  let running = once().finally(() => { busy = false; });
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    running = once().finally(() => { busy = false; });
  }, spec.sampleMs ?? 200);
  return {
    /** A last sample, then every interval: a key still there at the end is a hold still active. */
    async stop(): Promise<{ rows: ReservationInterval[]; samples: number; failures: number }> {
      clearInterval(timer);
      await running;
      await once();
      let i = 0;
      const row = (s: Seen, active: boolean): ReservationInterval => ({
        id: -(++i), userId: s.userId, scheduleId: 0, seatNo: s.seatNo, status: active ? 'HELD' : 'ENDED', startUs: s.firstUs, endUs: active ? null : s.lastUs + 1,
      });
      return { rows: [...closed.map((s) => row(s, false)), ...[...open.values()].map((s) => row(s, true))], samples, failures };
    },
  };
}

/**
 * Intervals of one user on one seat joined into one: a hold in Redis that the user then confirmed
 * in the database is one reservation seen twice, not two holders of the seat.
 */
export function mergeSameHolder(rows: readonly ReservationInterval[]): ReservationInterval[] {
  const groups = new Map<string, ReservationInterval[]>();
  const out: ReservationInterval[] = [];
  for (const r of rows) {
    if (r.seatNo === null) { out.push(r); continue; }
    const k = `${r.seatNo}|${r.userId}`;
    (groups.get(k) ?? groups.set(k, []).get(k)!).push(r);
  }
  for (const list of groups.values()) {
    list.sort((a, b) => a.startUs - b.startUs);
    let cur: ReservationInterval = { ...list[0]! };
    for (const r of list.slice(1)) {
      if (cur.endUs === null || r.startUs <= cur.endUs) {
        // The stored row's id (positive) is kept: the history's acknowledgements name it; a Redis sighting's id is the lab's own (negative).
        const active = cur.endUs === null || r.endUs === null;
        cur = { ...cur, id: Math.max(cur.id, r.id), endUs: active ? null : Math.max(cur.endUs!, r.endUs!), status: active ? 'HELD' : r.id > cur.id ? r.status : cur.status };
      } else { out.push(cur); cur = { ...r }; }
    }
    out.push(cur);
  }
  return out;
}
