import os from 'node:os';
import { execFileSync } from 'node:child_process';
import type { Knex } from 'knex';
import { dialectOf, rawRows } from '../db/dialect.js';
import type { Durability } from '../infra/postgres.js';
import { redisFromUrl } from '../infra/redis-client.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memGiB: number;
  node: string;
  os: string;
  loadAvg1m: number;
  note: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  const cores = cpus.length;
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAvg1m: Math.round(os.loadavg()[0]! * 100) / 100,
    note: `load generator, booking server, PostgreSQL and Redis share these ${cores} cores; compare strategies within one run, not absolute numbers across machines`,
  };
}

export function gitInfo(cwd: string): { commit: string | null; dirty: boolean | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return { commit: null, dirty: null };
  }
}

export interface PostgresInfo {
  version: string;
  kind: string;
  settings: Record<string, string>;
}

// synchronous_commit and the WAL writer's timing decide what a crash can lose (--db-durability).
const PG_SETTINGS = ['max_connections', 'synchronous_commit', 'wal_writer_delay', 'wal_writer_flush_after', 'shared_buffers', 'fsync', 'wal_level', 'default_transaction_isolation'];

/** A setting in the units people write it in: 256MB, 10000ms, 1MB. */
function pgSetting(r: { setting: string; unit: string | null }): string {
  if (r.unit === '8kB') return `${(Number(r.setting) * 8) / 1024}MB`;
  if (r.unit === 'ms' || r.unit === 's') return `${r.setting}${r.unit}`;
  return r.setting;
}

export async function postgresInfo(db: Knex, kind: string): Promise<PostgresInfo> {
  const version = ((await db.raw('SHOW server_version')) as { rows: { server_version: string }[] }).rows[0]!.server_version;
  const rows = ((await db.raw('SELECT name, setting, unit FROM pg_settings WHERE name = ANY(?)', [PG_SETTINGS])) as {
    rows: { name: string; setting: string; unit: string | null }[];
  }).rows;
  const settings: Record<string, string> = {};
  for (const r of rows) settings[r.name] = pgSetting(r);
  return { version, kind, settings };
}

export interface StoreInfo {
  engine: 'postgresql' | 'mysql' | 'mariadb';
  version: string;
  kind: string;
  /** The isolation level new transactions get, in PostgreSQL's words on both stores ("read committed", "repeatable read"). */
  isolation: string;
  /**
   * PostgreSQL only, as the server runs (--db-durability): full when a commit waits for its WAL to
   * be flushed (synchronous_commit on, local, remote_*), async when it does not (off).
   */
  durability?: Durability;
  settings: Record<string, string>;
}

// The InnoDB settings that change how contention plays out; one a server lacks (older MariaDB has
// no innodb_deadlock_detect) is left out, not reported as unknown.
const MYSQL_SETTINGS = [
  'innodb_lock_wait_timeout', 'innodb_autoinc_lock_mode', 'innodb_buffer_pool_size',
  'innodb_flush_log_at_trx_commit', 'max_connections', 'innodb_deadlock_detect', 'innodb_snapshot_isolation',
];

/** Which store answered, its version, isolation level and the settings that matter for locking. */
export async function storeInfo(db: Knex, kind: string): Promise<StoreInfo> {
  if (dialectOf(db) === 'pg') {
    const info = await postgresInfo(db, kind);
    return { engine: 'postgresql', ...info, isolation: info.settings.default_transaction_isolation ?? 'unknown', durability: info.settings.synchronous_commit === 'off' ? 'async' : 'full' };
  }
  const version = (await rawRows<{ v: string }>(db, 'SELECT VERSION() AS v'))[0]!.v;
  const rows = await rawRows<{ Variable_name: string; Value: string }>(db,
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${MYSQL_SETTINGS.map(() => '?').join(', ')})`, MYSQL_SETTINGS);
  const settings: Record<string, string> = {};
  for (const r of rows) {
    settings[r.Variable_name] = r.Variable_name === 'innodb_buffer_pool_size' ? `${Number(r.Value) / 2 ** 20}MB` : r.Value;
  }
  return { engine: /mariadb/i.test(version) ? 'mariadb' : 'mysql', version, kind, isolation: await mysqlIsolation(db), settings };
}

// The session's level, which is the server default unless the pool sets one. MySQL 8 and
// MariaDB 11.1+ call it transaction_isolation; MariaDB 10.x only tx_isolation.
async function mysqlIsolation(db: Knex): Promise<string> {
  for (const name of ['transaction_isolation', 'tx_isolation']) {
    try {
      const v = (await rawRows<{ v: string }>(db, `SELECT @@${name} AS v`))[0]?.v;
      if (v) return v.toLowerCase().replace(/-/g, ' ');
    } catch {
      // unknown system variable on this server: try the other name
    }
  }
  return 'unknown';
}

export async function redisInfo(url: string, kind: string): Promise<{ version: string; kind: string; settings: Record<string, string> }> {
  const r = redisFromUrl(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const info = await r.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    const cfg = (await r.config('GET', 'appendonly')) as string[];
    return { version, kind, settings: { appendonly: cfg[1] ?? 'unknown' } };
  } finally {
    r.disconnect();
  }
}
