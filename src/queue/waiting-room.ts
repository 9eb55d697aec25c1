import { Cluster } from 'ioredis';
import type { RedisClient } from '../core/ports.js';
import { ADMIT, JOIN, RELEASE, STATUS } from './scripts.js';

export interface QueueConfig {
  /** At most this many ACTIVE users per schedule. */
  maxActive: number;
  /** At most this many admissions per schedule in any sliding second. */
  ratePerSec: number;
  /** An ACTIVE slot that is not used (paid, cancelled) within this time is given up. */
  activeTtlMs: number;
  /** How often the admitter runs. */
  tickMs?: number;
}

export type QueueStatus = 'WAITING' | 'ACTIVE' | 'NONE';

export interface QueuePlace {
  status: QueueStatus;
  /** Place in line (1 = next); 0 when ACTIVE. */
  position: number;
  /** The order of joining: unique and gap-free per schedule. */
  joinNumber: number;
  etaSeconds: number;
}

export function queueKeys(scheduleId: number) {
  const tag = `seatlab:queue:{q${scheduleId}}`;
  return { waiting: `${tag}:waiting`, active: `${tag}:active`, seq: `${tag}:seq`, joins: `${tag}:joins`, admitted: `${tag}:admitted`, released: `${tag}:released` };
}
const SCHEDULES = 'seatlab:queue:schedules';
const SCRIPTS = { join: JOIN, status: STATUS, admit: ADMIT, release: RELEASE };
type ScriptName = keyof typeof SCRIPTS;
const LEADER = 'seatlab:queue:admitter';

/** Redis is away (restarting, failing over, a replica not yet promoted): the waiting room cannot answer, which is not a wrong answer. HTTP 503. */
export class QueueUnavailableError extends Error {
  readonly status = 503;
  constructor(cause: unknown) {
    super(`the waiting room is unavailable (Redis: ${(cause as Error)?.message ?? String(cause)}); retry shortly`, { cause });
  }
}

// A reply error is Redis answering; these answers mean "not now" rather than "no".
const NOT_NOW = /^(READONLY|LOADING|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;
const unavailable = (err: unknown) => (err as Error)?.name !== 'ReplyError' || NOT_NOW.test(String((err as Error).message));

/** The waiting room of every schedule: a Redis sorted set per schedule, admitted by one Lua script. */
export class WaitingRoom {
  private sha: Record<ScriptName, string> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  readonly counters = { joins: 0, admitted: 0, ticks: 0, scriptsReloaded: 0 };

  constructor(private readonly redis: RedisClient, readonly config: QueueConfig, private readonly owner: string) {}

  async init(): Promise<void> {
    const sha = {} as Record<ScriptName, string>;
    // On a cluster SCRIPT LOAD reaches one node; every primary runs some schedule's scripts.
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    for (const [name, text] of Object.entries(SCRIPTS) as [ScriptName, string][]) {
      for (const n of nodes) sha[name] = (await n.script('LOAD', text)) as string;
    }
    this.sha = sha;
  }

  // A Redis that restarted, or a replica promoted by Sentinel, has no scripts loaded (SCRIPT LOAD is
  // not replicated): EVAL sends the text once and caches it there again.
  private async run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      try {
        return await this.redis.evalsha(this.sha![name], keys.length, ...keys, ...args);
      } catch (err) {
        if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
        this.counters.scriptsReloaded++;
        return await this.redis.eval(SCRIPTS[name], keys.length, ...keys, ...args);
      }
    } catch (err) {
      throw unavailable(err) ? new QueueUnavailableError(err) : err;
    }
  }

  private place(res: [string, number, number]): QueuePlace {
    const [status, position, joinNumber] = res;
    return { status: status as QueueStatus, position, joinNumber, etaSeconds: status === 'WAITING' ? Math.ceil(position / this.config.ratePerSec) : 0 };
  }

  async join(scheduleId: number, userId: number): Promise<QueuePlace> {
    const k = queueKeys(scheduleId);
    this.counters.joins++;
    // Sent together (one round trip on one server; on a cluster the set may live on another
    // primary). SADD first, so the admitter knows the schedule by the time anyone waits in it.
    const registered = this.redis.sadd(SCHEDULES, String(scheduleId)).catch((err: unknown) => {
      throw unavailable(err) ? new QueueUnavailableError(err) : err;
    });
    const [, res] = await Promise.all([registered, this.run('join', [k.waiting, k.active, k.seq, k.joins], [userId])]);
    return this.place(res as [string, number, number]);
  }

  async status(scheduleId: number, userId: number): Promise<QueuePlace> {
    const k = queueKeys(scheduleId);
    return this.place((await this.run('status', [k.waiting, k.active, k.joins], [userId])) as [string, number, number]);
  }

  async isActive(scheduleId: number, userId: number): Promise<boolean> {
    return (await this.status(scheduleId, userId)).status === 'ACTIVE';
  }

  /** Frees the user's ACTIVE slot (after a payment or a cancel). */
  async release(scheduleId: number, userId: number): Promise<void> {
    const k = queueKeys(scheduleId);
    await this.run('release', [k.active, k.released, k.joins], [userId]);
  }

  /** One admission round over every schedule with a queue. Atomic per schedule, so safe from any process. */
  async admitOnce(): Promise<number> {
    let total = 0;
    for (const id of await this.redis.smembers(SCHEDULES)) {
      const k = queueKeys(Number(id));
      total += (await this.run('admit', [k.waiting, k.active, k.admitted, k.released, k.joins],
        [this.config.ratePerSec, this.config.maxActive, this.config.activeTtlMs])) as number;
    }
    this.counters.admitted += total;
    return total;
  }

  /**
   * Runs the admitter; with several processes only the one holding a short leader lease ticks.
   * `onRun` hears of every tick this process ran (a follower's tick that found the lease taken is ok).
   */
  start(onError: (e: unknown) => void = () => undefined, onRun?: (ok: boolean) => void): void {
    const tickMs = this.config.tickMs ?? 50;
    // Not awaited by the timer: tick() hands every failure to onError, and `ticking` keeps ticks apart.
    this.timer = setInterval(() => void this.tick(tickMs, onError, onRun), tickMs);
    this.timer.unref();
  }

  private async tick(tickMs: number, onError: (e: unknown) => void, onRun?: (ok: boolean) => void): Promise<void> {
    // Not connected (Redis restarting, or going away on Ctrl-C): skip the tick, the next one retries.
    if (this.ticking || this.redis.status !== 'ready') return;
    this.ticking = true;
    try {
      const lease = await this.redis.set(LEADER, this.owner, 'PX', tickMs * 4, 'NX');
      const mine = lease === 'OK' || (await this.redis.get(LEADER)) === this.owner;
      if (mine) {
        await this.redis.pexpire(LEADER, tickMs * 4);
        this.counters.ticks++;
        await this.admitOnce();
      }
      onRun?.(true);
    } catch (e) {
      onRun?.(false);
      onError(e);
    } finally {
      this.ticking = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
