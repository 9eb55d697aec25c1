import type { Knex } from 'knex';
import { ViolationLog, checkResponsesAgainstRows, type CheckInput, type CheckResult } from './violations.js';

export interface BalanceCheckResult extends CheckResult { overspent: number }

/**
 * Money is conserved: every balance equals the sum of its ledger and is never negative; every
 * CONFIRMED reservation has exactly one payment and its seat SOLD; payments equal ledger debits.
 * `oversold` here is points spent beyond what was ever charged.
 */
export async function checkBalance(db: Knex, input: CheckInput): Promise<BalanceCheckResult> {
  const log = new ViolationLog();
  const q = async <T>(sql: string, b: (string | number)[] = []) => ((await db.raw(sql, b)) as { rows: T[] }).rows;

  for (const u of await q<{ id: number; balance: number; ledger: number }>(
    `SELECT u.id, u.balance, coalesce(sum(l.amount), 0)::bigint AS ledger FROM users u LEFT JOIN balance_ledger l ON l.user_id = u.id
      GROUP BY u.id HAVING u.balance <> coalesce(sum(l.amount), 0) OR u.balance < 0 ORDER BY u.id`)) {
    log.add({ kind: 'balance-ledger-mismatch', detail: `user ${u.id} has balance ${u.balance} but the ledger sums to ${u.ledger}`, evidence: u });
  }
  for (const r of await q<{ id: number; payments: number }>(
    `SELECT r.id, count(p.id)::int AS payments FROM reservations r LEFT JOIN payments p ON p.reservation_id = r.id
      WHERE r.schedule_id = ? GROUP BY r.id, r.status
     HAVING (r.status = 'CONFIRMED' AND count(p.id) <> 1) OR (r.status <> 'CONFIRMED' AND count(p.id) > 0)`, [input.scheduleId])) {
    log.add({ kind: 'payment-mismatch', detail: `reservation ${r.id} has ${r.payments} payments`, evidence: r });
  }
  for (const s of await q<{ seat_no: number; status: string }>(
    `SELECT st.seat_no, st.status FROM reservations r JOIN seats st ON st.schedule_id = r.schedule_id AND st.seat_no = r.seat_no
      WHERE r.schedule_id = ? AND r.status = 'CONFIRMED' AND (st.status <> 'SOLD' OR st.holder_user_id <> r.user_id)`, [input.scheduleId])) {
    log.add({ kind: 'confirmed-seat-not-sold', detail: `seat ${s.seat_no} is ${s.status} although its reservation is CONFIRMED`, evidence: s });
  }
  const [m] = await q<{ paid: number; debited: number; charged: number; confirmed: number }>(
    `SELECT (SELECT coalesce(sum(amount), 0) FROM payments)::bigint AS paid,
            (SELECT coalesce(-sum(amount), 0) FROM balance_ledger WHERE kind = 'SPEND')::bigint AS debited,
            (SELECT coalesce(sum(amount), 0) FROM balance_ledger WHERE kind IN ('CHARGE', 'REFUND'))::bigint AS charged,
            (SELECT count(*) FROM reservations WHERE schedule_id = ? AND status = 'CONFIRMED')::int AS confirmed`, [input.scheduleId]);
  if (m!.paid !== m!.debited) log.add({ kind: 'payments-ledger-mismatch', detail: `payments sum to ${m!.paid} but ledger debits sum to ${m!.debited}` });
  const overspent = Math.max(0, m!.paid - m!.charged);
  if (overspent > 0) log.add({ kind: 'overspent', detail: `${m!.paid} points paid out of ${m!.charged} ever charged` });
  // okResponses < 0: the caller counts responses itself (journeys mix holds and payments).
  if (input.okResponses >= 0) checkResponsesAgainstRows(log, m!.confirmed, input.okResponses, input.unknownResponses);
  return { oversold: overspent, overspent, capacity: m!.charged, activeReservations: m!.confirmed, violations: log.violations, violationCounts: log.counts };
}
