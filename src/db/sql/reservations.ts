// Reservation statements: the payment's writes, idempotency keys, and ending holds (cancel and the
// expiry sweep share one statement), plus the single-leader lock of the sweeper and the relay.
import type { Knex } from 'knex';
import { affected, atomic, dialect, jsonValue, multi, rows, type Q } from './exec.js';
import { dbErrorKind } from '../errors.js';

export interface ReservationRow {
  id: number; user_id: number; schedule_id: number; seat_no: number | null; status: string; amount: number; expired: boolean | number;
}

/** The reservation, row-locked for the rest of the transaction, with whether its hold time has passed. */
export async function lockReservation(trx: Q, id: number): Promise<ReservationRow | undefined> {
  const now = dialect(trx) === 'pg' ? 'now()' : 'NOW(6)';
  const [row] = await rows<ReservationRow>(trx, {
    sql: `SELECT id, user_id, schedule_id, seat_no, status, amount, expires_at <= ${now} AS expired FROM reservations WHERE id = ? FOR UPDATE`,
    bindings: [id],
  });
  return row;
}

export interface StoredKey { user_id: number; request_hash: string; response_status: number | null; response_body: Record<string, unknown> | null }

/**
 * Claims an Idempotency-Key for this transaction: true when this request is its first. A concurrent
 * request with the same key waits on the key's row until the first commits (then it is not the
 * first) or rolls back (then it is). MySQL: a plain INSERT whose duplicate-key error (1062) means
 * "not the first" — an error there ends the statement, not the transaction. Neither INSERT IGNORE
 * (it would swallow the foreign-key error of an unknown user) nor ON DUPLICATE KEY UPDATE (mysql2
 * sets CLIENT_FOUND_ROWS, so an unchanged duplicate also counts 1 row) can tell the two apart.
 */
export async function claimIdempotencyKey(trx: Q, p: { key: string; userId: number; hash: string }): Promise<boolean> {
  if (dialect(trx) === 'pg') {
    return (await rows(trx, {
      sql: 'INSERT INTO idempotency_keys (key, user_id, request_hash) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING key',
      bindings: [p.key, p.userId, p.hash],
    })).length === 1;
  }
  try {
    await affected(trx, { sql: 'INSERT INTO idempotency_keys (`key`, user_id, request_hash) VALUES (?, ?, ?)', bindings: [p.key, p.userId, p.hash] });
    return true;
  } catch (err) {
    if (dbErrorKind(err) === 'unique') return false;
    throw err;
  }
}

/**
 * The stored key. Inside a transaction on MySQL it is read with a shared locking read: under
 * REPEATABLE READ a plain read could answer from a snapshot older than the commit it waited for,
 * and the failed INSERT already holds a shared lock on the key (an exclusive one here would make
 * two waiting replays deadlock on the upgrade). LOCK IN SHARE MODE: MariaDB has no FOR SHARE.
 */
export async function selectIdempotencyKey(q: Q, key: string): Promise<StoredKey | undefined> {
  const d = dialect(q);
  const locking = d === 'mysql' && (q as Knex.Transaction).isTransaction ? ' LOCK IN SHARE MODE' : '';
  const col = d === 'pg' ? 'key' : '`key`';
  const [row] = await rows<StoredKey>(q, {
    sql: `SELECT user_id, request_hash, response_status, response_body FROM idempotency_keys WHERE ${col} = ?${locking}`,
    bindings: [key],
  });
  return row ? { ...row, response_body: row.response_body === null ? null : jsonValue(row.response_body) } : undefined;
}

/** Remembers the answer to a key (a refusal; a success is stored with the payment). */
export async function storeAnswer(trx: Q, key: string, status: number, body: Record<string, unknown>): Promise<void> {
  const col = dialect(trx) === 'pg' ? 'key' : '`key`';
  await affected(trx, { sql: `UPDATE idempotency_keys SET response_status = ?, response_body = ? WHERE ${col} = ?`, bindings: [status, JSON.stringify(body), key] });
}

export interface ConfirmPayment { reservationId: number; userId: number; amount: number; key: string; scheduleId: number; seatNo: number | null; balance: number }

/**
 * A paid reservation: the payment row, reservation CONFIRMED, seat SOLD, the two outbox events and
 * the key's 201 answer, in the caller's transaction. Returns the payment id.
 */
