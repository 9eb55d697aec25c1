import type { Redis } from 'ioredis';
import { infoOf, type RedisNode } from './redis-node.js';

// What the processes of a Sentinel topology say about themselves and each other: read-only
// questions asked on short-lived connections, for provisioning, failovers and error messages.

export const SENTINEL_MASTER_NAME = 'seatlab';

/** fn on a short-lived connection to the node; null when it does not answer (or fn fails). */
export async function withClient<T>(n: { client(): Redis }, fn: (r: Redis) => Promise<T>): Promise<T | null> {
  const r = n.client();
  try {
    await r.connect();
    return await fn(r);
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

/**
 * The node replicates from the primary and has caught up with it: its own view (link up, initial
 * sync done) is not enough, since after a diskless sync the primary streams what it buffered only
 * once the replica's first ACK arrives; so the primary must list it online, and the replica must
 * have applied the primary's offset as read just before.
 */
export async function replicaInSync(n: RedisNode, primary: RedisNode): Promise<boolean> {
  const p = await withClient(primary, (r) => infoOf(r, 'replication'));
  if (!p || p.role !== 'master') return false;
  const listed = Object.entries(p).some(([k, v]) => /^slave\d+$/.test(k) && v.includes(`port=${n.port},`) && v.includes('state=online'));
  const info = await withClient(n, (r) => infoOf(r, 'replication'));
  return listed && info?.role === 'slave' && info.master_port === String(primary.port) && info.master_link_status === 'up'
    && info.master_sync_in_progress === '0' && Number(info.slave_repl_offset) >= Number(p.master_repl_offset);
}

/** The port each Sentinel names as the primary (null: it did not answer). */
export async function namedPrimaries(sentinels: RedisNode[]): Promise<(number | null)[]> {
  return Promise.all(sentinels.map((s) => withClient(s, async (r) => {
    const a = (await r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as [string, string] | null;
    return a ? Number(a[1]) : null;
  })));
}

/** Every Sentinel names the primary, knows the two others, sees the replica healthy, and the quorum check passes. */
export async function sentinelsAgree(sentinels: RedisNode[], primaryPort: number, replicaPort: number): Promise<boolean> {
  const views = await Promise.all(sentinels.map((s) => withClient(s, async (r) => {
    const named = (await r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as [string, string] | null;
    const others = (await r.call('SENTINEL', 'sentinels', SENTINEL_MASTER_NAME)) as unknown[];
    const replicas = ((await r.call('SENTINEL', 'replicas', SENTINEL_MASTER_NAME)) as string[][]).map(fields);
    const ok = String(await r.call('SENTINEL', 'ckquorum', SENTINEL_MASTER_NAME).catch(() => 'NO')).startsWith('OK');
    return named?.[1] === String(primaryPort) && others.length === 2 && ok
      && replicas.some((x) => x.port === String(replicaPort) && x.flags === 'slave' && x['master-link-status'] === 'ok');
  })));
  return views.every((v) => v === true);
}

/** For an error message: what each data node says it is, and what each Sentinel thinks. */
export async function roles(data: RedisNode[], sentinels: RedisNode[]): Promise<string> {
  const nodes = await Promise.all(data.map(async (n) => {
    const i = await withClient(n, (r) => infoOf(r, 'replication'));
    return `${n.port}: ${i ? `${i.role}${i.role === 'slave' ? ` of ${i.master_port}, link ${i.master_link_status}` : ''}` : 'no answer'}`;
  }));
  const views = await Promise.all(sentinels.map((s) => withClient(s, async (r) => {
    const m = (await r.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME)) as [string, string] | null;
    const reps = ((await r.call('SENTINEL', 'replicas', SENTINEL_MASTER_NAME)) as string[][]).map(fields).map((x) => `${x.port} ${x.flags}`);
    const tilt = (await infoOf(r, 'sentinel')).sentinel_tilt === '1' ? ', TILT' : '';
    return `Sentinel ${s.port}: primary ${m?.[1]}, replicas ${reps.join(' / ') || 'none'}${tilt}`;
  })));
  return [...nodes, ...views.map((v, i) => v ?? `Sentinel ${sentinels[i]!.port}: no answer`)].join('; ');
}

const fields = (flat: string[]): Record<string, string> => {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
};
