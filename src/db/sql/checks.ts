// What the checkers read after a run. Counts come back as numbers on both stores (COUNT is BIGINT
// on both; PostgreSQL's SUM is NUMERIC and arrives as text, hence the Number()s).
import { dialect, rows, type Q } from './exec.js';

const list = (v: unknown): number[] => (Array.isArray(v) ? v.map(Number) : String(v).split(',').map(Number));

/** Seats with more than one active reservation: each extra one is an oversold seat. */
export async function activeDuplicateSeats(q: Q, scheduleId: number): Promise<{ seat_no: number; ids: number[]; users: number[]; n: number }[]> {
  const agg = dialect(q) === 'pg'
    ? 'array_agg(id ORDER BY id) AS ids, array_agg(user_id ORDER BY id) AS users'
    : 'GROUP_CONCAT(id ORDER BY id) AS ids, GROUP_CONCAT(user_id ORDER BY id) AS users';
  const res = await rows<{ seat_no: number; ids: unknown; users: unknown; n: number }>(q, {
    sql: `SELECT seat_no, ${agg}, count(*) AS n
            FROM reservations WHERE schedule_id = ? AND seat_no IS NOT NULL AND status IN ('HELD', 'CONFIRMED')
           GROUP BY seat_no HAVING count(*) > 1 ORDER BY seat_no`,
    bindings: [scheduleId],
  });
  return res.map((r) => ({ seat_no: r.seat_no, ids: list(r.ids), users: list(r.users), n: Number(r.n) }));
}

export async function seatCapacity(q: Q, scheduleId: number): Promise<{ capacity: number; taken: number; active: number } | undefined> {
  const [r] = await rows<{ capacity: number; taken: number; active: number }>(q, {
    sql: `SELECT s.seat_count AS capacity,
                 (SELECT count(*) FROM seats WHERE schedule_id = s.id AND status <> 'AVAILABLE') AS taken,
                 (SELECT count(*) FROM reservations WHERE schedule_id = s.id AND status IN ('HELD', 'CONFIRMED')) AS active
            FROM schedules s WHERE s.id = ?`,
    bindings: [scheduleId],
  });
  return r && { capacity: Number(r.capacity), taken: Number(r.taken), active: Number(r.active) };
}

/** Seats HELD or SOLD with no matching active reservation of their holder. */
export function seatsWithoutReservation(q: Q, scheduleId: number): Promise<{ seat_no: number; status: string; holder_user_id: number | null }[]> {
  return rows(q, {
    sql: `SELECT st.seat_no, st.status, st.holder_user_id FROM seats st
           WHERE st.schedule_id = ? AND st.status <> 'AVAILABLE'
             AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.schedule_id = st.schedule_id AND r.seat_no = st.seat_no
                               AND r.status IN ('HELD', 'CONFIRMED') AND r.user_id = st.holder_user_id)
           ORDER BY st.seat_no`,
    bindings: [scheduleId],
  });
}

/** Active reservations whose seat is AVAILABLE or held by somebody else. */
export function reservationsSeatMismatch(q: Q, scheduleId: number): Promise<{ id: number; seat_no: number; user_id: number; seat_status: string; holder_user_id: number | null }[]> {
  const differs = dialect(q) === 'pg' ? 'st.holder_user_id IS DISTINCT FROM r.user_id' : 'NOT (st.holder_user_id <=> r.user_id)';
  return rows(q, {
    sql: `SELECT r.id, r.seat_no, r.user_id, st.status AS seat_status, st.holder_user_id FROM reservations r
            JOIN seats st ON st.schedule_id = r.schedule_id AND st.seat_no = r.seat_no
           WHERE r.schedule_id = ? AND r.status IN ('HELD', 'CONFIRMED') AND (st.status = 'AVAILABLE' OR ${differs})
           ORDER BY r.id`,
    bindings: [scheduleId],
  });
}

/** Reservations of the schedule that ended EXPIRED or CANCELLED: each put its seat or ticket back on sale. */
export async function returnedToSale(q: Q, scheduleId: number, kind: 'seats' | 'tickets'): Promise<number> {
  const [r] = await rows<{ n: number }>(q, {
    sql: `SELECT count(*) AS n FROM reservations WHERE schedule_id = ? AND status IN ('EXPIRED', 'CANCELLED') AND seat_no IS ${kind === 'seats' ? 'NOT ' : ''}NULL`, bindings: [scheduleId],
  });
  return Number(r!.n);
}

/** Reservations ever written for the schedule: numbered seats, or general-admission tickets. */
export async function reservationsCreated(q: Q, scheduleId: number, kind: 'seats' | 'tickets'): Promise<number> {
  const [r] = await rows<{ n: number }>(q, {
    sql: `SELECT count(*) AS n FROM reservations WHERE schedule_id = ? AND seat_no IS ${kind === 'seats' ? 'NOT ' : ''}NULL`, bindings: [scheduleId],
  });
  return Number(r!.n);
}

