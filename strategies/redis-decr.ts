import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { HoldOutcome, SeatLockStrategy } from '../src/core/ports.js';
import { held, soldOut, writeDebit, writeHold, writeTicket } from './lib/shared.js';
import { redisPrecheckCeiling } from './lib/ceilings.js';

// An atomic Redis pre-check in front of PostgreSQL. One Lua script claims the seat (fails if
// claimed) and decrements the schedule's remaining count (fails at zero), so taken seats and
// sold-out schedules are answered without opening a database connection. Only a Redis winner
// writes to PostgreSQL; if that write fails, the claim and the count are given back.
// Redis state is rebuilt from PostgreSQL when the server starts (and for a schedule Redis does
// not know yet). PostgreSQL stays the source of truth: the seat write re-checks AVAILABLE.

const keys = (scheduleId: number) => {
  const tag = `seatlab:{s${scheduleId}}`;
  return { claimed: `${tag}:claimed`, remaining: `${tag}:remaining`, seatCount: `${tag}:seat-count`, tickets: `${tag}:tickets` };
};

const CLAIM_SEAT = `
local seatCount = tonumber(redis.call('GET', KEYS[3]))
if not seatCount then return -3 end
local n = tonumber(ARGV[1])
if n > seatCount then return -4 end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return -1 end
if tonumber(redis.call('GET', KEYS[2])) <= 0 then return -2 end
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('DECR', KEYS[2])`;

const RELEASE_SEAT = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then redis.call('INCR', KEYS[2]) return 1 end
return 0`;

const CLAIM_TICKET = `
local left = tonumber(redis.call('GET', KEYS[1]))
if not left then return -3 end
if left <= 0 then return -2 end
return redis.call('DECR', KEYS[1])`;

interface Scripts { claimSeat: string; releaseSeat: string; claimTicket: string }

/** Rebuilds one schedule's Redis state from PostgreSQL; null when the schedule does not exist. */
async function rebuild(db: Knex, r: Redis, scheduleId: number): Promise<boolean> {
  const sched = await db('schedules').where({ id: scheduleId }).first('seat_count');
  if (!sched) return false;
  const taken = (await db('seats').where({ schedule_id: scheduleId }).whereNot({ status: 'AVAILABLE' }).pluck('seat_no')) as number[];
  const inv = await db('inventory').where({ schedule_id: scheduleId }).first('remaining');
  const k = keys(scheduleId);
  const tx = r.multi().del(k.claimed, k.remaining, k.seatCount, k.tickets);
  for (let i = 0; i < taken.length; i += 1000) tx.sadd(k.claimed, ...taken.slice(i, i + 1000));
  tx.set(k.remaining, sched.seat_count - taken.length).set(k.tickets, inv?.remaining ?? 0).set(k.seatCount, sched.seat_count);
  await tx.exec();
  return true;
}

export const redisDecr = {
  name: 'redis-decr',
  description: 'atomic Redis pre-check (Lua: seat claim + remaining DECR), then the database write, compensated if it fails',
  safe: true,
  requires: { redis: true },
  ceiling: redisPrecheckCeiling,
  options: [],
  create({ db, redis }) {
    const r = redis[0];
    if (!r) throw new Error('redis-decr needs a Redis server');
    const counters = { dbAvoided: 0, takenInRedis: 0, soldOutInRedis: 0, dbWrites: 0, dbDisagreed: 0, compensations: 0, compensationFailures: 0, rebuilds: 0 };
    let scripts: Scripts | undefined;
    const rebuilding = new Map<number, Promise<boolean>>();

    const ensureSchedule = (scheduleId: number) => {
      let p = rebuilding.get(scheduleId);
      if (!p) {
        counters.rebuilds++;
        p = rebuild(db, r, scheduleId).finally(() => rebuilding.delete(scheduleId));
        rebuilding.set(scheduleId, p);
      }
      return p;
    };

    async function evalScript(sha: keyof Scripts, numKeys: number, args: (string | number)[]): Promise<number> {
      return (await r!.evalsha(scripts![sha], numKeys, ...args)) as number;
    }

    async function compensate(fn: () => Promise<unknown>): Promise<void> {
      try {
        await fn();
        counters.compensations++;
      } catch {
        counters.compensationFailures++;
      }
    }

    return {
      async init() {
        scripts = {
          claimSeat: (await r.script('LOAD', CLAIM_SEAT)) as string,
          releaseSeat: (await r.script('LOAD', RELEASE_SEAT)) as string,
          claimTicket: (await r.script('LOAD', CLAIM_TICKET)) as string,
        };
        for (const id of (await db('schedules').pluck('id')) as number[]) await ensureSchedule(id);
      },
      async hold(cmd): Promise<HoldOutcome> {
        const k = keys(cmd.scheduleId);
        let res = await evalScript('claimSeat', 3, [k.claimed, k.remaining, k.seatCount, cmd.seatNo]);
        if (res === -3) {
          if (!(await ensureSchedule(cmd.scheduleId))) return { kind: 'not-found' };
          res = await evalScript('claimSeat', 3, [k.claimed, k.remaining, k.seatCount, cmd.seatNo]);
        }
        if (res < 0) {
          counters.dbAvoided++;
          if (res === -4) return { kind: 'not-found' };
          if (res === -2) return (counters.soldOutInRedis++, soldOut(0));
          counters.takenInRedis++;
          return { kind: 'taken', reason: 'seat is claimed (Redis)' };
        }
        counters.dbWrites++;
        let h;
        try {
          h = await writeHold(db, 'by-seat-no', cmd, { expectAvailable: true });
        } catch (err) {
          await compensate(() => evalScript('releaseSeat', 2, [k.claimed, k.remaining, cmd.seatNo]));
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
        let res = await evalScript('claimTicket', 1, [k.tickets]);
        if (res === -3) {
          if (!(await ensureSchedule(cmd.scheduleId))) return { kind: 'not-found' };
          res = await evalScript('claimTicket', 1, [k.tickets]);
        }
        if (res < 0) {
          counters.dbAvoided++;
          counters.soldOutInRedis++;
          return soldOut(0);
        }
        counters.dbWrites++;
        let h;
        try {
          h = await writeTicket(db, cmd, { mode: 'decrement' });
        } catch (err) {
          await compensate(() => r.incr(k.tickets));
          throw err;
        }
        if (h) return held(h);
        counters.dbDisagreed++;
        await r.set(k.tickets, 0);
        return soldOut(0);
      },
      // Balances are per user (little contention), and a Redis copy would have to follow every
      // charge and refund: the database's conditional decrement guards them instead.
      async debit(trx, cmd) {
        const d = await writeDebit(trx, cmd, { mode: 'conditional' });
        if (d) return d;
        const exists = await trx('users').where({ id: cmd.userId }).first('id');
        return exists ? { kind: 'insufficient' } : { kind: 'not-found' };
      },
      async released(items) {
        for (const it of items) {
          const k = keys(it.scheduleId);
          if (it.seatNo === null) await r.incr(k.tickets);
          else await evalScript('releaseSeat', 2, [k.claimed, k.remaining, it.seatNo]);
        }
      },
      counters: () => ({ ...counters }),
      close: async () => {},
    };
  },
} satisfies SeatLockStrategy;
