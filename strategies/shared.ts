import type { Knex } from 'knex';
import { holdSeat, type HoldRow, type Sql } from '../src/db/sql/seats.js';
import type { HeldReservation, HoldCommand } from '../src/core/ports.js';

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

/** Writes the hold (seat → HELD, reservation, outbox) and returns it, or null if the version check failed. */
export async function writeHold(db: Knex | Knex.Transaction, seatId: number, cmd: HoldCommand, expectVersion?: number): Promise<HeldReservation | null> {
  const rows = await run<HoldRow>(db, holdSeat({ seatId, userId: cmd.userId, holdTtlMs: cmd.holdTtlMs, expectVersion }));
  return rows[0] ? toHeld(rows[0]) : null;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
