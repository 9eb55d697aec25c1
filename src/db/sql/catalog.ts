// Catalogue statements: users, concerts, schedules, seat maps, and the seed's bulk inserts.
import { affected, atomic, dialect, insertId, rows, type Q } from './exec.js';

/** Inserts one row and returns its id (RETURNING on PostgreSQL, the AUTO_INCREMENT id on MySQL). */
export async function insertReturningId(q: Q, table: 'users' | 'concerts' | 'schedules', values: Record<string, string | number | Date>): Promise<number> {
  const cols = Object.keys(values);
  const sql = `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`;
  const bindings = Object.values(values);
  if (dialect(q) === 'mysql') return insertId(q, { sql, bindings });
  const [row] = await rows<{ id: number }>(q, { sql: `${sql} RETURNING id`, bindings });
  return row!.id;
}

export async function userExists(q: Q, userId: number): Promise<boolean> {
  return (await rows(q, { sql: 'SELECT id FROM users WHERE id = ?', bindings: [userId] })).length > 0;
}

export interface ConcertScheduleRow { concert_id: number; name: string; id: number | null; starts_at: Date; seat_count: number; price: number; available: number }

export async function concertsWithSchedules(q: Q): Promise<ConcertScheduleRow[]> {
  const list = await rows<ConcertScheduleRow>(q, {
    sql: `SELECT c.id AS concert_id, c.name, s.id, s.starts_at, s.seat_count, s.price,
                 (SELECT count(*) FROM seats x WHERE x.schedule_id = s.id AND x.status = 'AVAILABLE') AS available
            FROM concerts c LEFT JOIN schedules s ON s.concert_id = c.id
           ORDER BY c.id, s.starts_at, s.id`,
    bindings: [],
  });
  return list.map((r) => ({ ...r, available: Number(r.available) }));
}

/**
 * The seat map as JSON text `[{"seatNo","status"}…]`, or null when the schedule does not exist.
 * PostgreSQL builds the JSON: a seat map is read by every buyer, and serialising it in the one
 * server event loop was the largest cost of a journey. MySQL 8 cannot order JSON_ARRAYAGG, so
 * there the rows come back and are serialised here.
 */
export async function seatMapJson(q: Q, scheduleId: number): Promise<string | null> {
  if (dialect(q) === 'pg') {
    const [row] = await rows<{ seats: string }>(q, {
      sql: `SELECT (SELECT coalesce(json_agg(json_build_object('seatNo', seat_no, 'status', status) ORDER BY seat_no), '[]'::json)::text
                      FROM seats WHERE schedule_id = s.id) AS seats
              FROM schedules s WHERE s.id = ?`,
      bindings: [scheduleId],
    });
    return row?.seats ?? null;
  }
  const found = await rows(q, { sql: 'SELECT id FROM schedules WHERE id = ?', bindings: [scheduleId] });
  if (found.length === 0) return null;
  const seats = await rows<{ seatNo: number; status: string }>(q, {
    sql: 'SELECT seat_no AS seatNo, status FROM seats WHERE schedule_id = ? ORDER BY seat_no', bindings: [scheduleId],
  });
  return JSON.stringify(seats);
}

/** Seats 1..n of a schedule. */
export async function insertSeats(q: Q, scheduleId: number, n: number): Promise<void> {
  if (dialect(q) === 'pg') {
    await affected(q, { sql: 'INSERT INTO seats (schedule_id, seat_no) SELECT ?, g FROM generate_series(1, ?::int) g', bindings: [scheduleId, n] });
    return;
  }
  for (let from = 1; from <= n; from += CHUNK) {
    const to = Math.min(n, from + CHUNK - 1);
    const nos = Array.from({ length: to - from + 1 }, (_, i) => from + i);
    await affected(q, { sql: `INSERT INTO seats (schedule_id, seat_no) VALUES ${nos.map(() => '(?, ?)').join(', ')}`, bindings: nos.flatMap((no) => [scheduleId, no]) });
  }
}

const CHUNK = 5000;

/** n users named prefix1..prefixN with one balance; their ids in ascending order. */
export async function insertUsers(q: Q, p: { count: number; prefix: string; balance: number }): Promise<number[]> {
  if (dialect(q) === 'pg') {
    const res = await rows<{ id: number }>(q, {
      sql: `INSERT INTO users (name, balance) SELECT ? || g, ? FROM generate_series(1, ?::int) g RETURNING id`,
      bindings: [p.prefix, p.balance, p.count],
    });
    return res.map((r) => r.id).sort((a, b) => a - b);
  }
  // A multi-row INSERT is a "simple insert": InnoDB gives it consecutive AUTO_INCREMENT ids in every
  // lock mode, starting at the insertId it reports; the count read back checks that.
  return atomic(q, async (trx) => {
    const ids: number[] = [];
    for (let from = 1; from <= p.count; from += CHUNK) {
      const to = Math.min(p.count, from + CHUNK - 1);
      const names = Array.from({ length: to - from + 1 }, (_, i) => `${p.prefix}${from + i}`);
      const first = await insertId(trx, { sql: `INSERT INTO users (name, balance) VALUES ${names.map(() => '(?, ?)').join(', ')}`, bindings: names.flatMap((n) => [n, p.balance]) });
      const got = await rows<{ id: number }>(trx, { sql: 'SELECT id FROM users WHERE id >= ? AND id < ? ORDER BY id', bindings: [first, first + names.length] });
      if (got.length !== names.length) throw new Error(`expected ${names.length} consecutive user ids from ${first}, found ${got.length}`);
      ids.push(...got.map((r) => r.id));
    }
    return ids;
  });
}

/** Seats 1..count of a schedule HELD by one user with a reservation each, an hour to run (the balance-spend seed). */
export async function insertHeldReservations(q: Q, p: { userId: number; scheduleId: number; count: number; amount: number }): Promise<number[]> {
  const until = new Date(Date.now() + 3600_000);
  return atomic(q, async (trx) => {
    await affected(trx, { sql: `UPDATE seats SET status = 'HELD', holder_user_id = ?, hold_expires_at = ? WHERE schedule_id = ? AND seat_no <= ?`, bindings: [p.userId, until, p.scheduleId, p.count] });
    if (dialect(trx) === 'pg') {
      const res = await rows<{ id: number }>(trx, {
        sql: `INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at)
              SELECT ?, ?, g, 'HELD', ?, ? FROM generate_series(1, ?::int) g RETURNING id`,
        bindings: [p.userId, p.scheduleId, p.amount, until, p.count],
      });
      return res.map((r) => r.id).sort((a, b) => a - b);
    }
    const nos = Array.from({ length: p.count }, (_, i) => i + 1);
    const first = await insertId(trx, {
      sql: `INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at) VALUES ${nos.map(() => `(?, ?, ?, 'HELD', ?, ?)`).join(', ')}`,
      bindings: nos.flatMap((no) => [p.userId, p.scheduleId, no, p.amount, until]),
    });
    return (await rows<{ id: number }>(trx, { sql: 'SELECT id FROM reservations WHERE id >= ? AND id < ? ORDER BY id', bindings: [first, first + p.count] })).map((r) => r.id);
  });
}

/** A CHARGE ledger row for every user's current balance (the journey seed's opening balances). */
export async function ledgerOpeningBalances(q: Q): Promise<void> {
  await affected(q, { sql: `INSERT INTO balance_ledger (user_id, kind, amount, ref) SELECT id, 'CHARGE', balance, 'seed' FROM users`, bindings: [] });
}
