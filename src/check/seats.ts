import type { Knex } from 'knex';
import { ViolationLog, checkResponsesAgainstRows, type CheckInput, type CheckResult } from './violations.js';

export type SeatCheckInput = CheckInput;
export interface SeatCheckResult extends CheckResult { seatsHeldOrSold: number }

/** Reads the final state in PostgreSQL and lists every broken seat invariant with evidence. */
export async function checkSeats(db: Knex, input: SeatCheckInput): Promise<SeatCheckResult> {
  const log = new ViolationLog();
  const add = (v: Parameters<ViolationLog['add']>[0]) => log.add(v);
  const q = async <T>(sql: string, b: (string | number)[]) => ((await db.raw(sql, b)) as { rows: T[] }).rows;

  // 1. At most one active reservation per seat. Every extra one is an oversold seat.
  const doubles = await q<{ seat_no: number; ids: number[]; users: number[]; n: number }>(
    `SELECT seat_no, array_agg(id ORDER BY id) AS ids, array_agg(user_id ORDER BY id) AS users, count(*)::int AS n
       FROM reservations WHERE schedule_id = ? AND seat_no IS NOT NULL AND status IN ('HELD', 'CONFIRMED')
      GROUP BY seat_no HAVING count(*) > 1 ORDER BY seat_no`, [input.scheduleId]);
  let oversold = 0;
  for (const d of doubles) {
    oversold += d.n - 1;
    add({ kind: 'seat-sold-twice', detail: `seat ${d.seat_no} has ${d.n} active reservations`, evidence: { seatNo: d.seat_no, reservationIds: d.ids, userIds: d.users } });
  }

  // 2. Seats held or sold, and active reservations, never exceed capacity.
  const [cap] = await q<{ capacity: number; taken: number; active: number }>(
    `SELECT s.seat_count AS capacity,
            (SELECT count(*) FROM seats WHERE schedule_id = s.id AND status <> 'AVAILABLE')::int AS taken,
            (SELECT count(*) FROM reservations WHERE schedule_id = s.id AND status IN ('HELD', 'CONFIRMED'))::int AS active
       FROM schedules s WHERE s.id = ?`, [input.scheduleId]);
  if (!cap) throw new Error(`schedule ${input.scheduleId} not found while checking`);
  if (cap.active > cap.capacity) add({ kind: 'over-capacity', detail: `${cap.active} active reservations for ${cap.capacity} seats` });
  if (cap.taken > cap.capacity) add({ kind: 'over-capacity', detail: `${cap.taken} seats taken of ${cap.capacity}` });

  // 3. Seat rows agree with reservations, both ways.
  const orphanSeats = await q<{ seat_no: number; status: string; holder_user_id: number | null }>(
    `SELECT st.seat_no, st.status, st.holder_user_id FROM seats st
      WHERE st.schedule_id = ? AND st.status <> 'AVAILABLE'
        AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.schedule_id = st.schedule_id AND r.seat_no = st.seat_no
                          AND r.status IN ('HELD', 'CONFIRMED') AND r.user_id = st.holder_user_id)
      ORDER BY st.seat_no`, [input.scheduleId]);
  for (const s of orphanSeats) {
    add({ kind: 'seat-without-reservation', detail: `seat ${s.seat_no} is ${s.status} for user ${s.holder_user_id} with no matching active reservation`, evidence: s });
  }
  const strays = await q<{ id: number; seat_no: number; user_id: number; seat_status: string; holder_user_id: number | null }>(
    `SELECT r.id, r.seat_no, r.user_id, st.status AS seat_status, st.holder_user_id FROM reservations r
       JOIN seats st ON st.schedule_id = r.schedule_id AND st.seat_no = r.seat_no
      WHERE r.schedule_id = ? AND r.status IN ('HELD', 'CONFIRMED')
        AND (st.status = 'AVAILABLE' OR st.holder_user_id IS DISTINCT FROM r.user_id)
      ORDER BY r.id`, [input.scheduleId]);
  for (const r of strays) {
    add({ kind: 'reservation-seat-mismatch', detail: `reservation ${r.id} (user ${r.user_id}) holds seat ${r.seat_no}, but the seat is ${r.seat_status} for user ${r.holder_user_id}`, evidence: r });
  }

  // 4. Every 201 wrote exactly one reservation; unknown outcomes may or may not have.
  const [{ created }] = (await q<{ created: number }>(`SELECT count(*)::int AS created FROM reservations WHERE schedule_id = ? AND seat_no IS NOT NULL`, [input.scheduleId])) as [{ created: number }];
  checkResponsesAgainstRows(log, created, input.okResponses, input.unknownResponses);

  return { oversold, activeReservations: cap.active, seatsHeldOrSold: cap.taken, capacity: cap.capacity, violations: log.violations, violationCounts: log.counts };
}
