import { createDb, mysqlConnectionIds } from '../db/knex.js';
import { mysqlAdminConnection } from '../db/databases.js';
import { dialectOfUrl } from '../db/dialect.js';
import type { Fault, NemesisTargets } from './types.js';

// Database connections dropped mid-transaction: pg_terminate_backend (PostgreSQL) or KILL
// CONNECTION (MySQL/MariaDB) on the booking servers' connections to the run's database.
// Transactions in flight roll back; the servers' pools must notice, replace the connections and
// answer 503 meanwhile, never crash.
export const killDbConnections = {
  name: 'kill-db-connections',
  description: "pg_terminate_backend / KILL CONNECTION on the booking servers' database connections",
  defaults: () => ({ everyMs: 2000, forMs: 0 }),
  async inject(t) {
    const { killed, inTx, noun, failed } = dialectOfUrl(t.adminDbUrl) === 'mysql' ? await killMysql(t) : await killPg(t);
    return {
      target: `database ${t.dbName}`,
      detail: `terminated ${killed} ${noun} (${inTx} running a statement or in a transaction)${failed ? `; ${failed}` : ''}`,
      applied: killed > 0,
      heal: async () => '',
    };
  },
} satisfies Fault;

interface Outcome { killed: number; inTx: number; noun: string; failed?: string }

// The lab's own pools in this process; they must survive, or the checker would read nothing.
const LAB_POOLS = ['seatlab-lab', 'seatlab-ceiling', 'seatlab-nemesis'];

async function killPg(t: NemesisTargets): Promise<Outcome> {
  const db = createDb({ url: t.adminDbUrl, poolMax: 1, applicationName: 'seatlab-nemesis' });
  try {
    // Booking servers name their connections seatlab-<strategy>; the lab's own are left alone.
    const rows = (await db.raw(
      `SELECT pid, state, pg_terminate_backend(pid) AS killed FROM pg_stat_activity
        WHERE datname = ? AND pid <> pg_backend_pid() AND application_name LIKE 'seatlab-%'
          AND application_name NOT IN ('seatlab-lab', 'seatlab-ceiling', 'seatlab-nemesis')`, [t.dbName])).rows as { pid: number; state: string | null; killed: boolean }[];
    const killed = rows.filter((r) => r.killed);
    const inTx = killed.filter((r) => r.state === 'active' || r.state?.startsWith('idle in transaction')).length;
    return { killed: killed.length, inTx, noun: 'backends' };
  } finally {
    await db.destroy();
  }
}

// MySQL has no application_name in its process list, so the booking servers' connections are the
// run database's connections minus the lab pools this process opened (by server thread id).
// "In a transaction" is COMMAND = 'Query' (a statement running) or an open InnoDB transaction
// (INNODB_TRX lists one from its first read or lock, not from a bare BEGIN).
async function killMysql(t: NemesisTargets): Promise<Outcome> {
  const ours = new Set(LAB_POOLS.flatMap((name) => [...(mysqlConnectionIds.get(name) ?? [])]));
  // No database selected: the admin URL's database is only a default and need not exist.
  const conn = await mysqlAdminConnection(t.adminDbUrl);
  try {
    const [rows] = await conn.query(
      `SELECT p.ID AS id, p.COMMAND AS command, p.INFO AS info, t.trx_id AS trx
         FROM information_schema.PROCESSLIST p
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
        WHERE p.DB = ? AND p.ID <> CONNECTION_ID()`, [t.dbName]);
    let killed = 0;
    let inTx = 0;
    const errors: string[] = [];
    for (const r of rows as { id: number; command: string; info: string | null; trx: string | null }[]) {
      if (ours.has(Number(r.id))) continue;
      try {
        await conn.query(`KILL CONNECTION ${Number(r.id)}`);
      } catch (err) {
        if ((err as { errno?: number }).errno === 1094) continue; // unknown thread: it closed meanwhile
        errors.push(`${r.id}: ${(err as Error).message}`);
        continue;
      }
      killed++;
      if (r.command === 'Query' || r.info !== null || r.trx !== null) inTx++;
    }
    return { killed, inTx, noun: 'connections', failed: errors.length ? `could not kill ${errors.join(', ')}` : undefined };
  } finally {
    await conn.end().catch(() => undefined);
  }
}
