import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../src/core/ports.js';
import type { Knex } from 'knex';
import type { HoldOutcome, ReleasedItem, SeatLockStrategy } from '../src/core/ports.js';
import { intOption } from '../src/core/options.js';
import { startPeriodic } from '../src/core/periodic.js';
import { held, sleep, soldOut, waitedFor, writeDebit, writeHold, writeTicket } from './lib/shared.js';

// An atomic Redis pre-check in front of PostgreSQL. One Lua script claims the seat (fails if
// claimed) or takes a ticket off the count (fails at zero), so taken seats and sold-out schedules
// are answered without opening a database connection. Only a Redis winner writes to PostgreSQL;
// if that write fails, the claim is given back.
//
// PostgreSQL stays the source of truth (the seat write re-checks AVAILABLE, the ticket write
// decrements only above zero), so Redis can only cost refused writes, never an oversell. What Redis
// can do is refuse seats or tickets that are for sale ("stuck"). Against that:
// - a schedule's state is rebuilt from PostgreSQL when its marker key is missing (a Redis that
//   restarted empty), by a script that does nothing if another instance rebuilt first;
// - every claim carries its time, so a reconciler can release claims whose seat is still AVAILABLE
//   in PostgreSQL long after the claim (leaked by a process killed mid-hold, or a release that
//   never reached Redis), and raise a ticket count that fell below PostgreSQL's remaining minus the
//   ticket claims still in flight. It never lowers a count: too high costs a refused write, each of
//   which keeps its decrement, so it heals itself.

const keys = (scheduleId: number) => {
  const tag = `seatlab:{s${scheduleId}}`;
  return {
    /** The schedule's seat count; present exactly when the rest of its state is. */
    marker: `${tag}:seat-count`,
    /** seatNo → claim time (Redis clock, ms): seats claimed or taken in PostgreSQL. */
    claims: `${tag}:claims`,
    tickets: `${tag}:tickets`,
    /** claim id → claim time: ticket claims whose PostgreSQL write has not finished. */
    ticketClaims: `${tag}:ticket-claims`,
  };
};

interface Lua { lua: string; sha: string }
const NOW = `local t = redis.call('TIME') local now = t[1] .. string.format('%03d', math.floor(t[2] / 1000))\n`;
const lua = (text: string): Lua => {
  const body = NOW + text;
  return { lua: body, sha: createHash('sha1').update(body).digest('hex') };
};

/** KEYS marker, claims. ARGV seatNo. → claim time, or -3 state missing, -4 no such seat, -1 claimed. */
const CLAIM_SEAT = lua(`
local seatCount = tonumber(redis.call('GET', KEYS[1]))
if not seatCount then return -3 end
if tonumber(ARGV[1]) > seatCount then return -4 end
if redis.call('HSETNX', KEYS[2], ARGV[1], now) == 0 then return -1 end
return now`);

/** KEYS claims. ARGV seatNo, claim time. Compare-and-delete: only the claim that was made then. */
const RELEASE_CLAIM = lua(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`);

/** KEYS marker, tickets, ticketClaims. ARGV claim id. → tickets left, or -3 state missing, -2 none left. */
const CLAIM_TICKET = lua(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
if (tonumber(redis.call('GET', KEYS[2])) or 0) <= 0 then return -2 end
redis.call('HSET', KEYS[3], ARGV[1], now)
return redis.call('DECR', KEYS[2])`);

/** KEYS marker, tickets, ticketClaims. ARGV claim id (or '' for a ticket released in PostgreSQL). */
const RETURN_TICKET = lua(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' and redis.call('HDEL', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
return 1`);

/** KEYS marker, claims, tickets, ticketClaims. ARGV seat count, tickets, taken seats… → 1 rebuilt, 0 already there. */
const REBUILD = lua(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
for i = 3, #ARGV, 1000 do
  local batch = {}
  for j = i, math.min(i + 999, #ARGV) do batch[#batch + 1] = ARGV[j]; batch[#batch + 1] = now end
  redis.call('HSET', KEYS[2], unpack(batch))
end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1])
return 1`);

