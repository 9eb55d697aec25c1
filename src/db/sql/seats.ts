// SQL for the seat path as small functions returning text and bindings (pg-boss habit).
// Values always travel as bindings; locking choices are spelled out in the text.
export interface Sql { sql: string; bindings: (string | number | null)[] }

export type SeatLock = 'none' | 'for-update' | 'for-update-nowait';

export interface SeatRow { id: number; status: 'AVAILABLE' | 'HELD' | 'SOLD'; version: number; fence: number }

export function selectSeat(scheduleId: number, seatNo: number, lock: SeatLock = 'none'): Sql {
  const suffix = lock === 'for-update' ? ' FOR UPDATE' : lock === 'for-update-nowait' ? ' FOR UPDATE NOWAIT' : '';
  return {
    sql: `SELECT id, status, version, fence FROM seats WHERE schedule_id = ? AND seat_no = ?${suffix}`,
    bindings: [scheduleId, seatNo],
  };
}

export interface HoldRow { id: number; schedule_id: number; seat_no: number; expires_at: Date }

/**
 * Marks the seat HELD, inserts the reservation and its outbox event in ONE statement, so the three
 * writes are atomic even outside an explicit transaction. With `expectVersion` the seat update only
 * happens if nobody changed the row since it was read (optimistic locking); zero rows back then
 * means "lost the race". Without it the update is unconditional: callers must have locked the row
 * (pessimistic) or deliberately not care (the `none` control group).
 */
export function holdSeat(p: { seatId: number; userId: number; holdTtlMs: number; expectVersion?: number }): Sql {
  const versionCheck = p.expectVersion === undefined ? '' : ' AND version = ?';
  const bindings: (string | number)[] = [p.userId, p.holdTtlMs, p.seatId];
  if (p.expectVersion !== undefined) bindings.push(p.expectVersion);
  bindings.push(p.userId);
  return {
    sql: `
WITH s AS (
  UPDATE seats
     SET status = 'HELD', holder_user_id = ?, hold_expires_at = now() + (? * interval '1 millisecond'), version = version + 1
   WHERE id = ?${versionCheck}
  RETURNING schedule_id, seat_no, hold_expires_at
), r AS (
  INSERT INTO reservations (user_id, schedule_id, seat_no, status, amount, expires_at)
  SELECT ?, s.schedule_id, s.seat_no, 'HELD', sc.price, s.hold_expires_at
    FROM s JOIN schedules sc ON sc.id = s.schedule_id
  RETURNING id, user_id, schedule_id, seat_no, expires_at
), o AS (
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'reservation', r.id, 'reservation.held',
         jsonb_build_object('reservationId', r.id, 'userId', r.user_id, 'scheduleId', r.schedule_id,
                            'seatNo', r.seat_no, 'expiresAt', r.expires_at)
    FROM r
)
SELECT id, schedule_id, seat_no, expires_at FROM r`,
    bindings,
  };
}
