import type { Knex } from 'knex';
import { holdSeat, holdTicket, type HoldRow, type SeatWriteGuard, type TicketWriteGuard } from '../../src/db/sql/seats.js';
import { performance } from 'node:perf_hooks';
import type { DebitOutcome, HeldReservation, HoldCommand, HoldOutcome, SpendCommand, StrategyObserver, TicketCommand } from '../../src/core/ports.js';
import { debit, type DebitGuard } from '../../src/db/sql/balance.js';

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
  const row = await holdSeat(db, { seat: target, userId: cmd.userId, holdTtlMs: cmd.holdTtlMs, ...guard });
  return row ? toHeld(row) : null;
}

/** Writes one general-admission ticket, or returns null if the guard refused (sold out, version, fence). */
export async function writeTicket(db: Knex | Knex.Transaction, cmd: TicketCommand, guard: TicketWriteGuard): Promise<HeldReservation | null> {
  const row = await holdTicket(db, { scheduleId: cmd.scheduleId, userId: cmd.userId, holdTtlMs: cmd.holdTtlMs, ...guard });
  return row ? toHeld(row) : null;
}

export const soldOut = (total: number): HoldOutcome => ({ kind: 'sold-out', reason: `all ${total} tickets are taken` });
export const held = (reservation: HeldReservation): HoldOutcome => ({ kind: 'held', reservation });

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Debits and writes the ledger row; null when the guard refused (insufficient, version, fence). */
export async function writeDebit(trx: Knex.Transaction, cmd: SpendCommand, guard: DebitGuard): Promise<DebitOutcome | null> {
  const row = await debit(trx, { ...cmd, ...guard });
  return row ? { kind: 'debited', balance: row.balance } : null;
}

/**
 * Runs the statement (or acquire) where contenders queue and reports how long it took as a lock
 * wait, also when it failed: a lock_timeout or NOWAIT refusal waited too. Without an observer it
 * is the bare call.
 */
export async function waitedFor<T>(observe: StrategyObserver | undefined, fn: () => Promise<T>): Promise<T> {
  if (!observe) return fn();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    observe.lockWait((performance.now() - t0) / 1000);
  }
}
