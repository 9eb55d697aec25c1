import type { Knex } from 'knex';
import type { Violation } from '../../scenarios/types.js';
import type { HistoryOp, OpKind } from '../load/history.js';
import * as sql from '../db/sql/history.js';
import { dialect, rows as rowsOfSql, type Sql } from '../db/sql/exec.js';
import { dialectOf } from '../db/dialect.js';
import { ViolationLog } from './violations.js';
import { checkIntervalStatus, checkSeatOverlaps, checkTicketsOverInventory, type ReservationInterval, type TicketPeak } from './intervals.js';
import { checkUserMoney, type PaymentRow, type UserMoney } from './ledger.js';

export type { ReservationInterval, TicketPeak, PaymentRow, UserMoney };
export { isoUs } from './intervals.js';

// The checker in Jepsen's manner: the history of operations (what clients were told) read against
// the database (what happened). `checkHistory` is a pure function over plain data, so crafted
// histories test it; `loadHistoryRows` is the only part that touches PostgreSQL. An operation whose
// outcome is unknown may or may not have happened: either is accepted, but each unknown operation
// can account for one write at most.

/** The database's side, for one schedule (and, for balance runs, one user). */
export interface HistoryRows {
  scheduleId: number;
  /** Every reservation of the schedule, any status, with its active interval. */
  reservations: ReservationInterval[];
  /** inventory.total; null when the schedule has no general-admission inventory. */
  inventoryTotal: number | null;
  /** Payments for the schedule's reservations. */
  payments: PaymentRow[];
  /** One user's balance, ledger and payments, when the run was about money. */
  money?: UserMoney;
}

export interface HistoryCheckOptions {
  /** Reservations with an id up to this were written by the scenario's seed, not by an operation. */
  seededMaxReservationId?: number;
  /**
   * false: there is no history (bench check without --history), so only the database's own
   * invariants are checked (intervals, overlaps, tickets over inventory, money); acknowledgements
   * and unexplained writes need the operations.
   */
  opsKnown?: boolean;
}

export interface HistoryCheckResult {
  /** Seat overlaps plus the worst excess of tickets over the inventory. */
  oversold: number;
  seatOversold: number;
  ticketOversold: number;
  /** The instant the most tickets were active at once; null without tickets. */
  ticketPeak: TicketPeak | null;
  /** Operations whose outcome is unknown, in all and by what went wrong. */
  unknown: number;
  unknownByError: Record<string, number>;
  /** Acknowledged operations whose write is missing or different in the database. */
  lostAcks: number;
  /** Reservations no acknowledged or unknown operation accounts for. */
  unexplainedWrites: number;
  /** Reservations nobody was told about, each accounted for by an unknown operation. */
  explainedByUnknown: number;
  /** How far below zero the user's running balance went (0 without `money`). */
  overspent: number;
  violations: Violation[];
  violationCounts: Record<string, number>;
}

/** Operations that may create a reservation; probes are holds sent to measure, and write like them. */
const HOLDS = new Set<OpKind>(['hold', 'hold-ticket', 'probe-hold', 'probe-ticket']);
const TICKETS = new Set<OpKind>(['hold-ticket', 'probe-ticket']);

