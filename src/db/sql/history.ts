import type { Dialect } from '../dialect.js';
import type { Sql } from './exec.js';

// What the history checker reads from the database. Times leave the store as whole microseconds
// since the epoch: a JS Date keeps milliseconds only, and two intervals 0.3 ms apart would seem to
// touch when they overlap. MySQL's DATETIME(6) holds UTC (the session time zone is +00:00).
const us = (d: Dialect, col: string) => (d === 'pg'
  ? `(extract(epoch FROM ${col}) * 1000000)::bigint`
  : `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${col})`);

/** Every reservation of one schedule with its active interval, any status. */
export function reservationIntervals(d: Dialect, scheduleId: number): Sql {
  return {
    sql: `SELECT id, user_id, schedule_id, seat_no, status, ${us(d, 'created_at')} AS start_us, ${us(d, 'ended_at')} AS end_us
            FROM reservations WHERE schedule_id = ? ORDER BY id`,
    bindings: [scheduleId],
  };
}

/** The general-admission inventory's size; no row when the schedule sells numbered seats only. */
export function inventoryTotal(scheduleId: number): Sql {
  return { sql: 'SELECT total FROM inventory WHERE schedule_id = ?', bindings: [scheduleId] };
}

/** Payments for the schedule's reservations. */
export function schedulePayments(scheduleId: number): Sql {
  return {
    sql: `SELECT p.id, p.reservation_id, p.user_id, p.amount FROM payments p JOIN reservations r ON r.id = p.reservation_id
           WHERE r.schedule_id = ? ORDER BY p.id`,
    bindings: [scheduleId],
  };
}

/** One user's balance, its whole ledger in id (= commit) order, and every payment of the user. */
export function userBalance(userId: number): Sql {
  return { sql: 'SELECT balance FROM users WHERE id = ?', bindings: [userId] };
}

export function userLedger(userId: number): Sql {
  return { sql: 'SELECT id, kind, amount, ref FROM balance_ledger WHERE user_id = ? ORDER BY id', bindings: [userId] };
}

export function userPayments(userId: number): Sql {
  return { sql: 'SELECT id, reservation_id, user_id, amount FROM payments WHERE user_id = ? ORDER BY id', bindings: [userId] };
}
