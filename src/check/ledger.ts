import type { ViolationLog } from './violations.js';

// One user's money, read as a history: the ledger in id order is the order the changes committed
// (every ledger row of a user is written in the same statement that updates, and so row-locks, that
// user's row; the lock is held to commit, so a later id cannot commit first). checkBalance in
// balance.ts looks at end totals for every user; this looks at the path one user's balance took,
// which catches a lost update that the end totals can hide. Kinds reuse balance.ts's names where
// the rule is the same. Spending beyond the balance is `overspent`, never `oversold`.

export interface LedgerEntry { id: number; kind: string; amount: number; ref: string | null }
export interface PaymentRow { id: number; reservationId: number; userId: number; amount: number }

export interface UserMoney {
  userId: number;
  /** users.balance now. */
  balance: number;
  /** Every ledger row of the user, in id order. */
  ledger: LedgerEntry[];
  /** Every payment of the user, any schedule. */
  payments: PaymentRow[];
}

export interface UserMoneyResult {
  /** How far below zero the running balance went at its lowest (0 if never). */
  overspent: number;
  ledgerSum: number;
}

/** A SPEND's ref names the reservation it paid for ("reservation:42"); see SpendCommand.ref. */
const reservationOf = (ref: string | null) => (ref?.startsWith('reservation:') ? Number(ref.slice('reservation:'.length)) : null);

export function checkUserMoney(log: ViolationLog, m: UserMoney): UserMoneyResult {
  const ledger = [...m.ledger].sort((a, b) => a.id - b.id);
  let sum = 0;
  let lowest: { sum: number; ledgerId: number } | null = null;
  let firstNegative: LedgerEntry | null = null;
  for (const e of ledger) {
    sum += e.amount;
    if (sum < 0 && (lowest === null || sum < lowest.sum)) lowest = { sum, ledgerId: e.id };
    if (sum < 0 && !firstNegative) firstNegative = e;
  }
  if (lowest && firstNegative) {
    log.add({
      kind: 'negative-balance',
      detail: `user ${m.userId}: the running balance went below zero at ledger row ${firstNegative.id} and reached ${lowest.sum} at row ${lowest.ledgerId}`,
      evidence: { userId: m.userId, firstNegativeLedgerId: firstNegative.id, lowest },
    });
  }
  if (m.balance !== sum) {
    log.add({ kind: 'balance-ledger-mismatch', detail: `user ${m.userId} has balance ${m.balance} but the ledger sums to ${sum}`, evidence: { userId: m.userId, balance: m.balance, ledger: sum } });
  }

  // Pair SPEND rows with payments through the reservation they name: the counts and the amounts
  // must agree one for one, not only in total.
  const spends = ledger.filter((e) => e.kind === 'SPEND');
  const byReservation = new Map<number, LedgerEntry[]>();
  const unnamed: LedgerEntry[] = [];
  for (const s of spends) {
    const rid = reservationOf(s.ref);
    if (rid === null) unnamed.push(s);
    else (byReservation.get(rid) ?? byReservation.set(rid, []).get(rid)!).push(s);
  }
  const mismatch = (detail: string, evidence: unknown) => log.add({ kind: 'payments-ledger-mismatch', detail: `user ${m.userId}: ${detail}`, evidence });
  for (const p of m.payments) {
    const s = byReservation.get(p.reservationId)?.shift();
    if (!s) mismatch(`payment ${p.id} for reservation ${p.reservationId} has no SPEND ledger row`, { payment: p });
    else if (-s.amount !== p.amount) mismatch(`payment ${p.id} is ${p.amount} points but its ledger row ${s.id} spends ${-s.amount}`, { payment: p, ledger: s });
  }
  for (const s of [...[...byReservation.values()].flat(), ...unnamed]) {
    mismatch(`ledger row ${s.id} spends ${-s.amount} points (${s.ref ?? 'no ref'}) with no payment for it`, { ledger: s });
  }
  return { overspent: lowest ? -lowest.sum : 0, ledgerSum: sum };
}
