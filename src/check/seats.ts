import type { Knex } from 'knex';
import * as sql from '../db/sql/checks.js';
import { ViolationLog, checkResponsesAgainstRows, type CheckInput, type CheckResult } from './violations.js';

export type SeatCheckInput = CheckInput;
export interface SeatCheckResult extends CheckResult { seatsHeldOrSold: number }

/** Reads the final state in the store and lists every broken seat invariant with evidence. */
export async function checkSeats(db: Knex, input: SeatCheckInput): Promise<SeatCheckResult> {
  const log = new ViolationLog();
  const add = (v: Parameters<ViolationLog['add']>[0]) => log.add(v);

  // 1. At most one active reservation per seat. Every extra one is an oversold seat.
  const doubles = await sql.activeDuplicateSeats(db, input.scheduleId);
  let oversold = 0;
  for (const d of doubles) {
    oversold += d.n - 1;
    add({ kind: 'seat-sold-twice', detail: `seat ${d.seat_no} has ${d.n} active reservations`, evidence: { seatNo: d.seat_no, reservationIds: d.ids, userIds: d.users } });
  }

  // 2. Seats held or sold, and active reservations, never exceed capacity.
  const cap = await sql.seatCapacity(db, input.scheduleId);
  if (!cap) throw new Error(`schedule ${input.scheduleId} not found while checking`);
  if (cap.active > cap.capacity) add({ kind: 'over-capacity', detail: `${cap.active} active reservations for ${cap.capacity} seats` });
  if (cap.taken > cap.capacity) add({ kind: 'over-capacity', detail: `${cap.taken} seats taken of ${cap.capacity}` });

  // 3. Seat rows agree with reservations, both ways.
  const orphanSeats = await sql.seatsWithoutReservation(db, input.scheduleId);
  for (const s of orphanSeats) {
    add({ kind: 'seat-without-reservation', detail: `seat ${s.seat_no} is ${s.status} for user ${s.holder_user_id} with no matching active reservation`, evidence: s });
  }
  const strays = await sql.reservationsSeatMismatch(db, input.scheduleId);
  for (const r of strays) {
    add({ kind: 'reservation-seat-mismatch', detail: `reservation ${r.id} (user ${r.user_id}) holds seat ${r.seat_no}, but the seat is ${r.seat_status} for user ${r.holder_user_id}`, evidence: r });
  }

  // 4. Every 201 wrote exactly one reservation; unknown outcomes may or may not have.
  const created = await sql.reservationsCreated(db, input.scheduleId, 'seats');
  checkResponsesAgainstRows(log, created, input.okResponses, input.unknownResponses);

  const returned = await sql.returnedToSale(db, input.scheduleId, 'seats');
  return { oversold, activeReservations: cap.active, seatsHeldOrSold: cap.taken, capacity: cap.capacity, returnedToSale: returned, violations: log.violations, violationCounts: log.counts };
}
