import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { StrategyDeps } from '../../src/core/ports.js';

// Store ceilings: one unit of a strategy's core statements, straight against PostgreSQL / Redis,
// with no HTTP and no booking core — what pgbench or redis-benchmark would show. Writes are rolled
// back so the measured database is left as it was.

export interface CeilingFixture { scheduleId: number; seatCount: number }
export type CeilingOp = () => Promise<void>;

const pick = (f: CeilingFixture) => 1 + Math.floor(Math.random() * f.seatCount);

async function rolledBack(db: Knex, fn: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
  const trx = await db.transaction();
  try {
    await fn(trx);
  } finally {
    await trx.rollback();
  }
}

/** SELECT … FOR UPDATE [NOWAIT] + UPDATE of a random seat, in a transaction. */
export const rowLockCeiling = (nowait: boolean) => ({ db }: StrategyDeps, f: CeilingFixture): CeilingOp => () =>
  rolledBack(db, async (trx) => {
    const seatNo = pick(f);
    await trx.raw(`SELECT id, status FROM seats WHERE schedule_id = ? AND seat_no = ? FOR UPDATE${nowait ? ' NOWAIT' : ''}`, [f.scheduleId, seatNo]).catch(() => undefined);
    await trx.raw('UPDATE seats SET version = version + 1 WHERE schedule_id = ? AND seat_no = ?', [f.scheduleId, seatNo]).catch(() => undefined);
  });

/** A plain read, then a guarded UPDATE (autocommit in the strategy; rolled back here). */
export const readWriteCeiling = ({ db }: StrategyDeps, f: CeilingFixture): CeilingOp => async () => {
  const seatNo = pick(f);
  const row = (await db.raw('SELECT id, version FROM seats WHERE schedule_id = ? AND seat_no = ?', [f.scheduleId, seatNo])).rows[0] as { id: number; version: number };
  await rolledBack(db, async (trx) => {
    await trx.raw('UPDATE seats SET version = version + 1 WHERE id = ? AND version = ?', [row.id, row.version]);
  });
};

/** A Redis lock round trip (SET NX PX + DEL) on every node, then the row-lock ceiling. */
export const lockThenRowCeiling = (withRowLock: boolean) => (deps: StrategyDeps, f: CeilingFixture): CeilingOp => {
  const rows = withRowLock ? rowLockCeiling(false)(deps, f) : readWriteCeiling(deps, f);
  return async () => {
    const key = `seatlab:ceiling:{s${f.scheduleId}}:${pick(f)}:${Math.random()}`;
    await Promise.all(deps.redis.map((r: Redis) => r.set(key, '1', 'PX', 1000, 'NX')));
    await rows();
    await Promise.all(deps.redis.map((r: Redis) => r.del(key)));
  };
};

/** The Redis pre-check alone (read-only equivalent of the claim script). */
export const redisPrecheckCeiling = ({ redis }: StrategyDeps, f: CeilingFixture): CeilingOp => async () => {
  const tag = `seatlab:{s${f.scheduleId}}`;
  await redis[0]!.eval(`return {redis.call('HEXISTS', KEYS[1], ARGV[1]), redis.call('GET', KEYS[2])}`, 2, `${tag}:claims`, `${tag}:seat-count`, pick(f));
};
