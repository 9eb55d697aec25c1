import type { Sql } from './seats.js';
import { applyGuards, lockClause, type RowLock } from './seats.js';

export interface BalanceRow { balance: number; version: number; fence: number }

export function selectBalance(userId: number, lock: RowLock = 'none'): Sql {
  return { sql: `SELECT balance, version, fence FROM users WHERE id = ?${lockClause(lock)}`, bindings: [userId] };
}

export function fenceAndSelectBalance(userId: number): Sql {
  return {
    sql: `SELECT nextval('fence_seq')::bigint AS token, u.balance, u.version, u.fence
            FROM (SELECT 1) one LEFT JOIN users u ON u.id = ?`,
    bindings: [userId],
  };
}

export interface DebitGuard {
  /**
   * 'conditional': balance = balance - amount WHERE balance >= amount (the database decides).
   * { setFrom }: balance = what the caller read minus amount (read-modify-write; safe only under a lock).
   */
  mode: 'conditional' | { setFrom: number };
  expectVersion?: number;
  fenceToken?: number;
}

/** Debits the balance and writes the SPEND ledger row in one statement; no row back = the guard refused. */
export function debit(p: { userId: number; amount: number; ref: string } & DebitGuard): Sql {
  const where = ['id = ?'];
  const whereB: (number | string)[] = [p.userId];
  const setB: (number | string)[] = [];
  let set: string;
  if (p.mode === 'conditional') {
    set = 'balance = balance - ?';
    setB.push(p.amount);
    where.push('balance >= ?');
    whereB.push(p.amount);
  } else {
    set = 'balance = ?';
    setB.push(p.mode.setFrom - p.amount);
  }
  set += ', version = version + 1' + applyGuards(p, where, whereB, setB);
  return {
    sql: `
WITH u AS (UPDATE users SET ${set} WHERE ${where.join(' AND ')} RETURNING id, balance),
l AS (INSERT INTO balance_ledger (user_id, kind, amount, ref) SELECT u.id, 'SPEND', ?, ? FROM u)
SELECT balance FROM u`,
    bindings: [...setB, ...whereB, -p.amount, p.ref],
  };
}

/** Adds points and writes the CHARGE ledger row in one statement. */
export function charge(userId: number, amount: number): Sql {
  return {
    sql: `
WITH u AS (UPDATE users SET balance = balance + ?, version = version + 1 WHERE id = ? RETURNING id, balance),
l AS (INSERT INTO balance_ledger (user_id, kind, amount, ref) SELECT u.id, 'CHARGE', ?, 'charge' FROM u)
SELECT balance FROM u`,
    bindings: [amount, userId, amount],
  };
}
