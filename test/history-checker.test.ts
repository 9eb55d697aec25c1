import { describe, expect, it } from 'vitest';
import type { HistoryOp } from '../src/load/history.js';
import { checkHistory, checkHistoryInDb, loadHistoryRows, type HistoryRows, type ReservationInterval, type UserMoney } from '../src/check/history.js';
import { checkSeats } from '../src/check/seats.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { holdSeat } from '../src/db/sql/seats.js';
import { sweepExpired } from '../src/core/expiry.js';
import { cancel } from '../src/core/payments.js';
import type { StrategyRuntime } from '../src/core/ports.js';
import { freshDatabase, SECRET } from './helpers.js';

// Crafted histories and rows for the pure checker, then the loader on a real database.
const T0 = 1_700_000_000_000_000; // µs since the epoch
const at = (s: number) => T0 + s * 1_000_000;

let nextId = 1;
function res(p: Partial<ReservationInterval> & { seatNo: number | null; from: number; to?: number | null; status?: string }): ReservationInterval {
  const endUs = p.to === undefined || p.to === null ? null : at(p.to);
  return { id: p.id ?? nextId++, userId: p.userId ?? 1, scheduleId: 1, seatNo: p.seatNo, status: p.status ?? (endUs === null ? 'HELD' : 'EXPIRED'), startUs: at(p.from), endUs };
}
const rows = (reservations: ReservationInterval[], extra: Partial<HistoryRows> = {}): HistoryRows => ({ scheduleId: 1, reservations, inventoryTotal: null, payments: [], ...extra });
let nextOp = 0;
const op = (p: Partial<HistoryOp>): HistoryOp => ({ index: nextOp++, process: 0, instance: 0, op: 'hold', invokeMs: 0, completeMs: 1, outcome: 'ok', status: 201, scheduleId: 1, ...p });
/** An acknowledged hold for each reservation, so only the rule under test speaks. */
const acks = (list: ReservationInterval[]) => list.map((r) => op({ op: r.seatNo === null ? 'hold-ticket' : 'hold', userId: r.userId, seatNo: r.seatNo, reservationId: r.id }));
const check = (list: ReservationInterval[], extra: Partial<HistoryRows> = {}, ops = acks(list)) => checkHistory(ops, rows(list, extra));

describe('seat-overlap', () => {
  it('finds a double-book whose first hold has since expired', () => {
    const a = res({ seatNo: 7, from: 0, to: 10, userId: 1 });
    const b = res({ seatNo: 7, from: 5, userId: 2 });
    const r = check([a, b]);
    expect(r.oversold).toBe(1);
    expect(r.violationCounts).toEqual({ 'seat-overlap': 1 });
    expect(r.violations[0]!.evidence).toMatchObject({ seatNo: 7, earlier: { reservationId: a.id, userId: 1, status: 'EXPIRED' }, later: { reservationId: b.id, userId: 2 } });
  });

  it('finds one whose both sides have ended, one of them cancelled', () => {
    const r = check([res({ seatNo: 1, from: 0, to: 10, status: 'CANCELLED' }), res({ seatNo: 1, from: 3, to: 8 })]);
    expect(r.oversold).toBe(1);
    expect(r.violationCounts).toEqual({ 'seat-overlap': 1 });
  });

  it('accepts back-to-back holds that touch, and catches one that begins a microsecond early', () => {
    const touching = [res({ seatNo: 1, from: 0, to: 10 }), res({ seatNo: 1, from: 10, to: 20, status: 'CANCELLED' }), res({ seatNo: 1, from: 20, status: 'CONFIRMED' })];
    expect(check(touching)).toMatchObject({ oversold: 0, violations: [] });
    const early = res({ seatNo: 2, from: 0, to: 10 });
    const next = { ...res({ seatNo: 2, from: 10 }), startUs: at(10) - 1 };
    expect(check([early, next]).oversold).toBe(1);
  });

  it('counts n − 1 for n duplicates that are still active, like the end-state checker', () => {
    const r = check([res({ seatNo: 3, from: 0 }), res({ seatNo: 3, from: 1, status: 'CONFIRMED' }), res({ seatNo: 3, from: 2 }), res({ seatNo: 4, from: 0 })]);
    expect(r.oversold).toBe(2);
    expect(r.violationCounts['seat-overlap']).toBe(2);
  });

  it('reports a row whose status disagrees with its interval', () => {
    const r = check([res({ seatNo: 1, from: 0, to: null, status: 'EXPIRED' })]);
    expect(r.violationCounts).toEqual({ 'interval-status-mismatch': 1 });
  });
});

