import type { Knex } from 'knex';
import type { ReleasedItem, StrategyRuntime } from './ports.js';
import { startPeriodic } from './periodic.js';
import { asLeader, endReservations, writeMoment } from '../db/sql/reservations.js';

const SWEEPER_LOCK = 'seatlab:expiry-sweeper';

export interface SweepResult { ran: boolean; expired: ReleasedItem[] }

/**
 * Expires holds whose time has passed: reservation EXPIRED, seat AVAILABLE (or the ticket back in
 * the inventory), an outbox event each — one transaction. A leader lock (an advisory lock on
 * PostgreSQL, GET_LOCK on MySQL) makes sure only one process sweeps at a time; SKIP LOCKED leaves alone a reservation a payment is
 * holding right now (the payment sees the expiry itself). A repeated sweep finds nothing new; an
 * interrupted one rolls back whole.
 */
export async function sweepExpired(db: Knex, owner: string, limit = 1000): Promise<SweepResult> {
  return asLeader(db, SWEEPER_LOCK, { ran: false, expired: [] } as SweepResult, async (trx) => {
    const startedAt = await writeMoment(trx);
    const rows = await endReservations(trx, { expiredLimit: limit }, 'EXPIRED');
    await trx('sweeps').insert({ owner, started_at: startedAt, expired: rows.length });
    return { ran: true, expired: rows.map((r) => ({ scheduleId: r.schedule_id, seatNo: r.seat_no })) };
  });
}

/** Sweeps every `intervalMs` until stopped; tells the strategy which seats went back on sale. */
export function startSweeper(db: Knex, strategy: StrategyRuntime, opts: { intervalMs: number; owner: string; onError?: (e: unknown) => void; onRun?: (ok: boolean) => void }): () => Promise<void> {
  return startPeriodic(async () => {
    const { expired } = await sweepExpired(db, opts.owner);
    if (expired.length > 0) await strategy.released?.(expired);
  }, opts);
}
