import Redlock, { ExecutionError, ResourceLockedError, type Lock } from 'redlock';
import type { RedisClient } from '../../src/core/ports.js';
import { enumOption, intOption } from '../../src/core/options.js';
import type { StrategyObserver } from '../../src/core/ports.js';
import { waitedFor } from './shared.js';

// The distributed-lock half shared by `redlock` and `redlock-pessimistic`: one Redlock over N
// independent Redis servers (quorum N/2+1), explicit acquire/release (no `using()`: its automatic
// extension is known to lapse early), and failures told apart by reading every attempt's votes.

export const lockOptions = [
  intOption('lockTtlMs', 'lease of the lock in ms', 2000, 10, 600_000),
  intOption('retryCount', 'seat-lock retries: 0 fails fast (a busy seat is a 409 at once)', 0, 0, 10_000),
  // A general-admission inventory is ONE hot resource, and a balance has one owner paying for several
  // things: failing fast there turns buyers away while tickets or points remain, so these locks wait.
  intOption('waitRetryCount', 'retries for the inventory and balance locks (they wait by default)', 500, 0, 10_000),
  intOption('retryDelayMs', 'delay between lock retries', 20, 0, 60_000),
  intOption('retryJitterMs', 'random jitter added to each retry delay', 10, 0, 60_000),
];
export const fencingOption = enumOption('fencing', 'check a fencing token and the state read in the database write (off: trust the lock alone, unsafe by design)', 'on', ['on', 'off']);
// Widens the window a paused process (SIGSTOP, a GC pause) must land in for the nemesis experiments.
export const workUnderLockOption = intOption('workUnderLockMs', 'simulated work under the lock between read and write; 0 = none', 0, 0, 600_000);

/** The lock could not be decided because too many Redis servers failed: infrastructure, not contention. */
export class QuorumUnavailableError extends Error {
  readonly status = 503;
  constructor(detail: string) {
    super(`Redis quorum unavailable: ${detail}`);
  }
}

export type LockKind = 'seat' | 'inventory' | 'balance';

export class SeatLocker {
  private readonly redlock: Redlock;
  readonly ttlMs: number;
  private readonly retries: Record<LockKind, number>;
  readonly counters = { locksAcquired: 0, retries: 0, lockWaits: 0, lockFailures: 0, quorumFailures: 0, leaseLost: 0, releaseFailures: 0 };

  constructor(clients: RedisClient[], options: Record<string, string>, private readonly observe?: StrategyObserver) {
    if (clients.length === 0) throw new Error('this strategy needs at least one Redis server');
    this.ttlMs = Number(options.lockTtlMs);
    const wait = Number(options.waitRetryCount);
    this.retries = { seat: Number(options.retryCount), inventory: wait, balance: wait };
    this.redlock = new Redlock(clients, {
      driftFactor: 0.01,
      retryCount: Number(options.retryCount),
      retryDelay: Number(options.retryDelayMs),
      retryJitter: Number(options.retryJitterMs),
    });
    // Redlock emits 'error' for every failed vote; the attempts carry the same information.
    this.redlock.on('error', () => undefined);
  }

  /** The lock, or null when the resource is held by somebody else for the whole retry window. */
  async acquire(resource: string, kind: LockKind): Promise<Lock | null> {
    try {
      // The acquire with its retries is the wait: reported per acquire, granted or not.
      const lock = await waitedFor(this.observe, () => this.redlock.acquire([resource], this.ttlMs, { retryCount: this.retries[kind] }));
      this.counters.locksAcquired++;
      this.counters.retries += lock.attempts.length - 1;
      if (lock.attempts.length > 1) this.counters.lockWaits++;
      return lock;
    } catch (err) {
      if (!(err instanceof ExecutionError)) throw err;
      // The quorum error hides its cause: read the votes. Only "locked by somebody else" is contention.
      const stats = await Promise.all(err.attempts);
      this.counters.retries += Math.max(0, stats.length - 1);
      const causes = stats.flatMap((s) => [...s.votesAgainst.values()]);
      const infra = causes.filter((e) => !(e instanceof ResourceLockedError));
      const last = stats.at(-1);
      if (last && infra.length > 0 && last.votesAgainst.size - countLocked(last.votesAgainst) > last.membershipSize - last.quorumSize) {
        this.counters.quorumFailures++;
        throw new QuorumUnavailableError(`${infra.length} failed votes, e.g. ${infra[0]!.message}`);
      }
      this.counters.lockFailures++;
      return null;
    }
  }

  /** Runs fn holding the lock; null when the lock could not be had. Released in every path. */
  async with<T>(resource: string, kind: LockKind, fn: () => Promise<T>): Promise<T | null> {
    const lock = await this.acquire(resource, kind);
    if (!lock) return null;
    try {
      return await fn();
    } finally {
      await this.release(lock);
    }
  }

  /** Releases in every path; a lease that ran out before we got here is counted. */
  async release(lock: Lock): Promise<void> {
    if (Date.now() > lock.expiration) this.counters.leaseLost++;
    try {
      await lock.release();
    } catch {
      // The lease expired (or a node is down): the key is gone or will expire by itself.
      this.counters.releaseFailures++;
    }
  }
}

function countLocked(votes: Map<unknown, Error>): number {
  let n = 0;
  for (const e of votes.values()) if (e instanceof ResourceLockedError) n++;
  return n;
}

export const seatResource = (scheduleId: number, seatNo: number) => `seatlab:lock:{s${scheduleId}}:seat:${seatNo}`;
export const inventoryResource = (scheduleId: number) => `seatlab:lock:{s${scheduleId}}:inventory`;
export const balanceResource = (userId: number) => `seatlab:lock:{u${userId}}:balance`;
