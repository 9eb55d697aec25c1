// The link port: a TCP proxy between one booking-server instance and one store, so that latency
// and faults can hit one instance's path to one store alone. Toxiproxy's vocabulary, our own code
// (no Toxiproxy, netem or iptables exist here). Every link of a run lives in one child process (see
// link-host.ts), so the proxy's CPU is its own PID's and never shares the load generator's loop.
// This file is shared by both processes; it holds types only.

export interface Upstream {
  host: string;
  port: number;
}

/** What a link does to the bytes it carries. Applies to chunks read after it is set. */
export interface LinkToxics {
  /** Round-trip time the link adds, ms (half applied in each direction). 0 = none. Sub-ms values are honoured. */
  latencyMs: number;
  /**
   * Jitter, ms: each chunk's one-way delay gets a uniform random ±jitter/2 added (never below 0).
   * Order within a connection and direction is preserved, so a late chunk holds back the next ones.
   */
  jitterMs: number;
  /** Bandwidth cap, KB/s (1 KB = 1000 bytes, as in Toxiproxy) per direction per connection. 0/undefined = unlimited. */
  bandwidthKBps?: number;
}

export interface LinkStats {
  /** Connections accepted since the link opened. */
  connections: number;
  /** Connections accepted and not yet closed on both sides. */
  open: number;
  /** Bytes delivered to the store (client → upstream) and to the client (upstream → client). */
  bytesUp: number;
  bytesDown: number;
  /** Connections this link aborted with a TCP RST: by resetPeer(), and by heal() for blackholed ones. */
  resets: number;
  /** Socket errors seen (a peer's reset, a refused upstream …): counted, never printed, never fatal. */
  errors: number;
  /** True between blackhole() and heal(). */
  blackholed: boolean;
}

export interface Link {
  /** For people reading a report, e.g. "instance 0 → postgres". */
  readonly name: string;
  /** 127.0.0.1:<port> listens; point a client here (or use rewrite). */
  readonly port: number;
  readonly upstream: Upstream;
  /** Rewrites a store URL (postgres://, mysql://, redis://) to go through this link: host 127.0.0.1, this port. */
  rewrite(url: string): string;
  /**
   * Toxiproxy "timeout" with timeout 0, i.e. a network partition. Open connections stay open, bytes
   * stop both ways (left in the kernel's buffers, then the sender's, as on a real partition, and
   * chunks still in the delay line are held, not delivered). New connections are accepted but never
   * reach the store.
   */
  blackhole(): Promise<void>;
  /**
   * Ends a blackhole. The connections that were blackholed are reset (RST to both peers) and their
   * held bytes are lost, as after a partition long enough for TCP to give up: the side that gave up
   * has forgotten the connection and answers the other's next segment with a reset. We do not
   * deliver the held bytes late, because a driver that sees a stale reply after a partition would
   * be measuring our buffer, not the store. New connections flow again. Returns how many were closed.
   */
  heal(): Promise<{ closed: number }>;
  /** Toxiproxy "reset_peer": every open connection is reset (RST) on both sides now. Returns how many. */
  resetPeer(): Promise<number>;
  setToxics(t: LinkToxics): Promise<void>;
  stats(): Promise<LinkStats>;
  /** Stops listening and closes this link's connections (FIN, not RST). */
  close(): Promise<void>;
}

export interface LinkHost {
  /** The proxy process, for CPU accounting. */
  readonly pid: number;
  open(name: string, upstream: Upstream, toxics: LinkToxics): Promise<Link>;
  /** A link in front of the host:port of a store URL (postgres/mysql/redis), and the URL rewritten through it. */
  openFor(name: string, storeUrl: string, toxics: LinkToxics): Promise<{ link: Link; url: string }>;
  /** Stops the child (SIGTERM, then SIGKILL); also registered with cleanup, so a crashed lab leaves nothing. */
  close(): Promise<void>;
}

/** Lab → host, over the IPC channel of child_process.fork. `link` is the id `open` returned. */
export type LinkRequest =
  | { id: number; op: 'open'; name: string; upstream: Upstream; toxics: LinkToxics }
  | { id: number; op: 'setToxics'; link: number; toxics: LinkToxics }
  | { id: number; op: 'blackhole' | 'heal' | 'resetPeer' | 'stats' | 'close'; link: number };

/** Host → lab: one reply per request, or the ready signal once at start. */
export type LinkReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  | { ready: true };
