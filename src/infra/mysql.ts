import { mysqlAdminConnection } from '../db/databases.js';
import { registerCleanup } from './cleanup.js';
import { dockerEngineReachable, startMysqlContainer } from './docker.js';
import type { Provisioned } from './chain.js';
import { InfraUnavailableError, describeCause } from './errors.js';

// MySQL/MariaDB, found in DESIGN §5's order minus the ephemeral step: no embedded MySQL installs
// from npm without downloading server binaries. So: an explicit URL, else a testcontainer where a
// Docker engine answers, else one error naming both. The URL is an admin URL (CREATE/DROP
// DATABASE); the database in its path is only a default and need not exist.

const IMAGES = ['mysql:8.4', 'mariadb:11'] as const;
const REACH_TIMEOUT_MS = 5000;

export async function provisionMysql(opts: { url?: string; log?: (line: string) => void } = {}): Promise<Provisioned> {
  const explicit = opts.url ?? process.env.MYSQL_URL;
  if (explicit) {
    await assertMysqlReachable(explicit);
    return { url: explicit, kind: 'url', stop: async () => {} };
  }

  const problems: string[] = [];
  if (await dockerEngineReachable()) {
    for (const image of IMAGES) {
      try {
        opts.log?.(`starting ${image} with testcontainers`);
        const c = await startMysqlContainer(image);
        const unregister = registerCleanup(`${image} container`, () => c.stop());
        return { url: c.url, kind: 'testcontainers', stop: async () => { unregister(); await c.stop(); } };
      } catch (err) {
        problems.push(`testcontainers ${image} failed: ${describeCause(err)}`);
      }
    }
  } else {
    problems.push('no Docker engine answered for testcontainers');
  }
  throw new InfraUnavailableError(
    `No MySQL available (${problems.join('; ')}). Give one with --database-url ` +
    `mysql://root@127.0.0.1:3306/seatlab or MYSQL_URL (MariaDB works too), or run a Docker engine so ` +
    `testcontainers can start ${IMAGES[0]}. There is no embedded MySQL.`);
}

/** The URL with its password replaced, fit for a message. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a valid URL)';
  }
}

/** An explicit URL that does not answer within 5 s is "infrastructure unavailable" (exit 2), not a crash later on. */
async function assertMysqlReachable(url: string): Promise<void> {
  const safe = maskUrl(url);
  try {
    new URL(url);
  } catch {
    throw new InfraUnavailableError(`the MySQL URL ${JSON.stringify(safe)} is not a valid URL; expected e.g. mysql://root@127.0.0.1:3306/seatlab`);
  }
  let timer: NodeJS.Timeout | undefined;
  const check = (async () => {
    const conn = await mysqlAdminConnection(url, REACH_TIMEOUT_MS);
    try {
      await conn.query('SELECT 1');
    } finally {
      conn.destroy();
    }
  })();
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${REACH_TIMEOUT_MS / 1000} s`)), REACH_TIMEOUT_MS);
  });
  try {
    await Promise.race([check, deadline]);
  } catch (err) {
    check.catch(() => undefined); // a late failure after the deadline is already reported
    throw new InfraUnavailableError(
      `cannot connect to MySQL at ${safe} (${describeCause(err)}); check --database-url / MYSQL_URL, ` +
      `or leave both unset to let testcontainers start ${IMAGES[0]} where a Docker engine runs`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
