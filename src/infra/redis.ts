import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { labRedis } from './redis-client.js';
import { freePort, portOpen } from './ports.js';
import { registerCleanup } from './cleanup.js';
import { startRedisContainer } from './docker.js';
import { ephemeralOrContainer, stopChild, type Provisioned } from './chain.js';
import { InfraUnavailableError } from './errors.js';
import { removeStaleDirs } from './postgres.js';

const REDIS_DIR_PREFIX = 'seatlab-redis-';

export type ProvisionedRedis = Provisioned;

export async function provisionRedis(opts: { url?: string } = {}): Promise<ProvisionedRedis> {
  const explicit = opts.url ?? process.env.REDIS_URL;
  if (explicit) {
    if (!(await ping(explicit))) {
      throw new InfraUnavailableError(`cannot reach Redis at ${explicit.replace(/\/\/[^@]*@/, '//***@')}; check --redis-url / REDIS_URL, or leave both unset to start a redis-server from PATH`);
    }
    return { url: explicit, kind: 'url', stop: async () => {} };
  }

  return ephemeralOrContainer({
    ephemeralLabel: 'redis-server from PATH',
    startEphemeral: startRedisServer,
    containerLabel: 'redis container',
    startContainer: startRedisContainer,
    unavailable: (problems) =>
      `No Redis available (${problems}). Give one with --redis-url or REDIS_URL ` +
      `(e.g. redis://127.0.0.1:6379), install redis-server on PATH (apt-get install redis-server) so ` +
      `seatlab can start its own, or run a Docker engine so testcontainers can start redis:7.`,
  });
}

function redisServerOnPath(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function startRedisServer(): Promise<ProvisionedRedis> {
  if (!redisServerOnPath()) throw new Error('redis-server is not on PATH');
  const port = await freePort();
  await removeStaleDirs(REDIS_DIR_PREFIX, 'server.pid', 'SIGTERM');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `${REDIS_DIR_PREFIX}${process.pid}-`));
  const url = `redis://127.0.0.1:${port}`;
  // The current server process. revive() replaces it, and everything below (stop, the exit-time
  // kill, the pid) reads this variable, so they always follow the live child.
  let child: ChildProcess | undefined;
  let stopped = false;
  const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

  const launch = async (): Promise<void> => {
    const c = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dataDir, '--daemonize', 'no', '--loglevel', 'warning'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = c;
    let stderr = '';
    c.stderr?.on('data', (d) => { stderr += String(d); });
    // Lets a later run stop this server if our process is killed without a chance to clean up.
    await writeFile(path.join(dataDir, 'server.pid'), `${c.pid}\n`);
    const deadline = Date.now() + 10_000;
    while (!(await ping(url))) {
      if (exited(c)) throw new Error(`redis-server exited: ${stderr.trim() || `code ${c.exitCode}`}`);
      if (Date.now() > deadline) throw new Error('redis-server did not answer PING within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stopCurrent = async () => {
    if (child) await stopChild(child, 3000);
    await rm(dataDir, { recursive: true, force: true });
  };
  const unregister = registerCleanup(`redis-server on port ${port}`, stopCurrent, () => child?.kill('SIGTERM'));
  try {
    await launch();
  } catch (err) {
    unregister();
    await stopCurrent();
    throw err;
  }
  return {
    url, kind: 'embedded', dataDir, port,
    get pid() { return child?.pid; },
    stop: async () => {
      stopped = true;
      unregister();
      await stopCurrent();
      for (let i = 0; i < 100 && (await portOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
    },
    crash: async () => {
      const c = child;
      if (!c || exited(c)) return;
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await gone;
    },
    revive: async () => {
      if (stopped) throw new Error(`redis-server on port ${port} was stopped; provision a new one instead of reviving it`);
      if (child && !exited(child)) throw new Error(`redis-server on port ${port} is still running (pid ${child.pid}); crash() or stop() it before revive()`);
      // A failed start leaves no server behind: stop() and the exit hook still see `child`.
      try {
        await launch();
      } catch (err) {
        if (child) await stopChild(child, 3000);
        throw err;
      }
    },
  };
}

/** Whether a Redis server answers PING at `url` (one short-lived connection, no retries). */
/** PONG within 3 s: a server that accepts the connection and never answers (not a Redis) is no Redis. */
export async function ping(url: string): Promise<boolean> {
  const r = labRedis(url, { connectTimeout: 3000, commandTimeout: 3000 });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** N independent Redis servers: the given URLs, or N ephemeral ones. Stops what it started if one fails. */
export async function provisionRedisNodes(opts: { urls: string[]; nodes: number }): Promise<ProvisionedRedis[]> {
  const started: ProvisionedRedis[] = [];
  try {
    if (opts.urls.length > 0) {
      for (const url of opts.urls) started.push(await provisionRedis({ url }));
    } else {
      const saved = process.env.REDIS_URL;
      delete process.env.REDIS_URL;
      try {
        for (let i = 0; i < opts.nodes; i++) started.push(await provisionRedis());
      } finally {
        if (saved !== undefined) process.env.REDIS_URL = saved;
      }
    }
    return started;
  } catch (err) {
    for (const s of started) await s.stop().catch(() => undefined);
    throw err;
  }
}
