import { createDb } from '../db/knex.js';
import { dialectOfUrl } from '../db/dialect.js';
import type { Fault, NemesisTargets } from './types.js';
import { noLinks, pickInstanceLinks } from './links.js';

// A network partition between one server instance and the database: its database link becomes a
// blackhole for a while, then heals. The database cannot tell a silent client from a slow one, so
// the cut instance's open transactions keep their row locks for the whole cut; the other instances
// queue behind those locks (pessimistic waits, NOWAIT refuses) or are unaffected (rows not locked).
// On healing the link closes the cut connections: the database sees them end, rolls their
// transactions back and frees the locks. The record says how many transactions and locks were held.
export const partitionDb = {
  name: 'partition-db',
  description: "blackhole one instance's link to the database for a while, then heal",
  needsLinks: true,
  defaults: () => ({ everyMs: 6000, forMs: 3000 }),
  async inject(t, round) {
    const picked = pickInstanceLinks(t, round);
    if (!picked) return noLinks();
    const { instance, links } = picked;
    await links.db.blackhole();
    const atCut = await lockPicture(t);
    return {
      target: `instance ${instance} → database`,
      detail: `blackholed; at the cut ${atCut}`,
      applied: true,
      async heal() {
        const before = await lockPicture(t);
        const { closed } = await links.db.heal();
        await new Promise((r) => setTimeout(r, 300));
        return `before healing ${before}; healed, ${closed} cut connection(s) closed; 0.3 s later ${await lockPicture(t)}`;
      },
    };
  },
} satisfies Fault;

/** The run database's transactions and row locks, read by the lab over its own (unlinked) connection. */
async function lockPicture(t: NemesisTargets): Promise<string> {
  if (dialectOfUrl(t.adminDbUrl) === 'mysql') return mysqlPicture(t);
  const db = createDb({ url: t.adminDbUrl, poolMax: 1, applicationName: 'seatlab-nemesis' });
  try {
    const row = (await db.raw(
      `SELECT count(*) FILTER (WHERE a.state LIKE 'idle in transaction%' OR a.state = 'active') AS in_tx,
              count(*) FILTER (WHERE a.wait_event_type = 'Lock') AS waiting,
              (SELECT count(*) FROM pg_locks l JOIN pg_stat_activity b ON b.pid = l.pid
                 WHERE b.datname = ? AND l.granted AND l.locktype IN ('transactionid', 'tuple')) AS row_locks
         FROM pg_stat_activity a
        WHERE a.datname = ? AND a.application_name LIKE 'seatlab-%' AND a.application_name NOT IN ('seatlab-lab', 'seatlab-nemesis', 'seatlab-ceiling')`,
      [t.dbName, t.dbName])).rows[0] as { in_tx: string; waiting: string; row_locks: string };
    return `${row.in_tx} server backend(s) in a transaction, ${row.waiting} waiting on a lock, ${row.row_locks} transaction/row lock(s) held`;
  } catch (err) {
    return `(lock picture unavailable: ${(err as Error).message})`;
  } finally {
    await db.destroy();
  }
}

async function mysqlPicture(t: NemesisTargets): Promise<string> {
  const db = createDb({ url: t.adminDbUrl, poolMax: 1, applicationName: 'seatlab-nemesis' });
  try {
    const [trx] = (await db.raw(`SELECT count(*) AS n, COALESCE(sum(trx_rows_locked), 0) AS locked, sum(trx_state = 'LOCK WAIT') AS waiting FROM information_schema.INNODB_TRX`)) as unknown as [{ n: number; locked: number; waiting: number }[]];
    const r = trx[0]!;
    return `${r.n} InnoDB transaction(s), ${Number(r.waiting ?? 0)} waiting on a lock, ${r.locked} row(s) locked`;
  } catch (err) {
    return `(lock picture unavailable: ${(err as Error).message})`;
  } finally {
    await db.destroy();
  }
}
