// The seat and general-admission statements. Values always travel as bindings; locking choices
// are spelled out in the text. Each function takes a pool or a transaction (see exec.ts).
import type { Dialect } from '../dialect.js';
import { atomic, dialect, insertId, multi, nowPlusMs, rows, type Q } from './exec.js';

export type { Sql } from './exec.js';

/**
 * 'current': no lock to keep, but the latest committed row even inside a transaction. PostgreSQL at
 * READ COMMITTED reads it anyway; InnoDB at REPEATABLE READ would answer from the transaction's
 * snapshot, so there it is a shared locking read (LOCK IN SHARE MODE: MariaDB has no FOR SHARE).
 */
export type RowLock = 'none' | 'current' | 'for-update' | 'for-update-nowait' | 'for-no-key-update' | 'for-no-key-update-nowait';

export interface SeatRow { id: number; status: 'AVAILABLE' | 'HELD' | 'SOLD'; version: number; fence: number }

const LOCK_SQL: Record<Dialect, Record<RowLock, string>> = {
  pg: {
    'none': '',
    'current': '',
    'for-update': ' FOR UPDATE',
    'for-update-nowait': ' FOR UPDATE NOWAIT',
    // For rows other rows reference (users): inserting a referencing row takes FOR KEY SHARE, which
    // FOR UPDATE conflicts with (two payments would deadlock) and FOR NO KEY UPDATE does not.
    'for-no-key-update': ' FOR NO KEY UPDATE',
    'for-no-key-update-nowait': ' FOR NO KEY UPDATE NOWAIT',
  },
  mysql: {
    'none': '',
    'current': ' LOCK IN SHARE MODE',
    'for-update': ' FOR UPDATE',
    // MySQL 8.0 and MariaDB 10.3+; MariaDB reports a refused NOWAIT as 1205 (lock wait timeout).
    'for-update-nowait': ' FOR UPDATE NOWAIT',
    // InnoDB has no key-share locks: a foreign-key check takes a shared lock on the parent row, which
    // the transaction holding FOR UPDATE already covers, so plain FOR UPDATE is the equivalent.
    'for-no-key-update': ' FOR UPDATE',
    'for-no-key-update-nowait': ' FOR UPDATE NOWAIT',
  },
};

export function lockClause(d: Dialect, lock: RowLock): string {
  return LOCK_SQL[d][lock];
}

export async function selectSeat(q: Q, scheduleId: number, seatNo: number, lock: RowLock = 'none'): Promise<SeatRow | undefined> {
  const [row] = await rows<SeatRow>(q, {
    sql: `SELECT id, status, version, fence FROM seats WHERE schedule_id = ? AND seat_no = ?${lockClause(dialect(q), lock)}`,
    bindings: [scheduleId, seatNo],
  });
  return row;
}

/**
 * A fresh fencing token: strictly greater than every token taken before it. PostgreSQL: a sequence.
 * MySQL has no sequences: an AUTO_INCREMENT insert, whose values InnoDB hands out under its
 * auto-inc lock and never rolls back, so they grow in the order they are taken, like nextval.
 */
export async function fenceToken(q: Q): Promise<number> {
  if (dialect(q) === 'mysql') return insertId(q, { sql: 'INSERT INTO fence_seq () VALUES ()', bindings: [] });
  const [row] = await rows<{ token: number }>(q, { sql: `SELECT nextval('fence_seq')::bigint AS token`, bindings: [] });
  return row!.token;
}

/** A fresh fencing token and a row read after it: one round trip on PostgreSQL, two on MySQL. */
async function fenceAnd<T>(q: Q, select: string, table: string, on: string, bindings: number[]): Promise<{ token: number; row: T | undefined }> {
  if (dialect(q) === 'mysql') {
    const token = await fenceToken(q);
    const [row] = await rows<T>(q, { sql: `SELECT ${select} FROM ${table} x WHERE ${on}`, bindings });
    return { token, row };
  }
  const [r] = await rows<T & { token: number; present: number | null }>(q, {
    sql: `SELECT nextval('fence_seq')::bigint AS token, x.${table === 'seats' ? 'id' : table === 'users' ? 'id' : 'schedule_id'} AS present, ${select}
            FROM (SELECT 1) one LEFT JOIN ${table} x ON ${on}`,
    bindings,
  });
  const { token, present, ...row } = r!;
  return { token, row: present === null ? undefined : (row as unknown as T) };
}

export function fenceAndSelectSeat(q: Q, scheduleId: number, seatNo: number): Promise<{ token: number; row: SeatRow | undefined }> {
  return fenceAnd<SeatRow>(q, 'x.id, x.status, x.version, x.fence', 'seats', 'x.schedule_id = ? AND x.seat_no = ?', [scheduleId, seatNo]);
}

