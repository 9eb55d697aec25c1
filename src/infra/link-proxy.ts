import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { DelayScheduler, Lane } from './link-scheduler.js';
import type { LinkStats, LinkToxics, Upstream } from './link-types.js';

// One link inside the host process: a listener on 127.0.0.1 and, per accepted connection, a
// connection to the upstream store with a delay line in each direction. Runs in the host process
// only, and so imports nothing that installs exit hooks.

/** Bytes a delay line may hold before its source is paused (the sender then feels TCP backpressure). */
const HIGH_WATER = 1 << 20;

interface Conn {
  client: net.Socket;
  /** Absent for a connection accepted during a blackhole: it never reaches the store. */
  upstream?: net.Socket;
  lanes: Lane[];
  /** Blackholed: nothing is read or delivered until heal() resets it. */
  frozen: boolean;
  /** We are tearing it down ourselves: errors that follow are ours, not the peers'. */
  aborting: boolean;
}

export class ProxyLink {
  private readonly server: net.Server;
  private readonly conns = new Set<Conn>();
  private toxics: LinkToxics;
  private blackholed = false;
  private readonly counts = { connections: 0, bytesUp: 0, bytesDown: 0, resets: 0, errors: 0 };

  private constructor(private readonly upstream: Upstream, toxics: LinkToxics, private readonly scheduler: DelayScheduler) {
    this.toxics = { ...toxics };
    // allowHalfOpen: a FIN from one side travels through the delay line like data, instead of
    // Node ending our other side at once.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', () => this.counts.errors++);
  }

  static async listen(upstream: Upstream, toxics: LinkToxics, scheduler: DelayScheduler): Promise<{ link: ProxyLink; port: number }> {
    const link = new ProxyLink(upstream, toxics, scheduler);
    await new Promise<void>((resolve, reject) => {
      link.server.once('error', reject);
      link.server.listen(0, '127.0.0.1', () => {
        link.server.off('error', reject);
        resolve();
      });
    });
    return { link, port: (link.server.address() as net.AddressInfo).port };
  }

  setToxics(t: LinkToxics): void {
    this.toxics = { ...t };
  }

  blackhole(): void {
    this.blackholed = true;
    for (const c of this.conns) this.freeze(c);
  }

  heal(): number {
    this.blackholed = false;
    let closed = 0;
    for (const c of this.conns) {
      if (c.frozen) {
        this.reset(c);
        closed++;
      }
    }
    return closed;
  }

  resetPeer(): number {
    const all = [...this.conns];
    for (const c of all) this.reset(c);
    return all.length;
  }

  stats(): LinkStats {
    return { ...this.counts, open: this.conns.size, blackholed: this.blackholed };
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) {
      c.aborting = true;
      c.client.destroy();
      c.upstream?.destroy();
    }
    await closed;
  }

  private accept(client: net.Socket): void {
    this.counts.connections++;
    const conn: Conn = { client, lanes: [], frozen: false, aborting: false };
    this.conns.add(conn);
    client.setNoDelay(true);
    client.on('error', () => this.failed(conn, client));
    client.on('close', () => this.closed(conn));
    if (this.blackholed) {
      // Accepted (the lab's side of a partition is local) but never forwarded.
      this.freeze(conn);
      return;
    }
    const upstream = net.connect({ host: this.upstream.host, port: this.upstream.port, allowHalfOpen: true, noDelay: true });
    conn.upstream = upstream;
    upstream.on('error', () => this.failed(conn, upstream));
    upstream.on('close', () => this.closed(conn));
    this.pipe(conn, client, upstream, 'bytesUp');
    this.pipe(conn, upstream, client, 'bytesDown');
  }

  /** Carries one direction: directly when the link adds nothing, else through a delay line. */
  private pipe(conn: Conn, from: net.Socket, to: net.Socket, counter: 'bytesUp' | 'bytesDown'): void {
    const deliver = (chunk: Buffer | null) => {
      if (to.destroyed) return;
      if (chunk === null) {
        to.end();
        return;
      }
      this.counts[counter] += chunk.length;
      to.write(chunk);
      throttle();
    };
    const lane = new Lane(deliver);
    conn.lanes.push(lane);
    // Backpressure: stop reading while the destination is congested or the delay line is full.
    const throttle = () => {
      if (conn.frozen) return;
      const full = to.writableNeedDrain || lane.queuedBytes > HIGH_WATER;
      if (full) from.pause();
      else if (from.isPaused()) from.resume();
    };
    to.on('drain', throttle);
    let busyUntil = 0; // when this direction's bandwidth cap has sent what it holds
    const send = (chunk: Buffer | null) => {
      const t = this.toxics;
      const bandwidth = t.bandwidthKBps ?? 0;
      if (lane.empty && t.latencyMs === 0 && t.jitterMs === 0 && bandwidth <= 0) {
        deliver(chunk); // nothing to add and nothing ahead of it: no scheduling at all
        return;
      }
      const now = performance.now();
      let sent = now;
      if (bandwidth > 0 && chunk) {
        busyUntil = Math.max(now, busyUntil) + chunk.length / bandwidth; // bytes ÷ (1000 bytes/s) = ms
        sent = busyUntil;
      }
      const oneWay = Math.max(0, t.latencyMs / 2 + (Math.random() - 0.5) * t.jitterMs);
      this.scheduler.push(lane, chunk, sent + oneWay);
      throttle();
    };
    from.on('data', (chunk: Buffer) => {
      if (!conn.frozen) send(chunk);
    });
    from.on('end', () => {
      if (!conn.frozen) send(null);
    });
  }

  private freeze(conn: Conn): void {
    conn.frozen = true;
    for (const lane of conn.lanes) lane.frozen = true;
    conn.client.pause();
    conn.upstream?.pause();
  }

  private reset(conn: Conn): void {
    conn.aborting = true;
    this.freeze(conn); // drop whatever is still in the delay lines
    this.counts.resets++;
    rst(conn.client);
    if (conn.upstream) rst(conn.upstream);
  }

  /** A socket error (a peer's reset, a refused upstream): counted, then passed on as a reset. */
  private failed(conn: Conn, on: net.Socket): void {
    if (conn.aborting) return;
    this.counts.errors++;
    conn.aborting = true;
    this.freeze(conn);
    on.destroy();
    rst(on === conn.client ? conn.upstream : conn.client);
  }

  private closed(conn: Conn): void {
    if (conn.client.destroyed && (!conn.upstream || conn.upstream.destroyed)) this.conns.delete(conn);
  }
}

/** Aborts a socket with an RST; a socket still connecting gets it once connected (Node's rule). */
function rst(s: net.Socket | undefined): void {
  if (!s || s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}