/** General admission: tickets active (HELD or CONFIRMED) and ever created. */
export async function ticketCounts(q: Q, scheduleId: number): Promise<{ sold: number; created: number }> {
  const [r] = await rows<{ sold: number; created: number }>(q, {
    sql: `SELECT coalesce(sum(CASE WHEN status IN ('HELD', 'CONFIRMED') THEN 1 ELSE 0 END), 0) AS sold, count(*) AS created
            FROM reservations WHERE schedule_id = ? AND seat_no IS NULL`,
    bindings: [scheduleId],
  });
  return { sold: Number(r!.sold), created: Number(r!.created) };
}

/** Users whose balance differs from their ledger's sum, or is negative. */
export async function balanceLedgerMismatches(q: Q): Promise<{ id: number; balance: number; ledger: number }[]> {
  const res = await rows<{ id: number; balance: number; ledger: number }>(q, {
    sql: `SELECT u.id, u.balance, coalesce(sum(l.amount), 0) AS ledger FROM users u LEFT JOIN balance_ledger l ON l.user_id = u.id
           GROUP BY u.id, u.balance HAVING u.balance <> coalesce(sum(l.amount), 0) OR u.balance < 0 ORDER BY u.id`,
    bindings: [],
  });
  return res.map((r) => ({ id: r.id, balance: Number(r.balance), ledger: Number(r.ledger) }));
}

/** Reservations of the schedule whose payments are not exactly one when CONFIRMED, or none otherwise. */
export async function paymentMismatches(q: Q, scheduleId: number): Promise<{ id: number; payments: number }[]> {
  const res = await rows<{ id: number; payments: number }>(q, {
    sql: `SELECT r.id, count(p.id) AS payments FROM reservations r LEFT JOIN payments p ON p.reservation_id = r.id
           WHERE r.schedule_id = ? GROUP BY r.id, r.status
          HAVING (r.status = 'CONFIRMED' AND count(p.id) <> 1) OR (r.status <> 'CONFIRMED' AND count(p.id) > 0)`,
    bindings: [scheduleId],
  });
  return res.map((r) => ({ id: r.id, payments: Number(r.payments) }));
}

export function confirmedSeatsNotSold(q: Q, scheduleId: number): Promise<{ seat_no: number; status: string }[]> {
  return rows(q, {
    sql: `SELECT st.seat_no, st.status FROM reservations r JOIN seats st ON st.schedule_id = r.schedule_id AND st.seat_no = r.seat_no
           WHERE r.schedule_id = ? AND r.status = 'CONFIRMED' AND (st.status <> 'SOLD' OR st.holder_user_id <> r.user_id)`,
    bindings: [scheduleId],
  });
}

/** Money totals: paid, debited by the ledger, ever charged, and the schedule's confirmed reservations. */
export async function moneyTotals(q: Q, scheduleId: number): Promise<{ paid: number; debited: number; charged: number; confirmed: number }> {
  const [m] = await rows<Record<string, unknown>>(q, {
    sql: `SELECT (SELECT coalesce(sum(amount), 0) FROM payments) AS paid,
                 (SELECT coalesce(-sum(amount), 0) FROM balance_ledger WHERE kind = 'SPEND') AS debited,
                 (SELECT coalesce(sum(amount), 0) FROM balance_ledger WHERE kind IN ('CHARGE', 'REFUND')) AS charged,
                 (SELECT count(*) FROM reservations WHERE schedule_id = ? AND status = 'CONFIRMED') AS confirmed`,
    bindings: [scheduleId],
  });
  return { paid: Number(m!.paid), debited: Number(m!.debited), charged: Number(m!.charged), confirmed: Number(m!.confirmed) };
}

/** Reservations that ended CONFIRMED or EXPIRED (each must have its event in the stream). */
export function endedReservations(q: Q, scheduleId: number): Promise<{ id: number; status: string }[]> {
  return rows(q, { sql: `SELECT id, status FROM reservations WHERE schedule_id = ? AND status IN ('CONFIRMED', 'EXPIRED')`, bindings: [scheduleId] });
}

export async function heldCount(q: Q, scheduleId: number): Promise<number> {
  const [r] = await rows<{ n: number }>(q, { sql: `SELECT count(*) AS n FROM reservations WHERE schedule_id = ? AND status = 'HELD'`, bindings: [scheduleId] });
  return Number(r!.n);
}

/** Seats whose hold expired and that were reserved again afterwards. */
export async function resoldSeats(q: Q, scheduleId: number): Promise<number> {
  const [r] = await rows<{ n: number }>(q, {
    sql: `SELECT count(DISTINCT e.seat_no) AS n FROM reservations e JOIN reservations l
              ON l.schedule_id = e.schedule_id AND l.seat_no = e.seat_no AND l.id > e.id
           WHERE e.schedule_id = ? AND e.status = 'EXPIRED'`,
    bindings: [scheduleId],
  });
  return Number(r!.n);
}