describe('tickets-over-inventory', () => {
  it('finds too many tickets at one instant although the end state is within the inventory', () => {
    const list = [res({ seatNo: null, from: 0, to: 10 }), res({ seatNo: null, from: 1 }), res({ seatNo: null, from: 5, status: 'CONFIRMED' })];
    expect(list.filter((x) => x.endUs === null).length).toBeLessThanOrEqual(2);
    const r = check(list, { inventoryTotal: 2 });
    expect(r).toMatchObject({ oversold: 1, ticketOversold: 1, ticketPeak: { active: 3, atUs: at(5), total: 2 } });
    expect(r.violationCounts).toEqual({ 'tickets-over-inventory': 1 });
    expect((r.violations[0]!.evidence as { reservationIds: number[] }).reservationIds).toEqual(list.map((x) => x.id));
  });

  it('accepts a ticket resold the instant the previous one ended', () => {
    const r = check([res({ seatNo: null, from: 0, to: 10 }), res({ seatNo: null, from: 10 }), res({ seatNo: null, from: 1 })], { inventoryTotal: 2 });
    expect(r).toMatchObject({ oversold: 0, violations: [], ticketPeak: { active: 2 } });
  });
});

describe('lost-acknowledgement', () => {
  it('finds an acknowledged hold that is not in the database, or is stored for another seat', () => {
    const a = res({ seatNo: 1, from: 0 });
    const r = checkHistory([op({ userId: 1, seatNo: 1, reservationId: a.id }), op({ userId: 1, seatNo: 2, reservationId: 999 })], rows([a]));
    expect(r.lostAcks).toBe(1);
    expect(r.violations[0]).toMatchObject({ kind: 'lost-acknowledgement', evidence: { op: { reservationId: 999 } } });
    const moved = checkHistory([op({ userId: 1, seatNo: 5, reservationId: a.id })], rows([a]));
    expect(moved.lostAcks).toBe(1);
    expect(moved.violations[0]!.detail).toContain('seat 1, not 5');
  });

  it('finds an acknowledged payment that is not in the database', () => {
    const a = res({ seatNo: 1, from: 0, status: 'CONFIRMED' });
    const payments = [{ id: 50, reservationId: a.id, userId: 1, amount: 10 }];
    const ok = op({ op: 'pay', userId: 1, reservationId: a.id, paymentId: 50 });
    expect(checkHistory([...acks([a]), ok], rows([a], { payments })).violations).toEqual([]);
    const r = checkHistory([...acks([a]), ok, op({ op: 'pay', userId: 1, reservationId: a.id, paymentId: 51 })], rows([a], { payments }));
    expect(r.lostAcks).toBe(1);
  });
});

describe('unexplained-write', () => {
  it('finds a reservation nobody was told about and no unknown operation explains', () => {
    const a = res({ seatNo: 1, from: 0, to: 5 });
    const b = res({ seatNo: 1, from: 5, userId: 2 });
    const r = checkHistory([...acks([b]), op({ userId: 2, seatNo: 1, outcome: 'fail', status: 409, error: 'SEAT_TAKEN' })], rows([a, b]));
    expect(r).toMatchObject({ unexplainedWrites: 1, explainedByUnknown: 0, violationCounts: { 'unexplained-write': 1 } });
    expect(r.violations[0]!.evidence).toMatchObject({ id: a.id });
  });

  it('accepts a write explained by an unknown hold of the same user and seat, one write per operation', () => {
    const a = res({ seatNo: 1, from: 0, to: 5, userId: 3 });
    const timeout = op({ userId: 3, seatNo: 1, outcome: 'unknown', status: undefined, error: 'timeout' });
    expect(checkHistory([timeout], rows([a]))).toMatchObject({ violations: [], explainedByUnknown: 1, unknown: 1, unknownByError: { timeout: 1 } });
    const b = res({ seatNo: 1, from: 5, userId: 3 });
    expect(checkHistory([timeout], rows([a, b])).unexplainedWrites).toBe(1);
    // Another user's or another seat's unknown hold explains nothing.
    expect(checkHistory([{ ...timeout, userId: 4 }], rows([a])).unexplainedWrites).toBe(1);
    expect(checkHistory([{ ...timeout, seatNo: 2 }], rows([a])).unexplainedWrites).toBe(1);
  });

  it('keeps a wildcard operation for the write only it can explain; probes count as holds', () => {
    const a = res({ seatNo: 1, from: 0, userId: 3 });
    const b = res({ seatNo: 2, from: 0, userId: 3 });
    const c = res({ seatNo: null, from: 0, userId: 3 });
    const anySeat = op({ userId: 3, outcome: 'unknown', error: 'ECONNRESET' });
    const seat1 = op({ op: 'probe-hold', userId: 3, seatNo: 1, outcome: 'unknown', status: 503 });
    const ticket = op({ op: 'probe-ticket', outcome: 'unknown', error: 'timeout' });
    const r = checkHistory([anySeat, seat1, ticket], rows([a, b, c]));
    expect(r).toMatchObject({ violations: [], explainedByUnknown: 3, unknown: 3, unknownByError: { ECONNRESET: 1, 'HTTP 503': 1, timeout: 1 } });
  });

  it('accepts unknown operations that explain nothing, and leaves seeded rows alone', () => {
    const seeded = res({ seatNo: 1, from: 0 });
    const ops = [op({ userId: 9, seatNo: 4, outcome: 'unknown', error: 'timeout' }), op({ op: 'pay', outcome: 'unknown', error: 'timeout' })];
    expect(checkHistory(ops, rows([seeded]), { seededMaxReservationId: seeded.id })).toMatchObject({ violations: [], unknown: 2, explainedByUnknown: 0 });
  });
});

