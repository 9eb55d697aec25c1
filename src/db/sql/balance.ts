// Balance statements: reads under the strategy's lock, guarded debits with their ledger row, charges.
import { applyGuards, fenceToken, lockClause, type RowLock } from './seats.js';
import { atomic, dialect, multi, rows, type Q } from './exec.js';

export interface BalanceRow { balance: number; version: number; fence: number }

export async function selectBalance(q: Q, userId: number, lock: RowLock = 'none'): Promise<BalanceRow | undefined> {
  const [row] = await rows<BalanceRow>(q, { sql: `SELECT balance, version, fence FROM users WHERE id = ?${lockClause(dialect(q), lock)}`, bindings: [userId] });
  return row;
}

export async function fenceAndSelectBalance(q: Q, userId: number): Promise<{ token: number; row: BalanceRow | undefined }> {
  if (dialect(q) === 'mysql') {
    const token = await fenceToken(q);
    return { token, row: await selectBalance(q, userId) };
  }
  const [r] = await rows<BalanceRow & { token: number; present: number | null }>(q, {
    sql: `SELECT nextval('fence_seq')::bigint AS token, u.id AS present, u.balance, u.version, u.fence
            FROM (SELECT 1) one LEFT JOIN users u ON u.id = ?`,
    bindings: [userId],
  });
  const { token, present, ...row } = r!;
  return { token, row: present === null ? undefined : row };
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

/** Debits the balance and writes the SPEND ledger row atomically; null = the guard refused. */
export async function debit(q: Q, p: { userId: number; amount: number; ref: string } & DebitGuard): Promise<{ balance: number } | null> {
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
  return ledgerWrite(q, { set, where: where.join(' AND '), bindings: [...setB, ...whereB], userId: p.userId, kind: 'SPEND', amount: -p.amount, ref: p.ref });
}

/** Adds points and writes the CHARGE ledger row atomically; null when there is no such user. */
export function charge(q: Q, userId: number, amount: number): Promise<{ balance: number } | null> {
  return ledgerWrite(q, { set: 'balance = balance + ?, version = version + 1', where: 'id = ?', bindings: [amount, userId], userId, kind: 'CHARGE', amount, ref: 'charge' });
}

/** The balance update and its ledger row: one statement on PostgreSQL, a transaction of three on MySQL. */
async function ledgerWrite(q: Q, w: { set: string; where: string; bindings: (number | string)[]; userId: number; kind: 'SPEND' | 'CHARGE'; amount: number; ref: string }): Promise<{ balance: number } | null> {
  if (dialect(q) === 'pg') {
    const [row] = await rows<{ balance: number }>(q, {
      sql: `
WITH u AS (UPDATE users SET ${w.set} WHERE ${w.where} RETURNING id, balance),
l AS (INSERT INTO balance_ledger (user_id, kind, amount, ref) SELECT u.id, '${w.kind}', ?, ? FROM u)
SELECT balance FROM u`,
      bindings: [...w.bindings, w.amount, w.ref],
    });
    return row ?? null;
  }
  // MySQL: one round trip — the guarded update, the ledger row only if it matched (ROW_COUNT()),
  // and the balance it left — in the caller's transaction or a new one.
  return atomic(q, async (trx) => {
    const res = await multi(trx, {
      sql: `UPDATE users SET ${w.set} WHERE ${w.where};
            SET @seatlab_n = ROW_COUNT();
            INSERT INTO balance_ledger (user_id, kind, amount, ref) SELECT ?, '${w.kind}', ?, ? FROM DUAL WHERE @seatlab_n > 0;
            SELECT @seatlab_n AS updated, balance FROM users WHERE id = ?`,
      bindings: [...w.bindings, w.userId, w.amount, w.ref, w.userId],
    });
    const [row] = res[3] as { updated: number; balance: number }[];
    return row && Number(row.updated) > 0 ? { balance: row.balance } : null;
  });
}
