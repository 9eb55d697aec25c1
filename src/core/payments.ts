import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { ReleasedItem, StrategyRuntime } from './ports.js';
import { charge as chargeSql } from '../db/sql/balance.js';
import { dbErrorKind } from '../db/errors.js';

/** A payment answer as the API returns it; stored under the Idempotency-Key and replayed verbatim. */
export interface Answer { status: number; body: Record<string, unknown> }

const err = (status: number, error: string, message: string): Answer => ({ status, body: { error, message } });

/** Thrown inside the payment transaction so that a busy answer rolls back and is NOT remembered. */
class Busy extends Error {}

interface ReservationRow {
  id: number; user_id: number; schedule_id: number; seat_no: number | null; status: string; amount: number; expired: boolean;
}

export function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

/**
 * Pays a held reservation: debit (through the strategy), payment, ledger row, reservation
 * CONFIRMED, seat SOLD and outbox events, all in one transaction. The same key replayed returns the
 * first answer; the same key for another request is 422. Business refusals (402/403/404/409/410)
 * are remembered like successes; a busy balance and server errors are not, so a retry can succeed.
 */
export interface PayRequest {
  userId: number;
  reservationId: number;
  key: string;
  hash: string;
  /** With the waiting room on: the schedule the user is admitted to; another schedule's reservation is refused. */
  admittedScheduleId?: number;
}

export async function pay(db: Knex, strategy: StrategyRuntime, p: PayRequest): Promise<Answer> {
  const tx = () => db.transaction(async (trx) => {
    // A concurrent request with the same key waits here until this one commits, then replays it.
    const claimed = await trx.raw('INSERT INTO idempotency_keys (key, user_id, request_hash) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING key', [p.key, p.userId, p.hash]);
    if (claimed.rows.length === 0) {
      const prev = await trx('idempotency_keys').where({ key: p.key }).first();
      if (prev.user_id !== p.userId || prev.request_hash !== p.hash) {
        return err(422, 'IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different request; use a new key');
      }
      return { status: prev.response_status as number, body: prev.response_body as Record<string, unknown> };
    }
    const answer = await payOnce(trx, strategy, p);
    // A success stored its answer in the same statement as the payment; refusals are stored here.
    if (answer.status !== 201) await trx('idempotency_keys').where({ key: p.key }).update({ response_status: answer.status, response_body: answer.body });
    return answer;
  });
  try {
    const guarded = strategy.aroundSpend ? await strategy.aroundSpend(p.userId, tx) : await tx();
    return guarded ?? busyAnswer('the balance lock is held by another payment');
  } catch (e) {
    if (e instanceof Busy) return busyAnswer(e.message);
    if (dbErrorKind(e) === 'lock-not-available') return busyAnswer('the balance row is locked by another payment');
    throw e;
  }
}

/** The stored answer for this key, when the same user sent the same request before. */
export async function storedAnswer(db: Knex, p: { userId: number; key: string; hash: string }): Promise<Answer | null> {
  const prev = await db('idempotency_keys').where({ key: p.key }).first();
  if (!prev || prev.user_id !== p.userId || prev.request_hash !== p.hash || prev.response_status === null) return null;
  return { status: prev.response_status as number, body: prev.response_body as Record<string, unknown> };
}

const busyAnswer = (why: string) => err(409, 'BALANCE_BUSY', `${why}; retry with the same Idempotency-Key`);

