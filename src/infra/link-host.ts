import { DelayScheduler } from './link-scheduler.js';
import { ProxyLink } from './link-proxy.js';
import type { LinkReply, LinkRequest } from './link-types.js';

// The entry of the one child process that hosts every link of a run (started by link.ts with
// child_process.fork). Its CPU is the proxy's alone, measurable by PID, and its event loop is not
// the load generator's, so a busy lab never delays a link's bytes. It is controlled over IPC only
// and prints nothing: socket trouble is counted in each link's stats.

if (!process.send) {
  process.stderr.write('link-host: start this through startLinkHost() (src/infra/link.ts); it needs an IPC channel\n');
  process.exit(2);
}

const scheduler = new DelayScheduler();
const links = new Map<number, ProxyLink>();
let nextId = 1;

function reply(msg: LinkReply): void {
  // The lab may be gone already (its disconnect ends us below); the callback keeps a failed send
  // from becoming an 'error' event that nobody handles.
  if (process.connected) process.send!(msg, undefined, undefined, () => undefined);
}

function linkFor(id: number): ProxyLink {
  const link = links.get(id);
  if (!link) throw new Error(`link ${id} is not open on this host (closed already?)`);
  return link;
}

async function handle(req: LinkRequest): Promise<unknown> {
  switch (req.op) {
    case 'open': {
      const { link, port } = await ProxyLink.listen(req.upstream, req.toxics, scheduler);
      const id = nextId++;
      links.set(id, link);
      return { link: id, port };
    }
    case 'setToxics':
      return linkFor(req.link).setToxics(req.toxics);
    case 'blackhole':
      return linkFor(req.link).blackhole();
    case 'heal':
      return { closed: linkFor(req.link).heal() };
    case 'resetPeer':
      return linkFor(req.link).resetPeer();
    case 'stats':
      return linkFor(req.link).stats();
    case 'close': {
      const link = linkFor(req.link);
      links.delete(req.link);
      return link.close();
    }
  }
}

process.on('message', (req: LinkRequest) => {
  handle(req).then(
    (result) => reply({ id: req.id, ok: true, result: result ?? null }),
    (err: unknown) => reply({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});

// The lab crashed or exited without closing us: a proxy with nobody to control it must not linger.
process.on('disconnect', () => process.exit(0));

reply({ ready: true });