export async function confirmPayment(trx: Knex.Transaction, p: ConfirmPayment): Promise<number> {
  if (dialect(trx) === 'pg') {
    const [payment] = await rows<{ id: number }>(trx, {
      sql: `
WITH pay AS (
  INSERT INTO payments (reservation_id, user_id, amount, idempotency_key) VALUES (?, ?, ?, ?) RETURNING id
), res AS (
  UPDATE reservations SET status = 'CONFIRMED', updated_at = now() WHERE id = ? RETURNING id
), seat AS (
  UPDATE seats SET status = 'SOLD', hold_expires_at = NULL
   WHERE schedule_id = ? AND seat_no = ? AND holder_user_id = ? AND status = 'HELD' RETURNING id
), ev AS (
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'reservation', ?, e.type, jsonb_build_object('reservationId', ?::bigint, 'paymentId', pay.id, 'userId', ?::bigint, 'amount', ?::int)
    FROM pay, (VALUES (1, 'reservation.confirmed'), (2, 'payment.completed')) AS e(n, type) ORDER BY e.n
), answer AS (
  UPDATE idempotency_keys SET response_status = 201,
         response_body = (SELECT json_build_object('paymentId', pay.id, 'reservationId', ?::bigint, 'amount', ?::int, 'balance', ?::bigint) FROM pay)
   WHERE key = ?
)
SELECT id FROM pay`,
      bindings: [p.reservationId, p.userId, p.amount, p.key, p.reservationId, p.scheduleId, p.seatNo, p.userId, p.reservationId, p.reservationId, p.userId, p.amount,
        p.reservationId, p.amount, p.balance, p.key],
    });
    return payment!.id;
  }
  // MySQL: the same six writes in one round trip; the stored answer is the JSON text
  // JSON.stringify would give ({"paymentId":…,"reservationId":…,"amount":…,"balance":…}).
  const payload = `JSON_OBJECT('reservationId', ?, 'paymentId', @seatlab_pid, 'userId', ?, 'amount', ?)`;
  const res = await multi(trx, {
    sql: `INSERT INTO payments (reservation_id, user_id, amount, idempotency_key) VALUES (?, ?, ?, ?);
          SET @seatlab_pid = LAST_INSERT_ID();
          UPDATE reservations SET status = 'CONFIRMED', updated_at = NOW(6) WHERE id = ?;
          UPDATE seats SET status = 'SOLD', hold_expires_at = NULL WHERE schedule_id = ? AND seat_no = ? AND holder_user_id = ? AND status = 'HELD';
          INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
          VALUES ('reservation', ?, 'reservation.confirmed', ${payload}), ('reservation', ?, 'payment.completed', ${payload});
          UPDATE idempotency_keys SET response_status = 201,
                 response_body = CONCAT('{"paymentId":', @seatlab_pid, ',"reservationId":', ?, ',"amount":', ?, ',"balance":', ?, '}')
           WHERE \`key\` = ?;
          SELECT @seatlab_pid AS id`,
    bindings: [p.reservationId, p.userId, p.amount, p.key, p.reservationId, p.scheduleId, p.seatNo, p.userId,
      p.reservationId, p.reservationId, p.userId, p.amount, p.reservationId, p.reservationId, p.userId, p.amount,
      p.reservationId, p.amount, p.balance, p.key],
  });
  return Number((res[6] as { id: number }[])[0]!.id);
}

export interface EndedRow { id: number; user_id: number; schedule_id: number; seat_no: number | null }

/** Which HELD reservations to end: these ids (cancel), or up to `limit` whose time has passed (the sweep). */
export type EndSelection = { ids: number[] } | { expiredLimit: number };

/**
 * Ends HELD reservations: reservation CANCELLED or EXPIRED (ended_at = the moment of the write), the
 * seat AVAILABLE again or the ticket back in the inventory, one outbox event each. One statement on
 * PostgreSQL; on MySQL the rows are locked first, then the same writes in the same transaction. An
 * expiry sweep skips rows another transaction (a payment) has locked: that payment sees the expiry itself.
 */
