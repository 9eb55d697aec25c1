// SQL for the seat path as small functions returning text and bindings (pg-boss habit).
// Values always travel as bindings; locking choices are spelled out in the text.
export interface Sql { sql: string; bindings: (string | number | null)[] }

export type RowLock = 'none' | 'for-update' | 'for-update-nowait' | 'for-no-key-update' | 'for-no-key-update-nowait';

export interface SeatRow { id: number; status: 'AVAILABLE' | 'HELD' | 'SOLD'; version: number; fence: number }

const LOCK_SQL: Record<RowLock, string> = {
  'none': '',
  'for-update': ' FOR UPDATE',
  'for-update-nowait': ' FOR UPDATE NOWAIT',
  // For rows other rows reference (users): inserting a referencing row takes FOR KEY SHARE, which
  // FOR UPDATE conflicts with (two payments would deadlock) and FOR NO KEY UPDATE does not.
  'for-no-key-update': ' FOR NO KEY UPDATE',
  'for-no-key-update-nowait': ' FOR NO KEY UPDATE NOWAIT',
};

export function lockClause(lock: RowLock): string {
  return LOCK_SQL[lock];
}

export function selectSeat(scheduleId: number, seatNo: number, lock: RowLock = 'none'): Sql {
  return {
    sql: `SELECT id, status, version, fence FROM seats WHERE schedule_id = ? AND seat_no = ?${lockClause(lock)}`,
    bindings: [scheduleId, seatNo],
  };
}

/** A fresh fencing token and the seat, in one round trip. */
export function fenceAndSelectSeat(scheduleId: number, seatNo: number): Sql {
  return {
    sql: `SELECT nextval('fence_seq')::bigint AS token, s.id, s.status, s.version, s.fence
            FROM (SELECT 1) one LEFT JOIN seats s ON s.schedule_id = ? AND s.seat_no = ?`,
    bindings: [scheduleId, seatNo],
  };
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

/**
 * Marks the seat HELD, inserts the reservation and its outbox event in ONE statement, so the three
 * writes are atomic even outside an explicit transaction. Guards turn the update conditional; zero
 * rows back then means the guard refused the write. Without guards the update is unconditional:
 * callers must hold a lock (pessimistic) or deliberately not care (the `none` control group).
 */
export function holdSeat(p: { seat: number | { scheduleId: number; seatNo: number }; userId: number; holdTtlMs: number } & SeatWriteGuard): Sql {
  const sets: string[] = [];
  const byNo = typeof p.seat === 'object';
  const where: string[] = [byNo ? 'schedule_id = ? AND seat_no = ?' : 'id = ?'];
  const setBindings: (number | string)[] = [];
  const whereBindings: (number | string)[] = typeof p.seat === 'object' ? [p.seat.scheduleId, p.seat.seatNo] : [p.seat];
  sets.push(applyGuards(p, where, whereBindings, setBindings));
  if (p.expectAvailable) where.push(`status = 'AVAILABLE'`);
  return {
    sql: `
WITH s AS (
  UPDATE seats
     SET status = 'HELD', holder_user_id = ?, hold_expires_at = now() + (? * interval '1 millisecond'), version = version + 1${sets.join('')}
   WHERE ${where.join(' AND ')}
  RETURNING schedule_id, seat_no, hold_expires_at
), r AS (
  INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at, created_at)
  SELECT ?, s.schedule_id, s.seat_no, 'HELD', sc.price, s.hold_expires_at, clock_timestamp()
    FROM s JOIN schedules sc ON sc.id = s.schedule_id
  RETURNING id, user_id, schedule_id, seat_no, expires_at
)${outboxHeld}
SELECT id, schedule_id, seat_no, expires_at FROM r`,
    bindings: [p.userId, p.holdTtlMs, ...setBindings, ...whereBindings, p.userId],
  };
}

/** Version and fencing guards shared by the seat and inventory writes; returns the extra SET text. */
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

const outboxHeld = `, o AS (
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'reservation', r.id, 'reservation.held',
         jsonb_build_object('reservationId', r.id, 'userId', r.user_id, 'scheduleId', r.schedule_id,
                            'seatNo', r.seat_no, 'expiresAt', r.expires_at)
    FROM r
)`;

export interface InventoryRow { total: number; remaining: number; version: number; fence: number }

export function selectInventory(scheduleId: number, lock: RowLock = 'none'): Sql {
  return { sql: `SELECT total, remaining, version, fence FROM inventory WHERE schedule_id = ?${lockClause(lock)}`, bindings: [scheduleId] };
}

export function fenceAndSelectInventory(scheduleId: number): Sql {
  return {
    sql: `SELECT nextval('fence_seq')::bigint AS token, i.total, i.remaining, i.version, i.fence
            FROM (SELECT 1) one LEFT JOIN inventory i ON i.schedule_id = ?`,
    bindings: [scheduleId],
  };
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

/** One general-admission ticket: inventory update, reservation (no seat) and outbox event in one statement. */
export function holdTicket(p: { scheduleId: number; userId: number; holdTtlMs: number } & TicketWriteGuard): Sql {
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
  return {
    sql: `
WITH i AS (
  UPDATE inventory SET ${set} WHERE ${where.join(' AND ')} RETURNING schedule_id
), r AS (
  INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at, created_at)
  SELECT ?, i.schedule_id, NULL, 'HELD', sc.price, now() + (? * interval '1 millisecond'), clock_timestamp()
    FROM i JOIN schedules sc ON sc.id = i.schedule_id
  RETURNING id, user_id, schedule_id, seat_no, expires_at
)${outboxHeld}
SELECT id, schedule_id, seat_no, expires_at FROM r`,
    bindings: [...setBindings, ...whereBindings, p.userId, p.holdTtlMs],
  };
}
