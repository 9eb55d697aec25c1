import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { RedisClient } from './redis-client.js';
import { stopChild } from './chain.js';
import { ping as pingUrl } from './redis.js';

// One redis-server process of a topology (a data node or a Sentinel) that seatlab starts from a
// config file in a temp dir of its own. The config file stays writable: Sentinel rewrites its
// own, and a Sentinel reconfiguring a data node sends it CONFIG REWRITE.

/** Same prefix as src/infra/redis.ts: a later run's stale-dir cleanup finds these too (server.pid). */
export const REDIS_DIR_PREFIX = 'seatlab-redis-';

export interface RedisNode {
  readonly port: number;
  readonly dir: string;
  /** The live process's pid (undefined once killed). */
  readonly pid: number | undefined;
  /** Starts the process from its config file (empty: any RDB left by a full sync is removed first); resolves when it answers PING. */
  start(): Promise<void>;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
  /** SIGTERM (then SIGKILL); resolves when it has exited. */
  stop(): Promise<void>;
  /** A short-lived connection to this node (fails fast, no retries). */
  client(): Redis;
  running(): boolean;
  /** For the exit hook: SIGTERM now, without waiting. */
  terminateNow(): void;
}

export async function makeNodeDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `${REDIS_DIR_PREFIX}${process.pid}-`));
}

/** A node whose config is `conf` (written now), started with `args` after it (e.g. --sentinel). */
export async function redisNode(port: number, dir: string, conf: string, args: string[] = []): Promise<RedisNode> {
  const confFile = path.join(dir, 'redis.conf');
  await writeFile(confFile, conf, { mode: 0o644 });
  let child: ChildProcess | undefined;
  const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
  const client = () => {
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: 1000 });
    r.on('error', () => undefined);
    return r;
  };
  const ping = () => pingUrl(`redis://127.0.0.1:${port}`);
  return {
    port, dir,
    get pid() { return child && !exited(child) ? child.pid : undefined; },
    running: () => Boolean(child && !exited(child)),
    client,
    async start() {
      // Persistence is off, but a replica's full sync may leave an RDB behind: a restart must be empty.
      for (const f of await readdir(dir)) if (f.endsWith('.rdb') || f.startsWith('appendonly')) await rm(path.join(dir, f), { recursive: true, force: true });
      const c = spawn('redis-server', [confFile, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      let stderr = '';
      c.stderr?.on('data', (d) => { stderr = (stderr + String(d)).slice(-4000); });
      // Lets a later run stop this process if ours is killed without a chance to clean up.
      await writeFile(path.join(dir, 'server.pid'), `${c.pid}\n`);
      const deadline = Date.now() + 10_000;
      // Exited is asked first: a port taken by another server may answer for a node that never bound it.
      for (;;) {
        await new Promise((r) => setTimeout(r, 50));
        if (exited(c)) throw new NodeStartError(port, stderr.trim() || (await logTail(dir)) || `code ${c.exitCode}`);
        if (await ping()) break;
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
      }
    },
    async kill() {
      const c = child;
      if (!c || exited(c)) return;
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await gone;
    },
    async stop() {
      if (child) await stopChild(child, 3000);
    },
    terminateNow() {
      if (child && !exited(child)) child.kill('SIGTERM');
    },
  };
}

/** A node that exited before answering PING, with what it said (its stderr, or its log file's last lines). */
export class NodeStartError extends Error {
  constructor(readonly port: number, readonly said: string) {
    super(`redis-server on port ${port} exited: ${said}`);
    this.name = 'NodeStartError';
  }

  /** Its port (or its cluster bus port) was taken between choosing it and binding it: try other ports. */
  get portTaken(): boolean { return /address already in use|could not create server tcp listening socket/i.test(this.said); }
}

/** The last lines of a node's log file, where a config with `logfile` writes why it stopped. */
async function logTail(dir: string): Promise<string> {
  const text = await readFile(path.join(dir, 'redis.log'), 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-3).map((l) => l.replace(/^\d+:[A-Z] [^*#.-]*[*#.-] /, '')).join(' / ');
}

/** INFO <section> as a map of field → value. */
export async function infoOf(r: RedisClient, section: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await r.info(section)).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
