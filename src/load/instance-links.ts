import { upstreamOf, type Link, type LinkHost, type LinkToxics } from '../infra/link.js';
import { parseRedisUrl } from '../infra/redis-client.js';
import type { ServerConfig } from '../server/start.js';

// The network between server instances and stores: one link (a TCP proxy with toxics) per instance
// and per store endpoint, so a fault can cut one instance off while the others go on. A server
// instance only sees URLs: its database URL and Redis URLs are rewritten to point at its links.

/** One instance's links: to the database, and to every Redis endpoint it uses (servers, Sentinels, data nodes). */
export interface InstanceLinks {
  index: number;
  db: Link;
  redis: Link[];
  all: Link[];
}

/** host:port pairs of a Redis URL: one for redis://, each Sentinel for redis-sentinel://h:p,h:p/name, each node for redis-cluster://. */
export function redisEndpoints(url: string): { host: string; port: number }[] {
  const t = parseRedisUrl(url);
  return t.kind === 'sentinel' ? t.sentinels : t.kind === 'cluster' ? t.nodes : [upstreamOf(t.url)];
}

/** A Redis URL with each endpoint replaced by its link. */
function rewriteRedis(url: string, links: Link[]): string {
  const m = /^(redis-sentinel:\/\/)([^/]+)(\/.+)$/.exec(url);
  if (m) return `${m[1]}${links.map((l) => `127.0.0.1:${l.port}`).join(',')}${m[3]}`;
  return links[0]!.rewrite(url);
}

/**
 * Opens the links of `n` instances and returns each instance's server config. `dataNodes` are
 * Redis data nodes reached through Sentinel: the client learns their addresses from the
 * Sentinels, so a natMap sends those connections through the instance's links as well.
 */
export async function linkInstances(host: LinkHost, n: number, cfg: ServerConfig, toxics: LinkToxics, dataNodes: { host: string; port: number }[] = []): Promise<{ links: InstanceLinks[]; configs: ServerConfig[] }> {
  const links: InstanceLinks[] = [];
  const configs: ServerConfig[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const { link: db, url: databaseUrl } = await host.openFor(`instance ${i} → database`, cfg.databaseUrl, toxics);
      const redis: Link[] = [];
      const redisUrls: string[] = [];
      for (const [r, url] of (cfg.redisUrls ?? []).entries()) {
        const mine: Link[] = [];
        for (const ep of redisEndpoints(url)) mine.push(await host.open(`instance ${i} → redis ${r} ${ep.port}`, ep, toxics));
        redis.push(...mine);
        redisUrls.push(rewriteRedis(url, mine));
      }
      const natMap: Record<string, { host: string; port: number }> = {};
      // Data nodes are reached only by a server that uses Redis at all.
      for (const node of redisUrls.length > 0 ? dataNodes : []) {
        const l = await host.open(`instance ${i} → redis data node ${node.port}`, node, toxics);
        redis.push(l);
        natMap[`${node.host}:${node.port}`] = { host: '127.0.0.1', port: l.port };
      }
      links.push({ index: i, db, redis, all: [db, ...redis] });
      configs.push({ ...cfg, databaseUrl, redisUrls, ...(dataNodes.length ? { redisNatMap: natMap } : {}) });
    }
    return { links, configs };
  } catch (err) {
    await closeLinks(links);
    throw err;
  }
}

export async function closeLinks(links: InstanceLinks[]): Promise<void> {
  for (const l of links) for (const link of l.all) await link.close().catch(() => undefined);
}
