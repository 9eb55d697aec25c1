import type { Dialect } from '../db/dialect.js';
import { dialectOfUrl } from '../db/dialect.js';
import type { Provisioned } from './chain.js';
import { InfraUnavailableError } from './errors.js';
import { maskUrl, provisionMysql } from './mysql.js';
import { provisionPostgres, type Durability } from './postgres.js';

// One provisioner per store dialect; Record<Dialect, …> makes a new dialect a compile error until
// it has one. The URL they return is an admin URL: runs create and drop their databases on it.
// durability is PostgreSQL's (synchronous_commit); the MySQL provisioner has no such option yet.
type ProvisionOptions = { url?: string; log?: (line: string) => void; durability?: Durability };

const PROVISIONERS: Record<Dialect, (opts: ProvisionOptions) => Promise<Provisioned>> = {
  pg: provisionPostgres,
  mysql: provisionMysql,
};

export async function provisionStore(dialect: Dialect, opts: ProvisionOptions = {}): Promise<Provisioned & { dialect: Dialect }> {
  if (opts.url !== undefined) {
    let given: Dialect;
    try {
      given = dialectOfUrl(opts.url);
    } catch (err) {
      throw new InfraUnavailableError(`the database URL ${maskUrl(opts.url)} is neither PostgreSQL nor MySQL; expected postgres://, postgresql://, mysql:// or mariadb://`, { cause: err });
    }
    if (given !== dialect) {
      throw new InfraUnavailableError(`the database URL is a ${given === 'pg' ? 'PostgreSQL' : 'MySQL'} URL, but the ${dialect === 'pg' ? 'PostgreSQL' : 'MySQL'} store was asked for; give one URL per store`);
    }
  }
  // Object.assign, not a spread: a server's pid is a getter that follows revive().
  return Object.assign(await PROVISIONERS[dialect]({ url: opts.url, log: opts.log, durability: opts.durability }), { dialect });
}