export function checkHistory(ops: Iterable<HistoryOp>, rows: HistoryRows, opts: HistoryCheckOptions = {}): HistoryCheckResult {
  const log = new ViolationLog();
  // An operation without a scheduleId is taken to be for this schedule: a run sells one schedule.
  // Read as a filter over the history rather than a copy of it: a history can hold millions of operations.
  const mine = { *[Symbol.iterator]() { for (const op of ops) if (op.scheduleId === undefined || op.scheduleId === rows.scheduleId) yield op; } };

  checkIntervalStatus(log, rows.reservations);
  const seatOversold = checkSeatOverlaps(log, rows.reservations);
  const tickets = rows.inventoryTotal === null ? { oversold: 0, peak: null } : checkTicketsOverInventory(log, rows.reservations, rows.inventoryTotal);
  const known = opts.opsKnown !== false;
  const { lostAcks, acked } = known ? checkAcknowledged(log, mine, rows) : { lostAcks: 0, acked: new Set<number>() };
  const writes = known ? explainWrites(log, mine, rows, acked, opts.seededMaxReservationId ?? 0) : { explained: 0, unexplained: 0 };
  const money = rows.money ? checkUserMoney(log, rows.money) : { overspent: 0 };

  const unknownByError: Record<string, number> = {};
  let unknown = 0;
  for (const op of ops) {
    if (op.outcome !== 'unknown') continue;
    unknown++;
    const why = op.error ?? (op.status !== undefined ? `HTTP ${op.status}` : 'no answer');
    unknownByError[why] = (unknownByError[why] ?? 0) + 1;
  }
  return {
    oversold: seatOversold + tickets.oversold, seatOversold, ticketOversold: tickets.oversold, ticketPeak: tickets.peak,
    unknown, unknownByError, lostAcks, unexplainedWrites: writes.unexplained, explainedByUnknown: writes.explained,
    overspent: money.overspent, violations: log.violations, violationCounts: log.counts,
  };
}

/** Every acknowledged hold is in the database as it was acknowledged; every acknowledged payment exists. */
function checkAcknowledged(log: ViolationLog, ops: Iterable<HistoryOp>, rows: HistoryRows): { lostAcks: number; acked: Set<number> } {
  const reservations = new Map(rows.reservations.map((r) => [r.id, r]));
  const payments = new Map(rows.payments.map((p) => [p.id, p]));
  const acked = new Set<number>();
  let lostAcks = 0;
  const lost = (op: HistoryOp, detail: string, stored?: unknown) => {
    lostAcks++;
    log.add({ kind: 'lost-acknowledgement', detail: `op ${op.index} (${op.op}, process ${op.process}): ${detail}`, evidence: { op, stored } });
  };
  for (const op of ops) {
    if (op.outcome !== 'ok') continue;
    if (HOLDS.has(op.op) && op.reservationId !== undefined) {
      acked.add(op.reservationId);
      const r = reservations.get(op.reservationId);
      if (!r) { lost(op, `acknowledged reservation ${op.reservationId} is not in the database`); continue; }
      const diffs: string[] = [];
      if (op.userId !== undefined && op.userId !== r.userId) diffs.push(`user ${r.userId}, not ${op.userId}`);
      if (op.seatNo !== undefined && (op.seatNo ?? null) !== r.seatNo) diffs.push(`seat ${r.seatNo}, not ${op.seatNo}`);
      if (diffs.length > 0) lost(op, `reservation ${r.id} is stored with ${diffs.join(' and ')}`, r);
    } else if (op.op === 'pay' && op.paymentId !== undefined) {
      const p = payments.get(op.paymentId);
      if (!p) { lost(op, `acknowledged payment ${op.paymentId} is not in the database`); continue; }
      const diffs: string[] = [];
      if (op.reservationId !== undefined && op.reservationId !== p.reservationId) diffs.push(`reservation ${p.reservationId}, not ${op.reservationId}`);
      if (op.userId !== undefined && op.userId !== p.userId) diffs.push(`user ${p.userId}, not ${op.userId}`);
      if (diffs.length > 0) lost(op, `payment ${p.id} is stored for ${diffs.join(' and ')}`, p);
    }
  }
  return { lostAcks, acked };
}

/**
 * A reservation nobody was told about must have come from an unknown hold of the same user (and
 * seat). Matching is greedy, in reservation id order, but tries the most specific operations first
 * (same user and seat, then an unknown seat, then an unknown user), so a wildcard operation is kept
 * for the writes only it can explain. Greedy can still, rarely, spend a wildcard operation that a
 * later write needed; a full bipartite matching would not, and has not been worth it so far.
 */
