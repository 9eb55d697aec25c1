// A store that goes away (a crash, a partition, a failover, the lab stopping) makes every pooled
// connection fail at once: hundreds of identical errors. They are news once, not per connection:
// each process counts them here by component, store and code, and the lab prints one line per
// component. Anything that is not connection-class is left to the caller to show as before.

/** Which store an error came from, as far as the place that caught it can tell. */
export type StoreKind = 'database' | 'redis';

/** The connection errors one component saw from one store (plain data: it goes into report.json). */
export interface ConnectionErrorCount {
  /** Who saw them: 'lab' (the bench process) or 'server 0', 'server 1' … (a booking server instance, restarts included). */
  component: string;
  store: StoreKind;
  count: number;
  /** The count by error code: a driver code (ECONNREFUSED, 57P01, PROTOCOL_CONNECTION_LOST …) or a short name for a message without one. */
  codes: Record<string, number>;
  /** The first one's message, on one line and without its stack, e.g. "connect ECONNREFUSED 127.0.0.1:5432". */
  first: string;
}

// Node's socket errors, PostgreSQL's admin/crash shutdown and cannot-connect-now (57P0x) and
// connection-exception class (08xxx), and the MySQL drivers' lost-connection codes.
const CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED',
]);

// Messages that say the same without a code: knex's log lines are text, node-postgres's lost
// connections carry no SQLSTATE, ioredis names none. The first match names the code.
const MESSAGES: [RegExp, string][] = [
  [/\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ECONNABORTED|PROTOCOL_CONNECTION_LOST)\b/, '$1'],
  [/terminating connection due to administrator command/i, '57P01'],
  [/terminating connection because of crash of another server process/i, '57P02'],
  [/the database system is (shutting down|starting up|in recovery mode|not yet accepting connections)/i, '57P03'],
  [/Connection terminated (unexpectedly|due to connection timeout)/i, 'connection terminated'],
  [/Connection ended unexpectedly/i, 'connection ended'],
  [/Client has encountered a connection error and is not queryable/i, 'connection error'],
  [/Can't add new command when connection is in closed state|Connection lost: The server closed the connection/i, 'PROTOCOL_CONNECTION_LOST'],
  [/Connection is closed|Stream isn't writeable and enableOfflineQueue options is false/i, 'connection closed'],
  // ioredis, for a command in flight when its connection dropped (we allow no retries per request).
  [/Reached the max retries per request limit/i, 'MaxRetriesPerRequestError'],
  [/Timeout acquiring a connection/i, 'pool timeout'],
  // tarn's word for an acquire still waiting when its pool is destroyed: a server stopping under load.
  [/^(?:Acquire connection error: )?(?:Error: )?aborted(?:\n|$)/, 'pool closed'],
];

/** The short code of a connection-class error (or knex log line); undefined for anything else. */
export function connectionErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errors?: unknown[] } | null;
  if (typeof e?.code === 'string' && CODES.has(e.code)) return e.code;
  // Node's dual-stack connect (localhost) fails with an AggregateError of one error per address.
  if (err instanceof AggregateError && err.errors.length > 0) return connectionErrorCode(err.errors[0]);
  const text = typeof err === 'string' ? err : err instanceof Error ? err.message : undefined;
  if (!text) return undefined;
  for (const [re, code] of MESSAGES) {
    const m = re.exec(text);
    if (m) return code.replace('$1', m[1] ?? '');
  }
  return undefined;
}

/** One line, no stack, no knex prefix: what a person needs to recognise the error. */
function firstLine(err: unknown): string {
  let text = typeof err === 'string' ? err : err instanceof AggregateError && err.errors.length > 0 ? String((err.errors[0] as Error)?.message ?? err.errors[0]) : (err as Error)?.message || String(err);
  text = text.replace(/^(Acquire connection error|Connection Error): /, '').replace(/^(Error|error): /, '');
  return (text.split('\n')[0] ?? '').trim().slice(0, 200);
}

export class ErrorTally {
  private readonly byKey = new Map<string, ConnectionErrorCount>();

  /** @param component the name this process's own errors go under ('lab'; a server process says 'server'). */
  constructor(public component = 'lab') {}

  /** Counts `err` if it is connection-class and returns true; returns false (counting nothing) otherwise, so the caller shows it. */
  record(store: StoreKind, err: unknown): boolean {
    const code = connectionErrorCode(err);
    if (code === undefined) return false;
    this.add([{ component: this.component, store, count: 1, codes: { [code]: 1 }, first: firstLine(err) }]);
    return true;
  }

  /** Adds counts taken elsewhere (a server process's report), optionally under another component name. */
  add(entries: ConnectionErrorCount[], component?: string): void {
    for (const e of entries) {
      const name = component ?? e.component;
      const key = `${name}\u0000${e.store}`;
      const cur = this.byKey.get(key);
      if (!cur) {
        this.byKey.set(key, { component: name, store: e.store, count: e.count, codes: { ...e.codes }, first: e.first });
        continue;
      }
      cur.count += e.count;
      for (const [c, n] of Object.entries(e.codes)) cur.codes[c] = (cur.codes[c] ?? 0) + n;
    }
  }

  /** Everything counted since the last take, and a fresh start. */
  take(): ConnectionErrorCount[] {
    const out = [...this.byKey.values()];
    this.byKey.clear();
    return out;
  }
}

/** This process's tally: knex's log, the Redis clients and the servers' error paths count into it. */
export const tally = new ErrorTally();

/** Sums several lists (e.g. one per run) into one, component by component. */
export function mergeConnectionErrors(lists: ConnectionErrorCount[][]): ConnectionErrorCount[] {
  const t = new ErrorTally();
  for (const l of lists) t.add(l);
  return t.take();
}

/** e.g. "server 0: 512 database connection errors (ECONNREFUSED 428, 57P03 84; first: connect ECONNREFUSED 127.0.0.1:5432)". */
export function summaryLine(e: ConnectionErrorCount): string {
  const codes = Object.entries(e.codes).sort((a, b) => b[1] - a[1]);
  const shown = codes.slice(0, 3).map(([c, n]) => `${c} ${n}`).join(', ') + (codes.length > 3 ? `, ${codes.length - 3} more code(s)` : '');
  const store = e.store === 'redis' ? 'Redis' : 'database';
  return `${e.component}: ${e.count} ${store} connection error${e.count === 1 ? '' : 's'} (${shown}; first: ${e.first})`;
}

// A server process reports its counts to the lab as lines on stderr with this prefix (see
// src/server/main.ts); the lab takes them out of the relayed log (src/load/server-process.ts).
const REPORT_PREFIX = 'seatlab:connection-errors ';

export function reportLine(entries: ConnectionErrorCount[]): string {
  return `${REPORT_PREFIX}${JSON.stringify(entries)}`;
}

/** The counts in a report line, or undefined when the line is ordinary log. */
export function parseReportLine(line: string): ConnectionErrorCount[] | undefined {
  if (!line.startsWith(REPORT_PREFIX)) return undefined;
  try {
    const v = JSON.parse(line.slice(REPORT_PREFIX.length)) as unknown;
    return Array.isArray(v) ? (v as ConnectionErrorCount[]) : undefined;
  } catch {
    return undefined;
  }
}
