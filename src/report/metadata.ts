import os from 'node:os';
import { execFileSync } from 'node:child_process';
import type { Knex } from 'knex';
import { Redis } from 'ioredis';

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

const PG_SETTINGS = ['max_connections', 'synchronous_commit', 'shared_buffers', 'fsync', 'wal_level', 'default_transaction_isolation'];

export async function postgresInfo(db: Knex, kind: string): Promise<PostgresInfo> {
  const version = ((await db.raw('SHOW server_version')) as { rows: { server_version: string }[] }).rows[0]!.server_version;
  const rows = ((await db.raw('SELECT name, setting, unit FROM pg_settings WHERE name = ANY(?)', [PG_SETTINGS])) as {
    rows: { name: string; setting: string; unit: string | null }[];
  }).rows;
  const settings: Record<string, string> = {};
  for (const r of rows) settings[r.name] = r.name === 'shared_buffers' && r.unit === '8kB' ? `${(Number(r.setting) * 8) / 1024}MB` : r.setting;
  return { version, kind, settings };
}

export async function redisInfo(url: string, kind: string): Promise<{ version: string; kind: string; settings: Record<string, string> }> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
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

// MINIMAL STAND-IN (store-cli branch) so the report compiles: the mysql-infra branch owns storeInfo
// and its version replaces this one.
export interface StoreInfo {
  engine: 'postgresql' | 'mysql' | 'mariadb';
  version: string;
  kind: string;
  isolation: string;
  settings: Record<string, string>;
}

export async function storeInfo(db: Knex, kind: string): Promise<StoreInfo> {
  const client = (db as unknown as { client: { config: { client: unknown } } }).client.config.client;
  if (client !== 'mysql2') {
    const pg = await postgresInfo(db, kind);
    return { engine: 'postgresql', version: pg.version, kind, isolation: pg.settings.default_transaction_isolation ?? 'read committed', settings: pg.settings };
  }
  const [rows] = (await db.raw('SELECT VERSION() AS v, @@innodb_lock_wait_timeout AS lwt, @@max_connections AS mc')) as unknown as [{ v: string; lwt: unknown; mc: unknown }[]];
  const r = rows[0]!;
  let isolation = 'unknown';
  for (const v of ['@@transaction_isolation', '@@tx_isolation']) {
    try {
      const [x] = (await db.raw(`SELECT ${v} AS i`)) as unknown as [{ i: string }[]];
      isolation = x[0]!.i;
      break;
    } catch { /* the other name */ }
  }
  return { engine: /mariadb/i.test(r.v) ? 'mariadb' : 'mysql', version: r.v, kind, isolation,
    settings: { innodb_lock_wait_timeout: String(r.lwt), max_connections: String(r.mc) } };
}
