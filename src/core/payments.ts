import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { ReleasedItem, StrategyRuntime } from './ports.js';
import { charge as chargeSql } from '../db/sql/balance.js';
import { claimIdempotencyKey, confirmPayment, endReservations, lockReservation, selectIdempotencyKey, storeAnswer, type ReservationRow } from '../db/sql/reservations.js';
import { storeBusy, type StoreBusyCounters } from './busy.js';
import { dialectOf } from '../db/dialect.js';
import { userExists } from '../db/sql/catalog.js';

/** A payment answer as the API returns it; stored under the Idempotency-Key and replayed verbatim. */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
  /** The stored answer of an earlier request with the same key (never sent to the client; the metrics count it). */
  replayed?: boolean;
}

const err = (status: number, error: string, message: string): Answer => ({ status, body: { error, message } });

/** Thrown inside the payment transaction so that a busy answer rolls back and is NOT remembered. */
class Busy extends Error {}

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

export async function pay(db: Knex, strategy: StrategyRuntime, p: PayRequest, counters?: StoreBusyCounters): Promise<Answer> {
  // On PostgreSQL the key's foreign key refuses an unknown user (401 in the API); the MySQL schema
  // has no such foreign key (see migration 003), so the user is looked up first.
  if (dialectOf(db) === 'mysql' && !(await userExists(db, p.userId))) {
    return err(401, 'UNAUTHORIZED', "the token's user does not exist in this database");
  }
  const tx = () => db.transaction(async (trx) => {
    // A concurrent request with the same key waits here until this one commits, then replays it.
    if (!(await claimIdempotencyKey(trx, p))) {
      const prev = (await selectIdempotencyKey(trx, p.key))!;
      if (prev.user_id !== p.userId || prev.request_hash !== p.hash) {
        return err(422, 'IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a different request; use a new key');
      }
      return { status: prev.response_status as number, body: prev.response_body as Record<string, unknown>, replayed: true };
    }
    const answer = await payOnce(trx, strategy, p);
    // A success stored its answer in the same statement as the payment; refusals are stored here.
    if (answer.status !== 201) await storeAnswer(trx, p.key, answer.status, answer.body);
    return answer;
  });
  try {
    const guarded = strategy.aroundSpend ? await strategy.aroundSpend(p.userId, tx) : await tx();
    return guarded ?? busyAnswer('the balance lock is held by another payment');
  } catch (e) {
    if (e instanceof Busy) return busyAnswer(e.message);
    const busy = storeBusy(e, counters);
    if (busy) return busyAnswer(busy);
    throw e;
  }
}

/** The stored answer for this key, when the same user sent the same request before. */
export async function storedAnswer(db: Knex, p: { userId: number; key: string; hash: string }): Promise<Answer | null> {
  const prev = await selectIdempotencyKey(db, p.key);
  if (!prev || prev.user_id !== p.userId || prev.request_hash !== p.hash || prev.response_status === null) return null;
  return { status: prev.response_status as number, body: prev.response_body as Record<string, unknown>, replayed: true };
}

const busyAnswer = (why: string) => err(409, 'BALANCE_BUSY', `${why}; retry with the same Idempotency-Key`);

async function payOnce(trx: Knex.Transaction, strategy: StrategyRuntime, p: PayRequest): Promise<Answer> {
  const r: ReservationRow | undefined = await lockReservation(trx, p.reservationId);
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

  const paymentId = await confirmPayment(trx, { reservationId: r.id, userId: p.userId, amount: r.amount, key: p.key, scheduleId: r.schedule_id, seatNo: r.seat_no, balance: d.balance });
  return { status: 201, body: { paymentId, reservationId: r.id, amount: r.amount, balance: d.balance } };
}

/** Cancels the owner's HELD reservation; its seat (or ticket) goes back on sale. */
export async function cancel(db: Knex, strategy: StrategyRuntime, p: { userId: number; reservationId: number }): Promise<Answer> {
  const released: ReleasedItem[] = [];
  const answer = await db.transaction(async (trx): Promise<Answer> => {
    const r = await lockReservation(trx, p.reservationId);
    if (!r) return err(404, 'NOT_FOUND', `reservation ${p.reservationId} does not exist`);
    if (r.user_id !== p.userId) return err(403, 'FORBIDDEN', `reservation ${p.reservationId} belongs to another user`);
    if (r.status !== 'HELD') return err(409, 'NOT_HELD', `reservation ${p.reservationId} is ${r.status}; only a HELD reservation can be cancelled`);
    await endReservations(trx, { ids: [r.id] }, 'CANCELLED');
    released.push({ scheduleId: r.schedule_id, seatNo: r.seat_no });
    return { status: 204, body: {} };
  });
  if (released.length > 0) await strategy.released?.(released);
  return answer;
}

export async function chargeBalance(db: Knex, userId: number, amount: number): Promise<number | null> {
  return (await chargeSql(db, userId, amount))?.balance ?? null;
}