/**
 * KEYS marker, claims. ARGV age ms, HSCAN cursor, batch. → -1 state missing, else {next cursor, then
 * flat seatNo, claim time of this batch's claims older than that}. One batch per call: a sale's
 * claims grow to its seat count, and reading them all every tick (HGETALL) made the reconciler cost
 * O(seats sold) a second — at 100,000 seats it held Redis at 100% CPU and the sale fell to a fifth
 * of its rate.
 */
const OLD_CLAIMS = lua(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local cutoff = tonumber(now) - tonumber(ARGV[1])
local page = redis.call('HSCAN', KEYS[2], ARGV[2], 'COUNT', ARGV[3])
local all, out = page[2], {page[1]}
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < cutoff then out[#out + 1] = all[i]; out[#out + 1] = all[i + 1] end
end
return out`);

/**
 * KEYS marker, tickets, ticketClaims. ARGV PostgreSQL's remaining, age ms. Drops ticket claims older
 * than that (leaked), then raises the count to remaining minus the claims still in flight if it is
 * lower. → {claims dropped, amount raised}.
 */
const RAISE_TICKETS = lua(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local cutoff = tonumber(now) - tonumber(ARGV[2])
local all, dropped = redis.call('HGETALL', KEYS[3]), 0
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < cutoff then redis.call('HDEL', KEYS[3], all[i]); dropped = dropped + 1 end
end
local target = tonumber(ARGV[1]) - redis.call('HLEN', KEYS[3])
local cur = tonumber(redis.call('GET', KEYS[2])) or 0
if cur >= target then return {dropped, 0} end
redis.call('SET', KEYS[2], target)
return {dropped, target - cur}`);

/** Redis could not be reached: infrastructure, not contention (answered 503, like a lost quorum). */
class RedisUnavailableError extends Error {
  readonly status = 503;
  constructor(cause: unknown) {
    super(`Redis is unavailable (${(cause as Error)?.message ?? String(cause)}); retry shortly`, { cause });
  }
}

/** EVALSHA, falling back to EVAL (which caches the script again) after a Redis restart lost it. */
async function evalLua(r: RedisClient, s: Lua, keys: string[], args: (string | number)[]): Promise<unknown> {
  try {
    try {
      return await r.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
      return await r.eval(s.lua, keys.length, ...keys, ...args);
    }
  } catch (err) {
    throw (err as Error)?.name === 'ReplyError' ? err : new RedisUnavailableError(err);
  }
}

/** Up to 5 retries 25 → 400 ms apart, for writes that keep Redis in step with a database change. */
async function withRetries(fn: () => Promise<unknown>, onRetry: () => void): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fn();
      return;
    } catch (err) {
      if (attempt >= 5 || !(err instanceof RedisUnavailableError)) throw err;
      onRetry();
      await sleep(25 * 2 ** attempt);
    }
  }
}

/** Rebuilds one schedule's Redis state from PostgreSQL unless it is there; null when the schedule does not exist. */
async function rebuild(db: Knex, r: RedisClient, scheduleId: number): Promise<'rebuilt' | 'present' | null> {
  const sched = await db('schedules').where({ id: scheduleId }).first('seat_count');
  if (!sched) return null;
  const taken = (await db('seats').where({ schedule_id: scheduleId }).whereNot({ status: 'AVAILABLE' }).pluck('seat_no')) as number[];
  const inv = await db('inventory').where({ schedule_id: scheduleId }).first('remaining');
  const k = keys(scheduleId);
  const done = await evalLua(r, REBUILD, [k.marker, k.claims, k.tickets, k.ticketClaims], [sched.seat_count, inv?.remaining ?? 0, ...taken]);
  return done === 1 ? 'rebuilt' : 'present';
}