export interface HoldRow { id: number; schedule_id: number; seat_no: number | null; expires_at: Date }

export interface SeatWriteGuard {
  /** Optimistic locking: only if nobody changed the row since it was read. */
  expectVersion?: number;
  /** Only if the seat is still AVAILABLE (a database-side re-check). */
  expectAvailable?: boolean;
  /** Fencing: only if the stored fence is lower than this token, which then becomes the fence. */
  fenceToken?: number;
}

type SeatRef = number | { scheduleId: number; seatNo: number };

/** Version and fencing guards shared by the seat, inventory and balance writes; returns the extra SET text. */
export function applyGuards(g: { expectVersion?: number; fenceToken?: number }, where: string[], whereBindings: (number | string)[], setBindings: (number | string)[]): string {
  if (g.expectVersion !== undefined) {
    where.push('version = ?');
    whereBindings.push(g.expectVersion);
  }
  if (g.fenceToken === undefined) return '';
  setBindings.push(g.fenceToken);
  where.push('fence < ?');
  whereBindings.push(g.fenceToken);
  return ', fence = ?';
}

function seatWhere(seat: SeatRef, prefix = ''): { where: string; bindings: number[] } {
  return typeof seat === 'object'
    ? { where: `${prefix}schedule_id = ? AND ${prefix}seat_no = ?`, bindings: [seat.scheduleId, seat.seatNo] }
    : { where: `${prefix}id = ?`, bindings: [seat] };
}

/**
 * Marks the seat HELD, inserts the reservation and its outbox event, atomically. Guards turn the
 * update conditional; null back means a guard refused the write (or there is no such seat). Without
 * guards the update is unconditional: callers must hold a lock (pessimistic) or deliberately not
 * care (the `none` control group).
 */
export async function holdSeat(q: Q, p: { seat: SeatRef; userId: number; holdTtlMs: number } & SeatWriteGuard): Promise<HoldRow | null> {
  const sw = seatWhere(p.seat);
  const where = [sw.where];
  const whereBindings: (number | string)[] = [...sw.bindings];
  const setBindings: (number | string)[] = [];
  const extraSet = applyGuards(p, where, whereBindings, setBindings);
  if (p.expectAvailable) where.push(`status = 'AVAILABLE'`);
  const d = dialect(q);
  const set = `status = 'HELD', holder_user_id = ?, hold_expires_at = ${nowPlusMs(d)}, version = version + 1${extraSet}`;
  if (d === 'pg') {
    const [row] = await rows<HoldRow>(q, {
      sql: `
WITH s AS (
  UPDATE seats SET ${set} WHERE ${where.join(' AND ')}
  RETURNING schedule_id, seat_no, hold_expires_at
), r AS (
  INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at, created_at)
  SELECT ?, s.schedule_id, s.seat_no, 'HELD', sc.price, s.hold_expires_at, clock_timestamp()
    FROM s JOIN schedules sc ON sc.id = s.schedule_id
  RETURNING id, user_id, schedule_id, seat_no, expires_at
)${PG_OUTBOX_HELD}
SELECT id, schedule_id, seat_no, expires_at FROM r`,
      bindings: [p.userId, p.holdTtlMs, ...setBindings, ...whereBindings, p.userId],
    });
    return row ?? null;
  }
  // MySQL: the guarded UPDATE and the read of what it wrote in one round trip (ROW_COUNT() is the
  // UPDATE's: 0 = a guard refused), then both inserts in another, then the commit.
  const sr = seatWhere(p.seat, 's.');
  return atomic(q, async (trx) => {
    const [, read] = await multi(trx, {
      sql: `UPDATE seats SET ${set} WHERE ${where.join(' AND ')};
            SELECT ROW_COUNT() AS updated, s.schedule_id, s.seat_no, s.hold_expires_at, sc.price
              FROM seats s JOIN schedules sc ON sc.id = s.schedule_id WHERE ${sr.where}`,
      bindings: [p.userId, p.holdTtlMs, ...setBindings, ...whereBindings, ...sr.bindings],
    }) as [unknown, { updated: number; schedule_id: number; seat_no: number; hold_expires_at: Date; price: number }[]];
    const seat = read[0];
    if (!seat || Number(seat.updated) === 0) return null;
    return mysqlInsertHold(trx, { userId: p.userId, scheduleId: seat.schedule_id, seatNo: seat.seat_no, price: seat.price, expiresAt: seat.hold_expires_at });
  });
}

const PG_OUTBOX_HELD = `, o AS (
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'reservation', r.id, 'reservation.held',
         jsonb_build_object('reservationId', r.id, 'userId', r.user_id, 'scheduleId', r.schedule_id,
                            'seatNo', r.seat_no, 'expiresAt', r.expires_at)
    FROM r
)`;

