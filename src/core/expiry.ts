import type { Knex } from 'knex';
import type { ReleasedItem, StrategyRuntime } from './ports.js';
import { startPeriodic } from './periodic.js';

const SWEEPER_LOCK = 'seatlab:expiry-sweeper';

export interface SweepResult { ran: boolean; expired: ReleasedItem[] }

/**
 * Expires holds whose time has passed: reservation EXPIRED, seat AVAILABLE (or the ticket back in
 * the inventory), an outbox event each — one transaction. A transaction-scoped advisory lock makes
 * sure only one process sweeps at a time; SKIP LOCKED leaves alone a reservation a payment is
 * holding right now (the payment sees the expiry itself). A repeated sweep finds nothing new; an
 * interrupted one rolls back whole.
 */
export async function sweepExpired(db: Knex, owner: string, limit = 1000): Promise<SweepResult> {
  return db.transaction(async (trx) => {
    const got = (await trx.raw('SELECT pg_try_advisory_xact_lock(hashtext(?)) AS got', [SWEEPER_LOCK])).rows[0].got as boolean;
    if (!got) return { ran: false, expired: [] };
    const startedAt = (await trx.raw('SELECT clock_timestamp() AS t')).rows[0].t as Date;
    const rows = (await trx.raw(`
WITH exp AS (
  UPDATE reservations SET status = 'EXPIRED', updated_at = now(), ended_at = clock_timestamp()
   WHERE id IN (SELECT id FROM reservations WHERE status = 'HELD' AND expires_at <= now()
                 ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED)
  RETURNING id, user_id, schedule_id, seat_no
), seat AS (
  UPDATE seats s SET status = 'AVAILABLE', holder_user_id = NULL, hold_expires_at = NULL, version = s.version + 1
    FROM exp WHERE s.schedule_id = exp.schedule_id AND s.seat_no = exp.seat_no AND s.holder_user_id = exp.user_id AND s.status = 'HELD'
), inv AS (
  UPDATE inventory i SET remaining = i.remaining + c.n, version = i.version + 1
    FROM (SELECT schedule_id, count(*)::int AS n FROM exp WHERE seat_no IS NULL GROUP BY schedule_id) c
   WHERE i.schedule_id = c.schedule_id
), ev AS (
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'reservation', id, 'reservation.expired', jsonb_build_object('reservationId', id, 'userId', user_id, 'scheduleId', schedule_id, 'seatNo', seat_no)
    FROM exp ORDER BY id
)
SELECT schedule_id, seat_no FROM exp`, [limit])).rows as { schedule_id: number; seat_no: number | null }[];
    await trx('sweeps').insert({ owner, started_at: startedAt, expired: rows.length });
    return { ran: true, expired: rows.map((r) => ({ scheduleId: r.schedule_id, seatNo: r.seat_no })) };
  });
}

/** Sweeps every `intervalMs` until stopped; tells the strategy which seats went back on sale. */
export function startSweeper(db: Knex, strategy: StrategyRuntime, opts: { intervalMs: number; owner: string; onError?: (e: unknown) => void }): () => Promise<void> {
  return startPeriodic(async () => {
    const { expired } = await sweepExpired(db, opts.owner);
    if (expired.length > 0) await strategy.released?.(expired);
  }, opts);
}
