import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from './chain.js';
import { registerCleanup } from './cleanup.js';
import type { Link, LinkHost, LinkReply, LinkRequest, LinkStats, LinkToxics, Upstream } from './link-types.js';

export type { Link, LinkHost, LinkStats, LinkToxics, Upstream } from './link-types.js';
export { measureLinkOverhead } from './link-probe.js';

// The lab's side of the links: starts the host process (link-host.ts) and turns each method call
// into one IPC request. The proxying itself never runs in this process.

/** The ports a store URL means when it names none. */
const DEFAULT_PORTS: Record<string, number> = {
  'postgres:': 5432, 'postgresql:': 5432, 'mysql:': 3306, 'mariadb:': 3306, 'redis:': 6379, 'rediss:': 6379,
};

/** The host:port a store URL points at (postgres://, mysql://, redis://). */
export function upstreamOf(storeUrl: string): Upstream {
  const u = new URL(storeUrl);
  const fallback = DEFAULT_PORTS[u.protocol];
  if (fallback === undefined) {
    throw new Error(`cannot put a link in front of a ${u.protocol}// URL; links carry postgres://, mysql:// and redis:// URLs`);
  }
  if (!u.hostname) throw new Error(`the store URL has no host (a Unix socket?); a link needs a TCP host:port`);
  // URL keeps the brackets of an IPv6 literal; net.connect wants the bare address.
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : fallback };
}

/** The store URL with its host:port replaced by 127.0.0.1:`port`; credentials, database and options kept. */
export function rewriteUrl(storeUrl: string, port: number): string {
  upstreamOf(storeUrl); // same checks, same messages
  const u = new URL(storeUrl);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

/** Every problem with a set of toxics, so a bad flag reports them all at once. */
export function toxicsProblems(t: LinkToxics): string[] {
  const problems: string[] = [];
  const check = (name: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) problems.push(`${name} must be a number ≥ 0 (got ${v})`);
  };
  check('latencyMs', t.latencyMs);
  check('jitterMs', t.jitterMs);
  check('bandwidthKBps', t.bandwidthKBps);
  return problems;
}

/** The compiled host entry; under vitest this file is .ts, so fall back to dist/. */
function hostEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = path.join(path.dirname(here), 'link-host.js');
  if (existsSync(sibling)) return sibling;
  const root = path.resolve(path.dirname(here), '..', '..');
  return path.join(root, 'dist', 'src', 'infra', 'link-host.js');
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
/** A request without its id (Omit distributed over the union, so each op keeps its own fields). */
type RequestBody = LinkRequest extends infer R ? (R extends LinkRequest ? Omit<R, 'id'> : never) : never;

/** Starts the one process that hosts every link of a run. */
export async function startLinkHost(opts: { readyTimeoutMs?: number } = {}): Promise<LinkHost> {
  const entry = hostEntry();
  if (!existsSync(entry)) throw new Error(`link host entry ${entry} is missing; run npm run build`);
  // execArgv: [] so the host does not inherit a test runner's loaders or inspector flags.
  const child: ChildProcess = fork(entry, [], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr = (stderr + String(d)).slice(-4000); });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let gone: Error | null = null;
  let onReady: (() => void) | null = null;

  child.on('message', (msg: LinkReply) => {
    if ('ready' in msg) return onReady?.();
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(msg.error));
  });
  // Without this listener an IPC write to a dead child would throw asynchronously.
  child.on('error', () => undefined);
  child.once('exit', (code, signal) => {
    const why = stderr.trim().split('\n').slice(-2).join(' | ');
    gone = new Error(`the link host (pid ${child.pid}) exited (${signal ?? `code ${code}`})${why ? `: ${why}` : ''}; its links are gone — start another with startLinkHost()`);
    for (const p of pending.values()) p.reject(gone);
    pending.clear();
  });

  const request = (req: RequestBody): Promise<unknown> => {
    if (gone) return Promise.reject(gone);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      // The callback form: without it a send on a closed channel only emits 'error' and this would hang.
      child.send({ ...req, id } as LinkRequest, (err) => {
        if (!err || !pending.delete(id)) return;
        reject(gone ?? new Error(`the link host (pid ${child.pid}) is not reachable: ${err.message}`));
      });
    });
  };

  const stop = () => stopChild(child, 2000);
  const unregister = registerCleanup(`link host pid ${child.pid}`, stop, () => child.kill('SIGKILL'));
  try {
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = opts.readyTimeoutMs ?? 10_000;
      const timer = setTimeout(() => reject(new Error(`the link host did not start within ${timeoutMs} ms`)), timeoutMs);
      onReady = () => { clearTimeout(timer); resolve(); };
      // gone is set by the 'exit' listener above, which was added first and so runs first.
      child.once('exit', () => { clearTimeout(timer); reject(gone!); });
    });
  } catch (err) {
    unregister();
    await stop();
    throw err;
  }

  const open = async (name: string, upstream: Upstream, toxics: LinkToxics): Promise<Link> => {
    const problems = toxicsProblems(toxics);
    if (problems.length) throw new Error(`link "${name}": ${problems.join('; ')}`);
    const { link: id, port } = (await request({ op: 'open', name, upstream: { ...upstream }, toxics })) as { link: number; port: number };
    return {
      name, port, upstream: { ...upstream },
      rewrite: (url) => {
        const target = upstreamOf(url);
        if (target.port !== upstream.port) {
          throw new Error(`link "${name}" forwards to port ${upstream.port}, but the URL points at port ${target.port}; open a link for that server`);
        }
        return rewriteUrl(url, port);
      },
      blackhole: async () => { await request({ op: 'blackhole', link: id }); },
      heal: async () => (await request({ op: 'heal', link: id })) as { closed: number },
      resetPeer: async () => (await request({ op: 'resetPeer', link: id })) as number,
      setToxics: async (t) => {
        const bad = toxicsProblems(t);
        if (bad.length) throw new Error(`link "${name}": ${bad.join('; ')}`);
        await request({ op: 'setToxics', link: id, toxics: t });
      },
      stats: async () => (await request({ op: 'stats', link: id })) as LinkStats,
      close: async () => { await request({ op: 'close', link: id }); },
    };
  };

  return {
    pid: child.pid!,
    open,
    openFor: async (name, storeUrl, toxics) => {
      const link = await open(name, upstreamOf(storeUrl), toxics);
      return { link, url: link.rewrite(storeUrl) };
    },
    close: async () => { unregister(); await stop(); },
  };
}