describe('balance of one user', () => {
  const money = (p: Partial<UserMoney>): UserMoney => ({ userId: 1, balance: 0, ledger: [], payments: [], ...p });
  const spend = (id: number, amount: number, rid: number) => ({ id, kind: 'SPEND', amount: -amount, ref: `reservation:${rid}` });
  const charge = (id: number, amount: number) => ({ id, kind: 'CHARGE', amount, ref: 'charge' });

  it('accepts a conserved history', () => {
    const m = money({ balance: 5, ledger: [charge(1, 10), spend(2, 5, 7)], payments: [{ id: 1, reservationId: 7, userId: 1, amount: 5 }] });
    expect(checkHistory([], rows([], { money: m }))).toMatchObject({ violations: [], overspent: 0 });
  });

  it('finds a running balance below zero, even when the end total is right', () => {
    const m = money({ balance: 5, ledger: [spend(1, 3, 7), spend(2, 2, 8), charge(3, 10)],
      payments: [{ id: 1, reservationId: 7, userId: 1, amount: 3 }, { id: 2, reservationId: 8, userId: 1, amount: 2 }] });
    const r = checkHistory([], rows([], { money: m }));
    expect(r).toMatchObject({ overspent: 5, oversold: 0, violationCounts: { 'negative-balance': 1 } });
    expect(r.violations[0]!.evidence).toMatchObject({ firstNegativeLedgerId: 1, lowest: { sum: -5, ledgerId: 2 } });
  });

  it('finds a balance that differs from its ledger, and SPEND rows that differ from payments', () => {
    const lostUpdate = money({ balance: 9, ledger: [charge(1, 10), spend(2, 1, 7), spend(3, 1, 8)],
      payments: [{ id: 1, reservationId: 7, userId: 1, amount: 1 }, { id: 2, reservationId: 8, userId: 1, amount: 1 }] });
    expect(checkHistory([], rows([], { money: lostUpdate })).violationCounts).toEqual({ 'balance-ledger-mismatch': 1 });
    const unpaid = money({ balance: 7, ledger: [charge(1, 10), spend(2, 3, 7)], payments: [{ id: 1, reservationId: 7, userId: 1, amount: 4 }, { id: 2, reservationId: 9, userId: 1, amount: 1 }] });
    expect(checkHistory([], rows([], { money: unpaid })).violationCounts).toEqual({ 'payments-ledger-mismatch': 2 });
  });
});

