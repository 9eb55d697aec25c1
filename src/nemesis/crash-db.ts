import { performance } from 'node:perf_hooks';
import { createDb } from '../db/knex.js';
import { dialectOfUrl } from '../db/dialect.js';
import type { Fault, NemesisTargets } from './types.js';

// A database server that crashes: SIGKILL the run's PostgreSQL (the postmaster and every backend
// and helper process) mid-load, and start it again at once on the same data directory. Crash
// recovery replays the WAL that reached the OS; what was still in PostgreSQL's own buffers is gone.
// With synchronous_commit on nothing acknowledged can be in that tail; with it off
// (--db-durability async) acknowledged commits can, and the history checker counts them as lost
// acknowledgements. The booking servers see their connections drop and refused while it is down:
// errors and unknown outcomes, never a crash.
export const crashDb = {
  name: 'crash-db',
  description: "SIGKILL the run's PostgreSQL (postmaster and every backend) and start it again on the same data directory",
  defaults: () => ({ everyMs: 5000, forMs: 0 }),
  async inject(t) {
    const db = t.db;
    if (!db?.crash || !db.revive) {
      const what = dialectOfUrl(t.adminDbUrl) === 'mysql' ? 'a MySQL/MariaDB store' : db?.kind === 'url' ? 'a PostgreSQL given by URL' : `a ${db?.kind ?? 'unknown'} PostgreSQL`;
      return { target: 'none', detail: `${what} has no processes seatlab started, so none it may kill; crash-db needs the embedded PostgreSQL (no --database-url)`, applied: false, heal: async () => '' };
    }
    const window = await unwrittenWal(t);
    const killedAt = performance.now();
    const crashed = await db.crash();
    const pids = crashed?.pids ?? [];
    const killMs = Math.round(performance.now() - killedAt);
    return {
      target: `PostgreSQL on port ${db.port} (postmaster pid ${pids[0] ?? '?'})`,
      detail: `SIGKILL ${pids.length} processes (pids ${pids.join(', ')}), all gone in ${killMs} ms; ${window}`,
      applied: pids.length > 0,
      async heal() {
        const revived = await db.revive!();
        const downMs = Math.round(performance.now() - killedAt);
        const said = recoverySummary(revived?.log ?? []);
        return `started again as pid ${db.pid}, accepting connections ${downMs} ms after the kill${said ? `; recovery: ${said}` : ''}`;
      },
    };
  },
} satisfies Fault;

/**
 * How much WAL the server had inserted but not yet written to the OS just before the kill: the
 * most a process crash can lose (fsync does not matter here; the OS keeps what it was given).
 */
async function unwrittenWal(t: NemesisTargets): Promise<string> {
  const db = createDb({ url: t.adminDbUrl, poolMax: 1, applicationName: 'seatlab-nemesis' });
  try {
    const r = (await db.raw(`SELECT pg_current_wal_insert_lsn() AS inserted, pg_current_wal_lsn() AS written, pg_current_wal_flush_lsn() AS flushed,
      pg_wal_lsn_diff(pg_current_wal_insert_lsn(), pg_current_wal_lsn())::bigint AS unwritten, current_setting('synchronous_commit') AS sc`)).rows[0] as
      { inserted: string; written: string; flushed: string; unwritten: number; sc: string };
    return `just before: WAL inserted to ${r.inserted}, written to the OS to ${r.written} (${r.unwritten} bytes unwritten), flushed to ${r.flushed}; synchronous_commit=${r.sc}`;
  } catch (err) {
    return `WAL positions not read (${(err as Error).message})`;
  } finally {
    await db.destroy();
  }
}

/** What crash recovery said, in its own words: where redo started and ended, and why it stopped. */
export function recoverySummary(log: readonly string[]): string {
  const wanted = [/redo starts at/, /redo done at/, /invalid record|invalid magic number|incorrect prev-link|unexpected pageaddr|contrecord/, /redo is not required/];
  return log.filter((l) => wanted.some((re) => re.test(l)))
    .map((l) => l.replace(/^.*?LOG:\s+/, '').replace(/ system usage:.*$/, ''))
    .join('; ');
}
