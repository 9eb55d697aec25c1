import type { Dialect } from '../db/dialect.js';
import { dialectOfUrl } from '../db/dialect.js';
import type { Provisioned } from './chain.js';
import { InfraUnavailableError } from './errors.js';
import { provisionPostgres } from './postgres.js';

// MINIMAL STAND-IN (store-cli branch) so the CLI compiles: the mysql-infra branch owns this file and
// its version (MYSQL_URL → testcontainers → a clear error, with reachability checks) replaces it.

export async function provisionStore(dialect: Dialect, opts: { url?: string; log?: (l: string) => void }): Promise<Provisioned & { dialect: Dialect }> {
  if (dialect === 'pg') {
    // DATABASE_URL is a fallback for its own dialect only: a mysql:// one must not be taken for PostgreSQL.
    const env = process.env.DATABASE_URL;
    const envIsOther = !opts.url && env && (() => { try { return dialectOfUrl(env) !== 'pg'; } catch { return false; } })();
    if (envIsOther) delete process.env.DATABASE_URL;
    try {
      return { ...(await provisionPostgres(opts)), dialect };
    } finally {
      if (envIsOther) process.env.DATABASE_URL = env;
    }
  }
  const url = opts.url ?? process.env.MYSQL_URL;
  if (!url) {
    throw new InfraUnavailableError('No MySQL/MariaDB available: give one with --database-url mysql://… (or MYSQL_URL), or run a Docker engine so testcontainers can start mysql:8');
  }
  return { url, kind: 'url', dialect, stop: async () => {} };
}
