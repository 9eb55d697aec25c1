import type { Knex } from 'knex';
import { holdSeat, holdTicket, type HoldRow, type SeatWriteGuard, type Sql, type TicketWriteGuard } from '../../src/db/sql/seats.js';
import type { DebitOutcome, HeldReservation, HoldCommand, HoldOutcome, SpendCommand, TicketCommand } from '../../src/core/ports.js';
import { debit, type DebitGuard } from '../../src/db/sql/balance.js';

export async function run<T>(db: Knex | Knex.Transaction, q: Sql): Promise<T[]> {
  const res = (await db.raw(q.sql, q.bindings)) as { rows: T[] };
  return res.rows;
}

export function toHeld(row: HoldRow): HeldReservation {
  return {
    reservationId: row.id,
    scheduleId: row.schedule_id,
    seatNo: row.seat_no,
    status: 'HELD',
    expiresAt: row.expires_at.toISOString(),
  };
}

/** Writes the hold (seat → HELD, reservation, outbox) and returns it, or null if a guard refused the write. */
export async function writeHold(db: Knex | Knex.Transaction, seat: number | 'by-seat-no', cmd: HoldCommand, guard: SeatWriteGuard = {}): Promise<HeldReservation | null> {
  const target = seat === 'by-seat-no' ? { scheduleId: cmd.scheduleId, seatNo: cmd.seatNo } : seat;
  const rows = await run<HoldRow>(db, holdSeat({ seat: target, userId: cmd.userId, holdTtlMs: cmd.holdTtlMs, ...guard }));
  return rows[0] ? toHeld(rows[0]) : null;
}

/** Writes one general-admission ticket, or returns null if the guard refused (sold out, version, fence). */
export async function writeTicket(db: Knex | Knex.Transaction, cmd: TicketCommand, guard: TicketWriteGuard): Promise<HeldReservation | null> {
  const rows = await run<HoldRow>(db, holdTicket({ scheduleId: cmd.scheduleId, userId: cmd.userId, holdTtlMs: cmd.holdTtlMs, ...guard }));
  return rows[0] ? toHeld(rows[0]) : null;
}

export const soldOut = (total: number): HoldOutcome => ({ kind: 'sold-out', reason: `all ${total} tickets are taken` });
export const held = (reservation: HeldReservation): HoldOutcome => ({ kind: 'held', reservation });

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Debits and writes the ledger row; null when the guard refused (insufficient, version, fence). */
export async function writeDebit(trx: Knex.Transaction, cmd: SpendCommand, guard: DebitGuard): Promise<DebitOutcome | null> {
  const rows = await run<{ balance: number }>(trx, debit({ ...cmd, ...guard }));
  return rows[0] ? { kind: 'debited', balance: rows[0].balance } : null;
}
