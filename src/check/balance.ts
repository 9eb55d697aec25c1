import type { Knex } from 'knex';
import * as sql from '../db/sql/checks.js';
import { ViolationLog, checkResponsesAgainstRows, type CheckInput, type CheckResult } from './violations.js';

export interface BalanceCheckResult extends CheckResult { overspent: number }

/**
 * Money is conserved: every balance equals the sum of its ledger and is never negative; every
 * CONFIRMED reservation has exactly one payment and its seat SOLD; payments equal ledger debits.
 * `oversold` here is points spent beyond what was ever charged.
 */
export async function checkBalance(db: Knex, input: CheckInput): Promise<BalanceCheckResult> {
  const log = new ViolationLog();

  for (const u of await sql.balanceLedgerMismatches(db)) {
    log.add({ kind: 'balance-ledger-mismatch', detail: `user ${u.id} has balance ${u.balance} but the ledger sums to ${u.ledger}`, evidence: u });
  }
  for (const r of await sql.paymentMismatches(db, input.scheduleId)) {
    log.add({ kind: 'payment-mismatch', detail: `reservation ${r.id} has ${r.payments} payments`, evidence: r });
  }
  for (const s of await sql.confirmedSeatsNotSold(db, input.scheduleId)) {
    log.add({ kind: 'confirmed-seat-not-sold', detail: `seat ${s.seat_no} is ${s.status} although its reservation is CONFIRMED`, evidence: s });
  }
  const m = await sql.moneyTotals(db, input.scheduleId);
  if (m.paid !== m.debited) log.add({ kind: 'payments-ledger-mismatch', detail: `payments sum to ${m.paid} but ledger debits sum to ${m.debited}` });
  const overspent = Math.max(0, m.paid - m.charged);
  if (overspent > 0) log.add({ kind: 'overspent', detail: `${m.paid} points paid out of ${m.charged} ever charged` });
  // okResponses < 0: the caller counts responses itself (journeys mix holds and payments).
  if (input.okResponses >= 0) checkResponsesAgainstRows(log, m.confirmed, input.okResponses, input.unknownResponses);
  return { oversold: overspent, overspent, capacity: m.charged, activeReservations: m.confirmed, violations: log.violations, violationCounts: log.counts };
}