async function payOnce(trx: Knex.Transaction, strategy: StrategyRuntime, p: PayRequest): Promise<Answer> {
  const r = (await trx.raw(
    `SELECT id, user_id, schedule_id, seat_no, status, amount, expires_at <= now() AS expired FROM reservations WHERE id = ? FOR UPDATE`,
    [p.reservationId])).rows[0] as ReservationRow | undefined;
  if (!r) return err(404, 'NOT_FOUND', `reservation ${p.reservationId} does not exist`);
  if (r.user_id !== p.userId) return err(403, 'FORBIDDEN', `reservation ${p.reservationId} belongs to another user`);
  if (p.admittedScheduleId !== undefined && r.schedule_id !== p.admittedScheduleId) {
    return err(403, 'NOT_ADMITTED', `reservation ${p.reservationId} is for schedule ${r.schedule_id}; your queue token admits you to schedule ${p.admittedScheduleId}`);
  }
  if (r.status === 'CONFIRMED') return err(409, 'ALREADY_PAID', `reservation ${p.reservationId} is already paid`);
  if (r.status === 'EXPIRED' || (r.status === 'HELD' && r.expired)) return err(410, 'HOLD_EXPIRED', `the hold on reservation ${p.reservationId} has expired; hold the seat again`);
  if (r.status !== 'HELD') return err(409, 'NOT_HELD', `reservation ${p.reservationId} is ${r.status}`);

  const d = await strategy.debit(trx, { userId: p.userId, amount: r.amount, ref: `reservation:${r.id}` });
  if (d.kind === 'busy') throw new Busy(d.reason);
  if (d.kind === 'not-found') return err(404, 'NOT_FOUND', `user ${p.userId} does not exist`);
  if (d.kind === 'insufficient') return err(402, 'INSUFFICIENT_BALANCE', `the balance does not cover ${r.amount} points; charge it first`);

  const [payment] = (await trx.raw(`
WITH pay AS (
  INSERT INTO payments (reservation_id, user_id, amount, idempotency_key) VALUES (?, ?, ?, ?) RETURNING id
), res AS (
  UPDATE reservations SET status = 'CONFIRMED', updated_at = now() WHERE id = ? RETURNING id
), seat AS (
  UPDATE seats SET status = 'SOLD', hold_expires_at = NULL
   WHERE schedule_id = ? AND seat_no = ? AND holder_user_id = ? AND status = 'HELD' RETURNING id
), ev AS (
  INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
  SELECT 'reservation', ?, e.type, jsonb_build_object('reservationId', ?::bigint, 'paymentId', pay.id, 'userId', ?::bigint, 'amount', ?::int)
    FROM pay, (VALUES (1, 'reservation.confirmed'), (2, 'payment.completed')) AS e(n, type) ORDER BY e.n
), answer AS (
  UPDATE idempotency_keys SET response_status = 201,
         response_body = (SELECT json_build_object('paymentId', pay.id, 'reservationId', ?::bigint, 'amount', ?::int, 'balance', ?::bigint) FROM pay)
   WHERE key = ?
)
SELECT id FROM pay`, [r.id, p.userId, r.amount, p.key, r.id, r.schedule_id, r.seat_no, p.userId, r.id, r.id, p.userId, r.amount,
      r.id, r.amount, d.balance, p.key])).rows as { id: number }[];
  return { status: 201, body: { paymentId: payment!.id, reservationId: r.id, amount: r.amount, balance: d.balance } };
}

/** Cancels the owner's HELD reservation; its seat (or ticket) goes back on sale. */
export async function cancel(db: Knex, strategy: StrategyRuntime, p: { userId: number; reservationId: number }): Promise<Answer> {
  const released: ReleasedItem[] = [];
  const answer = await db.transaction(async (trx): Promise<Answer> => {
    const r = (await trx.raw('SELECT id, user_id, schedule_id, seat_no, status FROM reservations WHERE id = ? FOR UPDATE', [p.reservationId])).rows[0] as ReservationRow | undefined;
    if (!r) return err(404, 'NOT_FOUND', `reservation ${p.reservationId} does not exist`);
    if (r.user_id !== p.userId) return err(403, 'FORBIDDEN', `reservation ${p.reservationId} belongs to another user`);
    if (r.status !== 'HELD') return err(409, 'NOT_HELD', `reservation ${p.reservationId} is ${r.status}; only a HELD reservation can be cancelled`);
    await trx.raw(`
WITH res AS (UPDATE reservations SET status = 'CANCELLED', updated_at = now(), ended_at = clock_timestamp() WHERE id = ?),
seat AS (UPDATE seats SET status = 'AVAILABLE', holder_user_id = NULL, hold_expires_at = NULL, version = version + 1
          WHERE schedule_id = ? AND seat_no = ? AND holder_user_id = ? AND status = 'HELD'),
inv AS (UPDATE inventory SET remaining = remaining + 1, version = version + 1 WHERE schedule_id = ? AND ?::int IS NULL)
INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload)
VALUES ('reservation', ?, 'reservation.cancelled', jsonb_build_object('reservationId', ?::bigint, 'userId', ?::bigint))`,
    [r.id, r.schedule_id, r.seat_no, p.userId, r.schedule_id, r.seat_no, r.id, r.id, p.userId]);
    released.push({ scheduleId: r.schedule_id, seatNo: r.seat_no });
    return { status: 204, body: {} };
  });
  if (released.length > 0) await strategy.released?.(released);
  return answer;
}

export async function chargeBalance(db: Knex, userId: number, amount: number): Promise<number | null> {
  const rows = (await db.raw(chargeSql(userId, amount).sql, chargeSql(userId, amount).bindings)).rows as { balance: number }[];
  return rows[0]?.balance ?? null;
}
