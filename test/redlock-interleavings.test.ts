import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createDb } from '../src/db/knex.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { charge } from '../src/db/sql/balance.js';
import { checkSeats } from '../src/check/seats.js';
import { checkTickets } from '../src/check/tickets.js';
import { createRedisClient } from '../src/infra/redis-client.js';
import type { DebitOutcome, HoldOutcome } from '../src/core/ports.js';
import { redlock } from '../strategies/redlock.js';
import type { Dialect } from '../src/db/dialect.js';
import { rawRows } from '../src/db/dialect.js';
import { freshDatabaseOn, SECRET, STORES } from './helpers.js';

// Issue 8. A holder whose lease lapsed and a newer holder both read the same state under "the" lock;
// fencing alone only stops the stale one writing AFTER the newer one. Both orders are driven here
// step by step (no timing races): A reads and stalls past its lease, B takes the lock and reads,
// then either A writes first (stale-first) or B does (stale-last).

const LEASE_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const orders = ['stale-first', 'stale-last'] as const;
type Order = (typeof orders)[number];

/** A holder run up to its pause: `paused` gives its fencing token (or null if it answered without pausing). */
function pausable<T>(body: (pause: (token: number) => Promise<void>) => Promise<T>) {
  let reached!: (token: number) => void;
  let go!: () => void;
  const gate = new Promise<void>((r) => { go = r; });
  const atPause = new Promise<number>((r) => { reached = r; });
  const done = body((token) => { reached(token); return gate; });
  const paused = Promise.race([atPause, done.then(() => null)]);
  return { paused, resume: () => { go(); return done; } };
}

/** A reads and stalls past its lease; B locks and reads; then the two writes land in `order`. */
async function interleave<T>(order: Order, holder: (who: 'A' | 'B', pause: (token: number) => Promise<void>) => Promise<T>) {
  const a = pausable((p) => holder('A', p));
  const tokenA = await a.paused;
  await sleep(LEASE_MS + 150);
  const b = pausable((p) => holder('B', p));
  const tokenB = await b.paused;
  // Both really read under a lock they were granted, B with the newer token.
  expect(tokenA).not.toBeNull();
  expect(tokenB).toBeGreaterThan(tokenA!);
  if (order === 'stale-first') {
    const byA = await a.resume();
    return { byA, byB: await b.resume() };
  }
  const byB = await b.resume();
  return { byA: await a.resume(), byB };
}

async function lab(p: { store?: Dialect; seats: number; fencing?: 'on' | 'off'; workUnderLockMs?: number }) {
  const { url, db, name } = await freshDatabaseOn(p.store ?? 'pg');
  const schedule = await seedSchedule(db, { seats: p.seats });
  const [a, b] = await seedUsers(db, { count: 2, secret: SECRET });
  const appDb = createDb({ url, poolMax: 4 });
  const r = createRedisClient(inject('redisUrl'), `${name}:`);
  await r.connect();
  onTestFinished(async () => { r.disconnect(); await appDb.destroy(); });
  const runtime = redlock.create({ db: appDb, redis: [r] }, {
    lockTtlMs: String(LEASE_MS), retryCount: '0', waitRetryCount: '0', retryDelayMs: '10', retryJitterMs: '0',
    fencing: p.fencing ?? 'on', workUnderLockMs: String(p.workUnderLockMs ?? 0),
  });
  return { db, appDb, runtime, scheduleId: schedule.scheduleId, users: { A: a!.id, B: b!.id } };
}

const heldCount = (...os: HoldOutcome[]) => os.filter((o) => o.kind === 'held').length;

