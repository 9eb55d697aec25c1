import type { Instance } from '../load/instances.js';
import type { Provisioned } from '../infra/chain.js';
import type { InstanceLinks } from '../load/instance-links.js';

// The nemesis port, in Jepsen's vocabulary: a fault is a real operating-system action against the
// servers of a run (signals to PIDs, a Redis killed and started again, backends terminated in
// PostgreSQL), injected on a schedule during the load phase and healed afterwards. Every injection
// is recorded with its start, end, target and what was observed, so the report can show it.

/** What a fault can act on: the processes and servers of the run being measured. */
export interface NemesisTargets {
  instances: Instance[];
  /** The run's Redis servers (crash/revive exist only for servers seatlab started itself). */
  redis: Provisioned[];
  /**
   * The run's database server, as provisioned: crash/revive exist only for a PostgreSQL seatlab
   * started itself (not a URL, a testcontainer or MySQL). Absent where no server is at hand.
   */
  db?: Provisioned;
  /** An admin connection URL of the PostgreSQL server, and the run's database name. */
  adminDbUrl: string;
  dbName: string;
  /** The strategy's lock lease, when it has one: a pause must outlast it. */
  lockTtlMs?: number;
  /** Each instance's links to the stores (index = instance), when the servers reach the stores through links. */
  links?: InstanceLinks[];
  /** The prefix of every Redis key of this run (the run's database name and a colon). */
  redisKeyPrefix?: string;
}

/** One injection, as it happened. Times are ms since the load phase began, plus wall-clock ISO. */
export interface FaultEvent {
  fault: string;
  target: string;
  startMs: number;
  endMs: number;
  startedAt: string;
  endedAt: string;
  /** What was done and seen, e.g. "SIGSTOP pid 123 (state T)", "terminated 14 backends, 6 in a transaction". */
  detail: string;
  /** False when the fault could not act (nothing to target); detail says why. */
  applied: boolean;
}

/** An injected fault that is still in force, and how to end it. */
export interface ActiveFault {
  target: string;
  detail: string;
  applied: boolean;
  /** Ends the fault; returns what was observed while healing. */
  heal(): Promise<string>;
}

export interface Fault {
  /** kebab-case, equal to the file name. */
  readonly name: string;
  readonly description: string;
  /** The fault acts on links: the lab then puts links (at 0 ms unless --link-latency says otherwise) between servers and stores. */
  readonly needsLinks?: boolean;
  /** Sensible defaults for this fault: how often it starts, and how long it lasts. */
  defaults(t: NemesisTargets): { everyMs: number; forMs: number };
  /** Injects the fault once (round: 0, 1, 2 … picks the target in turn). */
  inject(t: NemesisTargets, round: number): Promise<ActiveFault>;
}