export const redisDecr = {
  name: 'redis-decr',
  description: 'atomic Redis pre-check (Lua: seat claim + ticket DECR), then the database write, compensated if it fails; rebuilt and reconciled from the database',
  safe: true,
  requires: { redis: true },
  options: [
    intOption('reconcileAfterMs', 'a Redis claim older than this whose seat or ticket is not in PostgreSQL is given back', 3000, 100, 3_600_000),
    intOption('reconcileIntervalMs', 'how often Redis is compared with PostgreSQL (0 = never)', 1000, 0, 600_000),
    intOption('reconcileBatch', 'seat claims compared per schedule and interval (walked with HSCAN, so a full pass over N claims takes about N ÷ this intervals)', 1000, 10, 100_000),
  ],
  create({ db, redis, observe }, options) {
    const r = redis[0];
    if (!r) throw new Error('redis-decr needs a Redis server');
    const afterMs = Number(options.reconcileAfterMs ?? 3000);
    const intervalMs = Number(options.reconcileIntervalMs ?? 1000);
    const batch = Number(options.reconcileBatch ?? 1000);
    /** Where each schedule's walk over its claims goes on from ('0': a new pass). */
    const cursors = new Map<number, string>();
    const counters = {
      dbAvoided: 0, takenInRedis: 0, soldOutInRedis: 0, dbWrites: 0, dbDisagreed: 0, redisUnavailable: 0,
      compensations: 0, compensationRetries: 0, compensationFailures: 0, releaseRetries: 0, releaseFailures: 0,
      rebuilds: 0, rebuildsSkipped: 0, reconciledSeats: 0, reconciledTicketClaims: 0, ticketsRaised: 0, reconcileFailures: 0,
    };
    const rebuilding = new Map<number, Promise<boolean>>();
    const known = new Set<number>();
    const instance = `${process.pid}-${randomBytes(3).toString('hex')}`;
    let nextClaim = 0;
    let stopReconciler = async () => {};

    const ensureSchedule = (scheduleId: number) => {
      let p = rebuilding.get(scheduleId);
      if (!p) {
        p = rebuild(db, r, scheduleId).then((res) => {
          if (res === 'rebuilt') counters.rebuilds++;
          if (res === 'present') counters.rebuildsSkipped++;
          if (res) known.add(scheduleId);
          return res !== null;
        }).finally(() => rebuilding.delete(scheduleId));
        rebuilding.set(scheduleId, p);
      }
      return p;
    };

    /** Runs a claim script, rebuilding the schedule once if its state is missing. null = no such schedule. */
    async function claim(scheduleId: number, script: Lua, ks: string[], args: (string | number)[]): Promise<unknown> {
      try {
        let res = await evalLua(r!, script, ks, args);
        if (res === -3) {
          if (!(await ensureSchedule(scheduleId))) return null;
          res = await evalLua(r!, script, ks, args);
        }
        if (res === -3) throw new RedisUnavailableError(new Error('its state vanished again during a rebuild'));
        return res;
      } catch (err) {
        if (err instanceof RedisUnavailableError) counters.redisUnavailable++;
        throw err;
      }
    }

    async function compensate(fn: () => Promise<unknown>): Promise<void> {
      try {
        await withRetries(fn, () => counters.compensationRetries++);
        counters.compensations++;
      } catch {
        // The claim stays behind; the reconciler (or a rebuild after a restart) gives it back.
        counters.compensationFailures++;
      }
    }

    async function releaseOne(it: ReleasedItem): Promise<void> {
      const k = keys(it.scheduleId);
      if (it.seatNo !== null) {
        try {
          await r!.hdel(k.claims, String(it.seatNo));
        } catch (err) {
          throw (err as Error)?.name === 'ReplyError' ? err : new RedisUnavailableError(err);
        }
      } else {
        await evalLua(r!, RETURN_TICKET, [k.marker, k.tickets, k.ticketClaims], ['']);
      }
    }

    async function reconcile(scheduleId: number): Promise<void> {
      const k = keys(scheduleId);
      const old = await evalLua(r!, OLD_CLAIMS, [k.marker, k.claims], [afterMs, cursors.get(scheduleId) ?? '0', batch]);
      if (old === -1) {
        cursors.delete(scheduleId);
        await ensureSchedule(scheduleId);
        return;
      }
      const [cursor, ...flat] = old as string[];
      cursors.set(scheduleId, String(cursor));
      const stamps = new Map<number, string>();
      for (let i = 0; i < flat.length; i += 2) if (/^\d+$/.test(flat[i]!)) stamps.set(Number(flat[i]), flat[i + 1]!);
      if (stamps.size > 0) {
        const free = (await db('seats').where({ schedule_id: scheduleId, status: 'AVAILABLE' })
          .whereIn('seat_no', [...stamps.keys()]).pluck('seat_no')) as number[];
        for (const seatNo of free) {
          if ((await evalLua(r!, RELEASE_CLAIM, [k.claims], [seatNo, stamps.get(seatNo)!])) === 1) counters.reconciledSeats++;
        }
      }
      const inv = await db('inventory').where({ schedule_id: scheduleId }).first('remaining');
      if (!inv) return;
      const [dropped, raised] = (await evalLua(r!, RAISE_TICKETS, [k.marker, k.tickets, k.ticketClaims], [inv.remaining, afterMs])) as [number, number];
      counters.reconciledTicketClaims += dropped;
      counters.ticketsRaised += raised;
    }

    return {
      async init() {
        for (const id of (await db('schedules').pluck('id')) as number[]) await ensureSchedule(id);
        if (intervalMs > 0) {
          stopReconciler = startPeriodic(async () => {
            let ok = true;
            for (const id of known) {
              await reconcile(id).catch(() => {
                counters.reconcileFailures++;
                ok = false;
              });
            }
            observe?.backgroundRun('reconciler', ok);
          }, { intervalMs });
        }
      },
      async hold(cmd): Promise<HoldOutcome> {
        const k = keys(cmd.scheduleId);
        const res = await claim(cmd.scheduleId, CLAIM_SEAT, [k.marker, k.claims], [cmd.seatNo]);
        if (res === null) return { kind: 'not-found' };
        if (res === -4) return (counters.dbAvoided++, { kind: 'not-found' });
        if (res === -1) {
          counters.dbAvoided++;
          counters.takenInRedis++;
          return { kind: 'taken', reason: 'seat is claimed (Redis)' };
        }
        const stamp = String(res as number); // the script's clock reading, an integer reply
        counters.dbWrites++;
        let h;
        try {
          // Only Redis winners get here, but a ticket write still queues on the one inventory row.
          h = await waitedFor(observe, () => writeHold(db, 'by-seat-no', cmd, { expectAvailable: true }));
        } catch (err) {
          await compensate(() => evalLua(r, RELEASE_CLAIM, [k.claims], [cmd.seatNo, stamp]));
          throw err;
        }
        if (h) return held(h);
        // Redis thought the seat free but PostgreSQL has it taken (Redis state was stale): the
        // claim now matches the database, so it stays.
        counters.dbDisagreed++;
        return { kind: 'taken', reason: 'seat is taken (database)' };
      },
      async holdTicket(cmd): Promise<HoldOutcome> {
        const k = keys(cmd.scheduleId);
        const id = `${instance}-${++nextClaim}`;
        const ks = [k.marker, k.tickets, k.ticketClaims];
        const res = await claim(cmd.scheduleId, CLAIM_TICKET, ks, [id]);
        if (res === null) return { kind: 'not-found' };
        if (res === -2) {
          counters.dbAvoided++;
          counters.soldOutInRedis++;
          return soldOut(0);
        }
        counters.dbWrites++;
        let h;
        try {
          h = await waitedFor(observe, () => writeTicket(db, cmd, { mode: 'decrement' }));
        } catch (err) {
          await compensate(() => evalLua(r, RETURN_TICKET, ks, [id]));
          throw err;
        }
        // The claim is settled either way. If it was refused, its decrement stays: Redis counted a
        // ticket PostgreSQL did not have, and this corrects it by one without overwriting anything.
        r.hdel(k.ticketClaims, id).catch(() => undefined);
        if (h) return held(h);
        counters.dbDisagreed++;
        return soldOut(0);
      },
      // Balances are per user (little contention), and a Redis copy would have to follow every
      // charge and refund: the database's conditional decrement guards them instead.
      async debit(trx, cmd) {
        const d = await waitedFor(observe, () => writeDebit(trx, cmd, { mode: 'conditional' }));
        if (d) return d;
        const exists = await trx('users').where({ id: cmd.userId }).first('id');
        return exists ? { kind: 'insufficient' } : { kind: 'not-found' };
      },
      // The database already put these back on sale, so this never throws: what cannot reach Redis
      // after the retries is counted and left to the reconciler.
      async released(items) {
        const results = await Promise.allSettled(items.map((it) => withRetries(() => releaseOne(it), () => counters.releaseRetries++)));
        counters.releaseFailures += results.filter((x) => x.status === 'rejected').length;
      },
      counters: () => ({ ...counters }),
      close: async () => {
        await stopReconciler();
      },
    };
  },
} satisfies SeatLockStrategy;