describe.each(STORES)('on %s', (store) => {
describe('redlock fencing: a seat, both orders of the two writes', () => {
  it.each(orders)('%s: exactly one HELD reservation', async (order) => {
    const { db, runtime, scheduleId, users } = await lab({ store, seats: 1 });
    const { byA, byB } = await interleave(order, async (who, pause) => {
      const c = await runtime.claimSeat({ userId: users[who], scheduleId, seatNo: 1, holdTtlMs: 60_000 });
      if ('kind' in c) return c;
      await pause(c.token);
      try {
        return await c.write();
      } finally {
        await c.release();
      }
    });
    const check = await checkSeats(db, { scheduleId, okResponses: heldCount(byA, byB), unknownResponses: 0 });
    expect(check.oversold).toBe(0);
    expect(check.violations).toEqual([]);
    // The first writer gets the seat; the second is told it is taken, whichever of them is stale.
    const [first, second] = order === 'stale-first' ? [byA, byB] : [byB, byA];
    expect(first.kind).toBe('held');
    expect(second.kind).toBe('taken');
    const counters = runtime.counters();
    expect(counters.leaseLost).toBe(1);
    expect(counters.fenceRejections).toBe(order === 'stale-last' ? 1 : 0);
    expect(counters.changedUnderLock).toBe(order === 'stale-first' ? 1 : 0);
  });
});

describe('redlock fencing: a general-admission inventory, both orders', () => {
  it.each(orders.flatMap((order) => [{ order, total: 3 }, { order, total: 1 }]))('$order with $total tickets: remaining + active tickets = total', async ({ order, total }) => {
    const { db, runtime, scheduleId, users } = await lab({ store, seats: total });
    const { byA, byB } = await interleave(order, async (who, pause) => {
      const c = await runtime.claimTicket({ userId: users[who], scheduleId, holdTtlMs: 60_000 });
      if ('kind' in c) return c;
      await pause(c.token);
      try {
        return await c.write();
      } finally {
        await c.release();
      }
    });
    const ok = heldCount(byA, byB);
    const check = await checkTickets(db, { scheduleId, okResponses: ok, unknownResponses: 0, demandExceedsSupply: false });
    expect(check.violations).toEqual([]);
    expect(check.remaining + check.activeReservations).toBe(total);
    // stale-first: both decrements land while tickets remain (the second one is refused at the last ticket);
    // stale-last: the stale holder is fenced off.
    const expected = order === 'stale-first' ? { A: 'held', B: total > 1 ? 'held' : 'sold-out' } : { A: 'busy', B: 'held' };
    expect({ A: byA.kind, B: byB.kind }).toEqual(expected);
  });
});

describe('redlock fencing: a balance debit, both orders', () => {
  it.each(orders.flatMap((order) => [{ order, amount: 30 }, { order, amount: 60 }]))('$order spending $amount of 100: balance = ledger, debits = points spent', async ({ order, amount }) => {
    const { db, appDb, runtime, users } = await lab({ store, seats: 1 });
    const payer = users.A;
    await charge(db, payer, 100);
    // Two payments of ONE user: the same balance lock, the same row.
    const { byA, byB } = await interleave(order, async (who, pause) => {
      const out = await runtime.aroundSpend!(payer, () => appDb.transaction(async (trx): Promise<DebitOutcome> => {
        const c = await runtime.claimDebit(trx, { userId: payer, amount, ref: `payment:${who}` });
        if ('kind' in c) return c;
        await pause(c.token);
        return c.write();
      }));
      return out ?? ({ kind: 'busy', reason: 'balance lock not acquired' } as DebitOutcome);
    });
    const [raw] = await rawRows<Record<string, unknown>>(db,
      `SELECT u.balance, (SELECT coalesce(sum(amount), 0) FROM balance_ledger WHERE user_id = u.id) AS ledger,
              (SELECT count(*) FROM balance_ledger WHERE user_id = u.id AND kind = 'SPEND') AS debits
         FROM users u WHERE u.id = ?`, [payer]);
    const row = { balance: Number(raw!.balance), ledger: Number(raw!.ledger), debits: Number(raw!.debits) };
    const debited = [byA, byB].filter((o) => o.kind === 'debited').length;
    expect(row.balance).toBe(row.ledger);
    expect(row.balance).toBeGreaterThanOrEqual(0);
    expect(row.debits).toBe(debited);
    expect(100 - row.balance).toBe(debited * amount);
    const expected = order === 'stale-first' ? { A: 'debited', B: amount * 2 <= 100 ? 'debited' : 'insufficient' } : { A: 'busy', B: 'debited' };
    expect({ A: byA.kind, B: byB.kind }).toEqual(expected);
  });
});

});

describe('redlock options', () => {
  it('workUnderLockMs puts the sleep between the read and the write: a lapsed lease then overlaps two holders, and fencing still sells the seat once', async () => {
    const { db, runtime, scheduleId, users } = await lab({ seats: 1, workUnderLockMs: 3 * LEASE_MS });
    const cmd = (userId: number) => ({ userId, scheduleId, seatNo: 1, holdTtlMs: 60_000 });
    const byA = runtime.hold(cmd(users.A));
    await sleep(LEASE_MS + 150); // A has read and is still "working" past its lease
    const byB = await runtime.hold(cmd(users.B)); // B reads AVAILABLE, then A writes during B's work
    const outcomes = [await byA, byB];
    expect(outcomes.map((o) => o.kind)).toEqual(['held', 'taken']);
    const check = await checkSeats(db, { scheduleId, okResponses: 1, unknownResponses: 0 });
    expect(check.violations).toEqual([]);
    expect(runtime.counters().changedUnderLock).toBe(1);
  });

  it('declares fencing off unsafe by design, fencing on not', () => {
    const defaults = Object.fromEntries(redlock.options.map((o) => [o.name, o.default]));
    expect(redlock.options.find((o) => o.name === 'workUnderLockMs')?.default).toBe('0');
    expect(redlock.unsafeWith(defaults)).toBeNull();
    expect(redlock.unsafeWith({ ...defaults, fencing: 'off' })).toMatch(/fencing/);
  });
});