export async function endReservations(q: Q, sel: EndSelection, status: 'CANCELLED' | 'EXPIRED'): Promise<EndedRow[]> {
  const event = status === 'CANCELLED' ? 'reservation.cancelled' : 'reservation.expired';
  if (dialect(q) === 'pg') {
    const [which, wb] = 'ids' in sel
      ? ['SELECT unnest(?::bigint[])', [sel.ids]]
      : [`SELECT id FROM reservations WHERE status = 'HELD' AND expires_at <= now() ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED`, [sel.expiredLimit]];
    if ('ids' in sel && sel.ids.length === 0) return [];
    return rows<EndedRow>(q, {
      sql: `
WITH ended AS (
  UPDATE reservations SET status = ?, updated_at = now(), ended_at = clock_timestamp()
   WHERE id IN (${which}) AND status = 'HELD'
  RETURNING id, user_id, schedule_id, seat_no
), seat AS (
  UPDATE seats s SET status = 'AVAILABLE', holder_user_id = NULL, hold_expires_at = NULL, version = s.version + 1
    FROM ended WHERE s.schedule_id = ended.schedule_id AND s.seat_no = ended.seat_no AND s.holder_user_id = ended.user_id AND s.status = 'HELD'
), inv AS (
  UPDATE inventory i SET remaining = i.remaining + c.n, version = i.version + 1
    FROM (SELECT schedule_id, count(*)::int AS n FROM ended WHERE seat_no IS NULL GROUP BY schedule_id) c
   WHERE i.schedule_id = c.schedule_id
), ev AS (
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'reservation', id, ?, jsonb_build_object('reservationId', id, 'userId', user_id, 'scheduleId', schedule_id, 'seatNo', seat_no)
    FROM ended ORDER BY id
)
SELECT id, user_id, schedule_id, seat_no FROM ended ORDER BY id`,
      bindings: [status, ...(wb as (number | number[])[]) as never[], event],
    });
  }
  return atomic(q, async (trx) => {
    const ended = 'ids' in sel
      ? (sel.ids.length === 0 ? [] : await rows<EndedRow>(trx, {
        sql: `SELECT id, user_id, schedule_id, seat_no FROM reservations WHERE id IN (?) AND status = 'HELD' ORDER BY id FOR UPDATE`, bindings: [sel.ids],
      }))
      : await rows<EndedRow>(trx, {
        sql: `SELECT id, user_id, schedule_id, seat_no FROM reservations WHERE status = 'HELD' AND expires_at <= NOW(6)
               ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED`, bindings: [sel.expiredLimit],
      });
    if (ended.length === 0) return [];
    ended.sort((a, b) => a.id - b.id);
    const ids = ended.map((r) => r.id);
    await affected(trx, { sql: 'UPDATE reservations SET status = ?, updated_at = NOW(6), ended_at = SYSDATE(6) WHERE id IN (?)', bindings: [status, ids] });
    const seats = ended.filter((r) => r.seat_no !== null);
    if (seats.length > 0) {
      await affected(trx, {
        // ORs of equalities, not a row-constructor IN: MariaDB uses an index for the latter only in a SELECT.
        sql: `UPDATE seats SET status = 'AVAILABLE', holder_user_id = NULL, hold_expires_at = NULL, version = version + 1
               WHERE (${seats.map(() => '(schedule_id = ? AND seat_no = ? AND holder_user_id = ?)').join(' OR ')}) AND status = 'HELD'`,
        bindings: seats.flatMap((r) => [r.schedule_id, r.seat_no!, r.user_id]),
      });
    }
    const tickets = new Map<number, number>();
    for (const r of ended) if (r.seat_no === null) tickets.set(r.schedule_id, (tickets.get(r.schedule_id) ?? 0) + 1);
    for (const [scheduleId, n] of [...tickets].sort((a, b) => a[0] - b[0])) {
      await affected(trx, { sql: 'UPDATE inventory SET remaining = remaining + ?, version = version + 1 WHERE schedule_id = ?', bindings: [n, scheduleId] });
    }
    await affected(trx, {
      sql: `INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload) VALUES ${ended.map(() =>
        `('reservation', ?, ?, JSON_OBJECT('reservationId', ?, 'userId', ?, 'scheduleId', ?, 'seatNo', ?))`).join(', ')}`,
      bindings: ended.flatMap((r) => [r.id, event, r.id, r.user_id, r.schedule_id, r.seat_no]),
    });
    return ended;
  });
}

/**
 * Runs fn in a transaction if this process is the only one doing `name` right now, else returns
 * `none`. PostgreSQL: a transaction-scoped advisory lock (advisory locks are per database).
 * MySQL: GET_LOCK, which is per server and per session, so the name carries the database and the
 * lock is released before the transaction ends (after its last write; a connection that dies
 * releases it too).
 */
export async function asLeader<T>(db: Knex, name: string, none: T, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  if (dialect(db) === 'pg') {
    return db.transaction(async (trx) => {
      const [r] = await rows<{ got: boolean }>(trx, { sql: 'SELECT pg_try_advisory_xact_lock(hashtext(?)) AS got', bindings: [name] });
      return r!.got ? fn(trx) : none;
    });
  }
  const lockName = `SHA1(CONCAT(DATABASE(), ':', ?))`;
  // READ COMMITTED: at InnoDB's REPEATABLE READ the relay's and the sweep's locking range reads lock
  // the gap after their last row, so every hold's outbox or reservation insert would wait for the
  // relay's round trip to Redis (and a ticket hold could deadlock with the sweep). Here they lock
  // the rows they read and nothing else, as on PostgreSQL.
  return db.transaction(async (trx) => {
    const [r] = await rows<{ got: number | null }>(trx, { sql: `SELECT GET_LOCK(${lockName}, 0) AS got`, bindings: [name] });
    if (r?.got !== 1) return none;
    try {
      return await fn(trx);
    } finally {
      await rows(trx, { sql: `SELECT RELEASE_LOCK(${lockName}) AS released`, bindings: [name] }).catch(() => undefined);
    }
  }, { isolationLevel: 'read committed' });
}

/** The moment of this statement, for the sweep's record. */
export async function writeMoment(q: Q): Promise<Date> {
  const [r] = await rows<{ t: Date }>(q, { sql: dialect(q) === 'pg' ? 'SELECT clock_timestamp() AS t' : 'SELECT SYSDATE(6) AS t', bindings: [] });
  return r!.t;
}