function explainWrites(log: ViolationLog, ops: Iterable<HistoryOp>, rows: HistoryRows, acked: Set<number>, seededMax: number): { explained: number; unexplained: number } {
  const pool = new Map<string, HistoryOp[]>();
  const key = (user: number | '*', seat: number | null | '*') => `${user}|${seat}`;
  for (const op of ops) {
    if (op.outcome !== 'unknown' || !HOLDS.has(op.op)) continue;
    const seat = op.seatNo !== undefined ? op.seatNo : TICKETS.has(op.op) ? null : '*';
    const k = key(op.userId ?? '*', seat);
    (pool.get(k) ?? pool.set(k, []).get(k)!).push(op);
  }
  let explained = 0;
  let unexplained = 0;
  for (const r of [...rows.reservations].sort((a, b) => a.id - b.id)) {
    if (acked.has(r.id) || r.id <= seededMax) continue;
    // A hold of unknown seat number still asked for a numbered seat, never for a ticket.
    const keys = r.seatNo === null ? [key(r.userId, null), key('*', null)]
      : [key(r.userId, r.seatNo), key(r.userId, '*'), key('*', r.seatNo), key('*', '*')];
    const bucket = keys.map((k) => pool.get(k)).find((b) => b !== undefined && b.length > 0);
    if (bucket) { bucket.shift(); explained++; continue; }
    unexplained++;
    log.add({
      kind: 'unexplained-write',
      detail: `reservation ${r.id} (user ${r.userId}, ${r.seatNo === null ? 'a ticket' : `seat ${r.seatNo}`}, ${r.status}) was acknowledged to nobody and no unknown hold is left to explain it`,
      evidence: r,
    });
  }
  return { explained, unexplained };
}

/**
 * Reads what `checkHistory` needs for one schedule and, for balance runs, one user, from one
 * snapshot: a sweeper still running must not move a row between two of the reads.
 */
export async function loadHistoryRows(db: Knex, p: { scheduleId: number; userId?: number }): Promise<HistoryRows> {
  // MariaDB refuses knex's "SET TRANSACTION ISOLATION LEVEL … READ ONLY"; there the snapshot
  // alone (REPEATABLE READ) is asked for. Nothing here writes either way.
  return db.transaction((trx) => readRows(trx, p), dialectOf(db) === 'pg' ? { isolationLevel: 'repeatable read', readOnly: true } : { isolationLevel: 'repeatable read' });
}

async function readRows(db: Knex.Transaction, p: { scheduleId: number; userId?: number }): Promise<HistoryRows> {
  const rowsOf = <T>(s: Sql) => rowsOfSql<T>(db, s);
  type R = { id: number; user_id: number; schedule_id: number; seat_no: number | null; status: string; start_us: number; end_us: number | null };
  type P = { id: number; reservation_id: number; user_id: number; amount: number };
  const payment = (x: P): PaymentRow => ({ id: x.id, reservationId: x.reservation_id, userId: x.user_id, amount: x.amount });
  const reservations = (await rowsOf<R>(sql.reservationIntervals(dialect(db), p.scheduleId))).map((x): ReservationInterval => ({
    id: x.id, userId: x.user_id, scheduleId: x.schedule_id, seatNo: x.seat_no, status: x.status, startUs: x.start_us, endUs: x.end_us,
  }));
  const [inv] = await rowsOf<{ total: number }>(sql.inventoryTotal(p.scheduleId));
  const payments = (await rowsOf<P>(sql.schedulePayments(p.scheduleId))).map(payment);
  const rows: HistoryRows = { scheduleId: p.scheduleId, reservations, inventoryTotal: inv?.total ?? null, payments };
  if (p.userId !== undefined) {
    const [u] = await rowsOf<{ balance: number }>(sql.userBalance(p.userId));
    if (!u) throw new Error(`user ${p.userId} not found while loading the history checker's rows`);
    const ledger = await rowsOf<UserMoney['ledger'][number]>(sql.userLedger(p.userId));
    rows.money = { userId: p.userId, balance: u.balance, ledger, payments: (await rowsOf<P>(sql.userPayments(p.userId))).map(payment) };
  }
  return rows;
}

/** Loader and checker together, for a caller that has the history and a database. */
export async function checkHistoryInDb(db: Knex, ops: Iterable<HistoryOp>, p: { scheduleId: number; userId?: number } & HistoryCheckOptions): Promise<HistoryCheckResult> {
  return checkHistory(ops, await loadHistoryRows(db, p), p);
}
