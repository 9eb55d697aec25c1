import type { ChildProcess } from 'node:child_process';
import { registerCleanup } from './cleanup.js';
import { dockerEngineReachable, type ContainerServer } from './docker.js';
import { InfraUnavailableError, describeCause } from './errors.js';

export type ServerKind = 'url' | 'embedded' | 'testcontainers';

export interface Provisioned {
  url: string;
  kind: ServerKind;
  /** Present for servers we started ourselves. */
  dataDir?: string;
  pid?: number;
  port?: number;
  stop(): Promise<void>;
  /**
   * Kill -9 the server (ephemeral servers only): every process of it; resolves when all have exited.
   * PostgreSQL says which pids it killed, the postmaster first.
   */
  crash?(): Promise<CrashRecord | void>;
  /**
   * Start the server again on the same port; resolves when it answers. Redis comes back empty;
   * PostgreSQL on the same data directory, after crash recovery, and returns its log of the start.
   */
  revive?(): Promise<ReviveRecord | void>;
  /**
   * Replicated topologies only: SIGKILL the primary, wait until a replica is promoted, start the
   * old primary again (empty) as a replica; resolves with what was observed (pids, ports, timings,
   * the writes asynchronous replication lost).
   */
  failover?(): Promise<string>;
}

/** What crash() killed: every pid, the server's main process first. */
export interface CrashRecord { pids: number[] }

/** What the server logged while it started again (PostgreSQL: its crash recovery, "redo done at …"). */
export interface ReviveRecord { log: string[] }

/**
 * Steps 2–4 of DESIGN.md §5 for one server type: an ephemeral server of our own, else a
 * testcontainer when a Docker engine answers, else one error naming every way to get one.
 */
export async function ephemeralOrContainer<T extends Provisioned>(p: {
  ephemeralLabel: string;
  startEphemeral: () => Promise<T>;
  startContainer: () => Promise<ContainerServer>;
  containerLabel: string;
  unavailable: (problems: string) => string;
}): Promise<Provisioned> {
  const problems: string[] = [];
  try {
    return await p.startEphemeral();
  } catch (err) {
    problems.push(`${p.ephemeralLabel} failed: ${describeCause(err)}`);
  }
  if (await dockerEngineReachable()) {
    try {
      const c = await p.startContainer();
      const unregister = registerCleanup(p.containerLabel, () => c.stop());
      return { url: c.url, kind: 'testcontainers', stop: async () => { unregister(); await c.stop(); } };
    } catch (err) {
      problems.push(`testcontainers failed: ${describeCause(err)}`);
    }
  } else {
    problems.push('no Docker engine answered for testcontainers');
  }
  throw new InfraUnavailableError(p.unavailable(problems.join('; ')));
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}
