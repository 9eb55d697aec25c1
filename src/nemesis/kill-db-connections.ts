import { createDb } from '../db/knex.js';
import type { Fault } from './types.js';

// Database connections dropped mid-transaction: pg_terminate_backend on the booking servers'
// backends of the run's database. Transactions in flight roll back; the servers' pools must
// notice, replace the connections and answer 503 meanwhile, never crash.
export const killDbConnections = {
  name: 'kill-db-connections',
  description: "pg_terminate_backend on the booking servers' PostgreSQL connections",
  defaults: () => ({ everyMs: 2000, forMs: 0 }),
  async inject(t) {
    const db = createDb({ url: t.adminDbUrl, poolMax: 1, applicationName: 'seatlab-nemesis' });
    try {
      // Booking servers name their connections seatlab-<strategy>; the lab's own are left alone.
      const rows = (await db.raw(
        `SELECT pid, state, pg_terminate_backend(pid) AS killed FROM pg_stat_activity
          WHERE datname = ? AND pid <> pg_backend_pid() AND application_name LIKE 'seatlab-%'
            AND application_name NOT IN ('seatlab-lab', 'seatlab-ceiling', 'seatlab-nemesis')`, [t.dbName])).rows as { pid: number; state: string | null; killed: boolean }[];
      const killed = rows.filter((r) => r.killed);
      const inTx = killed.filter((r) => r.state === 'active' || r.state?.startsWith('idle in transaction')).length;
      return {
        target: `database ${t.dbName}`,
        detail: `terminated ${killed.length} backends (${inTx} running a statement or in a transaction)`,
        applied: killed.length > 0,
        heal: async () => '',
      };
    } finally {
      await db.destroy();
    }
  },
} satisfies Fault;