describe('on a real database', () => {
  it('the loader and checker find a seat double-booked while the first hold was active, though it has since expired', async () => {
    const { db } = await freshDatabase();
    const s = await seedSchedule(db, { seats: 3, price: 10 });
    const [a, b] = await seedUsers(db, { count: 2, secret: SECRET });
    const base = '2030-01-01T00:00:00Z';
    const insert = (userId: number, status: string, from: string, to: string | null) => db.raw(
      `INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at, created_at, ended_at)
       VALUES (?, ?, 1, ?, 10, now() + interval '1 hour', ?::timestamptz + ?::interval, ?::timestamptz + ?::interval) RETURNING id`,
      [userId, s.scheduleId, status, base, from, base, to]).then((x) => (x.rows[0] as { id: number }).id);
    const first = await insert(a!.id, 'EXPIRED', '0 s', '10 s');
    const second = await insert(b!.id, 'HELD', '5.0004 s', null);
    await db('seats').where({ schedule_id: s.scheduleId, seat_no: 1 }).update({ status: 'HELD', holder_user_id: b!.id });
    // The end-state checker sees one active reservation and nothing wrong.
    expect((await checkSeats(db, { scheduleId: s.scheduleId, okResponses: 2, unknownResponses: 0 })).oversold).toBe(0);
    const ops = [op({ scheduleId: s.scheduleId, userId: a!.id, seatNo: 1, reservationId: first }), op({ scheduleId: s.scheduleId, userId: b!.id, seatNo: 1, reservationId: second })];
    const r = await checkHistoryInDb(db, ops, { scheduleId: s.scheduleId });
    expect(r).toMatchObject({ oversold: 1, lostAcks: 0, unexplainedWrites: 0, violationCounts: { 'seat-overlap': 1 } });
    expect(r.violations[0]!.evidence).toMatchObject({ earlier: { reservationId: first }, later: { reservationId: second } });
    expect((r.violations[0]!.evidence as { later: { from: string } }).later.from).toBe('2030-01-01T00:00:05.000400Z');
  });

  it('hold → expire → re-hold → cancel → re-hold through the real SQL is not an overlap', async () => {
    const { db } = await freshDatabase();
    const s = await seedSchedule(db, { seats: 2, price: 10 });
    const [a, b, c] = await seedUsers(db, { count: 3, secret: SECRET, balance: 100 });
    const hold = async (userId: number, holdTtlMs: number) => {
      const id = (await holdSeat(db, { seat: { scheduleId: s.scheduleId, seatNo: 1 }, userId, holdTtlMs, expectAvailable: true }))!.id;
      return op({ scheduleId: s.scheduleId, userId, seatNo: 1, reservationId: id });
    };
    const ops = [await hold(a!.id, 1)];
    await new Promise((r) => setTimeout(r, 20));
    expect((await sweepExpired(db, 'test')).expired).toEqual([{ scheduleId: s.scheduleId, seatNo: 1 }]);
    ops.push(await hold(b!.id, 60_000));
    expect((await cancel(db, {} as StrategyRuntime, { userId: b!.id, reservationId: ops[1]!.reservationId! })).status).toBe(204);
    ops.push(await hold(c!.id, 60_000));
    // A seat taken while held writes nothing: a refused op, as the history would record it.
    expect(await holdSeat(db, { seat: { scheduleId: s.scheduleId, seatNo: 1 }, userId: a!.id, holdTtlMs: 60_000, expectAvailable: true })).toBeNull();
    ops.push(op({ scheduleId: s.scheduleId, userId: a!.id, seatNo: 1, outcome: 'fail', status: 409, error: 'SEAT_TAKEN' }));

    const loaded = await loadHistoryRows(db, { scheduleId: s.scheduleId, userId: a!.id });
    expect(loaded.reservations.map((r) => [r.status, r.endUs === null])).toEqual([['EXPIRED', false], ['CANCELLED', false], ['HELD', true]]);
    const [x, y, z] = loaded.reservations;
    expect(y!.startUs).toBeGreaterThanOrEqual(x!.endUs!);
    expect(z!.startUs).toBeGreaterThanOrEqual(y!.endUs!);
    expect(loaded.money).toMatchObject({ userId: a!.id, balance: 100 });
    const r = checkHistory(ops, { ...loaded, money: undefined });
    expect(r).toMatchObject({ oversold: 0, lostAcks: 0, unexplainedWrites: 0, violations: [] });
  });

  it('a hold whose transaction began before the cancel committed still starts after it (clock_timestamp, not now())', async () => {
    const { db } = await freshDatabase();
    const s = await seedSchedule(db, { seats: 1, price: 10 });
    const [a, b] = await seedUsers(db, { count: 2, secret: SECRET });
    const q = async (on: typeof db, userId: number) => (await holdSeat(on, { seat: { scheduleId: s.scheduleId, seatNo: 1 }, userId, holdTtlMs: 60_000, expectAvailable: true }))!.id;
    const first = await q(db, a!.id);
    const second = await db.transaction(async (trx) => {
      await trx.raw('SELECT 1'); // now() is fixed from here on
      await new Promise((r) => setTimeout(r, 5));
      expect((await cancel(db, {} as StrategyRuntime, { userId: a!.id, reservationId: first })).status).toBe(204);
      return q(trx, b!.id);
    });
    const ops = [op({ scheduleId: s.scheduleId, userId: a!.id, seatNo: 1, reservationId: first }), op({ scheduleId: s.scheduleId, userId: b!.id, seatNo: 1, reservationId: second })];
    expect(await checkHistoryInDb(db, ops, { scheduleId: s.scheduleId })).toMatchObject({ oversold: 0, violations: [] });
  });
});
