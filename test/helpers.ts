import { spawn } from 'node:child_process';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { inject, onTestFinished } from 'vitest';
import type { Knex } from 'knex';
import { createDb } from '../src/db/knex.js';
import type { Dialect } from '../src/db/dialect.js';
import { createDatabaseFromTemplate, dropDatabase } from '../src/db/databases.js';
import { startServer, type RunningServer } from '../src/server/start.js';
import type { QueueConfig } from '../src/queue/waiting-room.js';

export const SECRET = 'test-secret-0123456789';

/** The stores the contract suite runs on: every strategy, scenario check and payment rule on both. */
export const STORES: readonly Dialect[] = ['pg', 'mysql'];

/** A fresh migrated PostgreSQL database for one test, dropped when the test finishes. */
export async function freshDatabase(): Promise<{ url: string; db: Knex; name: string }> {
  return freshDatabaseOn('pg');
}

/** A fresh migrated database on either store (a copy of that store's template), dropped when the test finishes. */
export async function freshDatabaseOn(dialect: Dialect): Promise<{ url: string; db: Knex; name: string; dialect: Dialect }> {
  const admin = inject(dialect === 'pg' ? 'pgUrl' : 'mysqlUrl');
  const name = `seatlab_t_${randomBytes(5).toString('hex')}`;
  const url = await createDatabaseFromTemplate(admin, name, inject(dialect === 'pg' ? 'pgTemplate' : 'mysqlTemplate'));
  const db = createDb({ url, poolMax: 4 });
  onTestFinished(async () => {
    await db.destroy();
    await dropDatabase(admin, name);
  });
  return { url, db, name, dialect };
}

/** The booking API in this process on a free port, closed when the test finishes. */
export async function startApi(url: string, strategy: string, extra: { strategyOptions?: Record<string, string>; poolSize?: number; redisUrls?: string[]; holdTtlMs?: number; sweepIntervalMs?: number; queue?: QueueConfig; relayIntervalMs?: number; instance?: string } = {}): Promise<RunningServer> {
  const server = await startServer({
    databaseUrl: url, strategy, tokenSecret: SECRET, poolSize: extra.poolSize ?? 20, strategyOptions: extra.strategyOptions, holdTtlMs: extra.holdTtlMs, sweepIntervalMs: extra.sweepIntervalMs ?? 0, queue: extra.queue, relayIntervalMs: extra.relayIntervalMs ?? 0, instance: extra.instance,
    // Keys are prefixed with the test's database name, so tests sharing one Redis never meet.
    redisUrls: extra.redisUrls ?? [inject('redisUrl')], redisKeyPrefix: `${new URL(url).pathname.slice(1)}:`,
  }, () => undefined);
  onTestFinished(() => server.close());
  return server;
}

export async function call(base: string, method: string, path: string, opts: { token?: string; body?: unknown; rawBody?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined || opts.rawBody !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)) });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever JSON the route answered; tests assert on its fields
  let json: any;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
  return { status: res.status, body: json };
}

/** Runs bin/bench.js (the built CLI) with no DATABASE_URL/REDIS_URL from the environment; rejects on timeout. */
export function runBench(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.resolve('bin/bench.js'), ...args], { env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`bench ${args.join(' ')} timed out; stderr: ${stderr}`)); }, opts.timeoutMs ?? 30_000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/**
 * Runs bin/bench.js in a process group of its own and, when stderr first matches `when`, sends
 * SIGINT to the whole group, as Ctrl-C in a terminal does (the servers it started get it too).
 * Resolves when bench exits; on timeout the group is killed (SIGKILL) and the promise rejects.
 */
export function interruptBench(args: string[], when: RegExp, opts: { timeoutMs?: number } = {}): Promise<{ code: number | null; pid: number; stdout: string; stderr: string; interruptedAfter?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.resolve('bin/bench.js'), ...args], { env: { ...process.env, DATABASE_URL: '', REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = child.pid!;
    let stdout = '';
    let stderr = '';
    let interruptedAfter: string | undefined;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (interruptedAfter === undefined && when.test(stderr)) {
        interruptedAfter = stderr;
        process.kill(-pid, 'SIGINT');
      }
    });
    const timer = setTimeout(() => {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`bench ${args.join(' ')} did not exit in time; stderr: ${stderr.slice(-3000)}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, pid, stdout, stderr, interruptedAfter }); });
  });
}