/**
 * MySQL: the reservation and its reservation.held event, as plain INSERT … VALUES. Not INSERT …
 * SELECT: InnoDB counts that as a bulk insert and, in MariaDB's default auto-inc lock mode, holds
 * the table's AUTO-INC lock for the whole statement, foreign-key waits included — one hold waiting
 * on a user row would stop every other hold's insert.
 */
async function mysqlInsertHold(trx: Q, h: { userId: number; scheduleId: number; seatNo: number | null; price: number; expiresAt: Date }): Promise<HoldRow> {
  const [res] = await multi(trx, {
    sql: `INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at, created_at) VALUES (?, ?, ?, 'HELD', ?, ?, SYSDATE(6));
          SET @seatlab_rid = LAST_INSERT_ID();
          INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
          VALUES ('reservation', @seatlab_rid, 'reservation.held',
                  JSON_OBJECT('reservationId', @seatlab_rid, 'userId', ?, 'scheduleId', ?, 'seatNo', ?, 'expiresAt', ?))`,
    bindings: [h.userId, h.scheduleId, h.seatNo, h.price, h.expiresAt, h.userId, h.scheduleId, h.seatNo, h.expiresAt.toISOString()],
  }) as [{ insertId: number }];
  return { id: Number(res.insertId), schedule_id: h.scheduleId, seat_no: h.seatNo, expires_at: h.expiresAt };
}

export interface InventoryRow { total: number; remaining: number; version: number; fence: number }

export async function selectInventory(q: Q, scheduleId: number, lock: RowLock = 'none'): Promise<InventoryRow | undefined> {
  const [row] = await rows<InventoryRow>(q, {
    sql: `SELECT total, remaining, version, fence FROM inventory WHERE schedule_id = ?${lockClause(dialect(q), lock)}`,
    bindings: [scheduleId],
  });
  return row;
}

export function fenceAndSelectInventory(q: Q, scheduleId: number): Promise<{ token: number; row: InventoryRow | undefined }> {
  return fenceAnd<InventoryRow>(q, 'x.total, x.remaining, x.version, x.fence', 'inventory', 'x.schedule_id = ?', [scheduleId]);
}

export interface TicketWriteGuard {
  /**
   * 'decrement': remaining = remaining - 1 WHERE remaining > 0 (the database decides).
   * 'set': remaining = value the caller read minus one (read-modify-write: only safe under a lock).
   */
  mode: 'decrement' | { setFrom: number };
  expectVersion?: number;
  fenceToken?: number;
}

/** One general-admission ticket: inventory update, reservation (no seat) and outbox event, atomically. */
export async function holdTicket(q: Q, p: { scheduleId: number; userId: number; holdTtlMs: number } & TicketWriteGuard): Promise<HoldRow | null> {
  const where: string[] = ['schedule_id = ?'];
  const whereBindings: (number | string)[] = [p.scheduleId];
  const setBindings: (number | string)[] = [];
  let set: string;
  if (p.mode === 'decrement') {
    set = 'remaining = remaining - 1';
    where.push('remaining > 0');
  } else {
    set = 'remaining = ?';
    setBindings.push(p.mode.setFrom - 1);
  }
  set += ', version = version + 1' + applyGuards(p, where, whereBindings, setBindings);
  const d = dialect(q);
  if (d === 'pg') {
    const [row] = await rows<HoldRow>(q, {
      sql: `
WITH i AS (
  UPDATE inventory SET ${set} WHERE ${where.join(' AND ')} RETURNING schedule_id
), r AS (
  INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at, created_at)
  SELECT ?, i.schedule_id, NULL, 'HELD', sc.price, now() + (? * interval '1 millisecond'), clock_timestamp()
    FROM i JOIN schedules sc ON sc.id = i.schedule_id
  RETURNING id, user_id, schedule_id, seat_no, expires_at
)${PG_OUTBOX_HELD}
SELECT id, schedule_id, seat_no, expires_at FROM r`,
      bindings: [...setBindings, ...whereBindings, p.userId, p.holdTtlMs],
    });
    return row ?? null;
  }
  return atomic(q, async (trx) => {
    const [, read] = await multi(trx, {
      sql: `UPDATE inventory SET ${set} WHERE ${where.join(' AND ')};
            SELECT ROW_COUNT() AS updated, price, ${nowPlusMs(d)} AS expires_at FROM schedules WHERE id = ?`,
      bindings: [...setBindings, ...whereBindings, p.holdTtlMs, p.scheduleId],
    }) as [unknown, { updated: number; price: number; expires_at: Date }[]];
    const sc = read[0];
    if (!sc || Number(sc.updated) === 0) return null;
    return mysqlInsertHold(trx, { userId: p.userId, scheduleId: p.scheduleId, seatNo: null, price: sc.price, expiresAt: sc.expires_at });
  });
}
