import { performance } from 'node:perf_hooks';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { assertIdentifier } from './identifiers.js';
import { dialectOfUrl } from './dialect.js';
import { tally } from '../infra/error-tally.js';

// BIGINT (int8) ids and counts come back as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));
const INT8_ARRAY = 1016 as Parameters<typeof pg.types.getTypeParser>[0]; // not in the TypeId enum
const parseInt8Array = pg.types.getTypeParser(INT8_ARRAY) as (v: string) => (string | null)[];
pg.types.setTypeParser(INT8_ARRAY, (v: string) => parseInt8Array(v).map((x) => (x === null ? null : Number(x))));

export interface DbOptions {
  url: string;
  poolMax?: number;
  applicationName?: string;
  /**
   * Session settings on every new pooled connection, named as PostgreSQL names them
   * (e.g. lock_timeout); on MySQL each is translated to its InnoDB equivalent.
   */
  session?: Record<string, string>;
}

/** A knex pool on PostgreSQL (postgres://) or MySQL/MariaDB (mysql://, mariadb://). */
export function createDb(opts: DbOptions): Knex {
  return dialectOfUrl(opts.url) === 'mysql' ? createMysqlDb(opts) : createPgDb(opts);
}

function createPgDb({ url, poolMax = 10, applicationName = 'seatlab', session = {} }: DbOptions): Knex {
  const settings = Object.entries(session).map(([k, v]) => `SET ${assertIdentifier(k)} = ${sqlLiteral(v)}`).join('; ');
  return knexFactory({
    client: 'pg',
    connection: { connectionString: url, application_name: applicationName },
    pool: {
      min: 0,
      max: poolMax,
      // A pooled client whose server goes away emits 'error'; without a listener that kills the process.
      afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
        conn.on('error', () => undefined);
        if (!settings) return done(null, conn);
        conn.query(settings).then(() => done(null, conn), (err: Error) => done(err, conn));
      },
    },
    acquireConnectionTimeout: 30_000,
    log: KNEX_LOG,
  });
}

// knex logs to stdout by default ("Connection Error: …" when a pooled connection is killed), which
// would corrupt `bench run --json`. Warnings and errors go to stderr, except a lost or refused
// connection: a store going away makes every pooled connection say so (with a stack), so those are
// counted in the process's tally and summarised once.
const toStderr = (m: unknown) => process.stderr.write(`knex: ${typeof m === 'string' ? m : (m as Error)?.message ?? String(m)}\n`);
const countOrShow = (m: unknown) => { if (!tally.record('database', m)) toStderr(m); };
const KNEX_LOG = { warn: countOrShow, error: countOrShow, deprecate: toStderr, debug: () => undefined };

/** Server-side connection ids of the pools this process opened, by application name (MySQL has no application_name). */
export const mysqlConnectionIds = new Map<string, Set<number>>();

interface MysqlConn {
  on(ev: 'error', fn: () => void): void;
  threadId: number;
  query(sql: string, cb: (err: Error | null) => void): void;
}

function createMysqlDb({ url, poolMax = 10, applicationName = 'seatlab', session = {} }: DbOptions): Knex {
  const u = new URL(url);
  // Every timestamp is UTC on the wire and in DATETIME(6) columns. GROUP_CONCAT (the checkers' list
  // of a seat's reservations) is cut at 1024 bytes by default: an oversold seat's evidence must be whole.
  const statements = [`SET SESSION time_zone = '+00:00'`, 'SET SESSION group_concat_max_len = 16777216', ...mysqlSession(session)];
  const ids = mysqlConnectionIds.get(applicationName) ?? new Set<number>();
  mysqlConnectionIds.set(applicationName, ids);
  return knexFactory({
    client: 'mysql2',
    connection: {
      host: u.hostname || '127.0.0.1',
      port: Number(u.port || 3306),
      user: decodeURIComponent(u.username || 'root'),
      password: decodeURIComponent(u.password),
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
      charset: 'utf8mb4',
      timezone: 'Z',
      supportBigNumbers: true,
      // Several statements in one round trip (src/db/sql/exec.ts multi): MySQL has no writable CTEs,
      // so a hold's writes would otherwise cost a round trip each while the row lock is held. Values
      // still travel only as bindings, escaped by the driver.
      multipleStatements: true,
      bigNumberStrings: false,
      decimalNumbers: true,
      dateStrings: false,
      connectAttributes: { program_name: applicationName },
    },
    pool: {
      min: 0,
      max: poolMax,
      afterCreate: (conn: MysqlConn, done: (err: Error | null, conn: MysqlConn) => void) => {
        conn.on('error', () => undefined);
        ids.add(conn.threadId);
        const next = (i: number): void => {
          if (i >= statements.length) return done(null, conn);
          conn.query(statements[i]!, (err) => (err ? done(err, conn) : next(i + 1)));
        };
        next(0);
      },
    },
    acquireConnectionTimeout: 30_000,
    log: KNEX_LOG,
  });
}

/**
 * PostgreSQL session settings in InnoDB terms. lock_timeout (ms) becomes innodb_lock_wait_timeout,
 * whose unit is whole seconds: it is rounded UP (a wait is never cut shorter than asked), and 0
 * ("wait forever") becomes the largest value InnoDB accepts. A setting without a translation is
 * an error, never silently dropped.
 */
export function mysqlSession(session: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(session)) {
    const ms = parseMs(v);
    if (k === 'lock_timeout') out.push(`SET SESSION innodb_lock_wait_timeout = ${ms === 0 ? 1073741824 : Math.max(1, Math.ceil(ms / 1000))}`);
    else throw new Error(`session setting ${k} has no MySQL translation (known: lock_timeout)`);
  }
  return out;
}

function parseMs(v: string): number {
  const m = /^(\d+)\s*(ms|s)?$/.exec(v.trim());
  if (!m) throw new Error(`expected a duration like 5000ms, got ${JSON.stringify(v)}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** Swaps the database name in a database URL (either dialect). */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function sqlLiteral(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}

/** Where a pool reports its timings (the server's metrics); seconds. */
export interface DbTimer {
  /** Waiting for a pooled connection: tarn's acquire request → granted (or failed). */
  poolWait(seconds: number): void;
  /** One statement on a connection: knex's 'query' → 'query-response' (or 'query-error'). */
  query(seconds: number): void;
}

// A query whose answer never comes (its connection destroyed without an error event) would stay in
// the map for good; past this many in flight the map is dropped rather than grow.
const MAX_IN_FLIGHT = 100_000;

/**
 * Times every pool acquire and every query of `db` from the events knex and tarn already emit,
 * matched by their ids (__knexQueryUid, tarn's eventId). BEGIN/COMMIT carry no query id and are
 * left out: they are the transaction's bookends, not its statements. Returns the detach.
 */
export function timeDb(db: Knex, t: DbTimer): () => void {
  const queries = new Map<string, number>();
  const onQuery = (q: { __knexQueryUid?: string }) => {
    if (!q.__knexQueryUid) return;
    if (queries.size >= MAX_IN_FLIGHT) queries.clear();
    queries.set(q.__knexQueryUid, performance.now());
  };
  const end = (q: { __knexQueryUid?: string } | undefined) => {
    const uid = q?.__knexQueryUid;
    const t0 = uid === undefined ? undefined : queries.get(uid);
    if (t0 === undefined) return;
    queries.delete(uid!);
    t.query((performance.now() - t0) / 1000);
  };
  const onResponse = (_r: unknown, q: { __knexQueryUid?: string }) => end(q);
  const onError = (_e: unknown, q: { __knexQueryUid?: string }) => end(q);
  db.on('query', onQuery).on('query-response', onResponse).on('query-error', onError);

  const pool = (db.client as { pool?: TarnPool }).pool;
  const acquires = new Map<number, number>();
  const onRequest = (id: number) => {
    if (acquires.size >= MAX_IN_FLIGHT) acquires.clear();
    acquires.set(id, performance.now());
  };
  const onGranted = (id: number) => {
    const t0 = acquires.get(id);
    if (t0 === undefined) return;
    acquires.delete(id);
    t.poolWait((performance.now() - t0) / 1000);
  };
  pool?.on('acquireRequest', onRequest);
  pool?.on('acquireSuccess', onGranted);
  pool?.on('acquireFail', onGranted);
  return () => {
    db.off('query', onQuery).off('query-response', onResponse).off('query-error', onError);
    pool?.removeListener('acquireRequest', onRequest);
    pool?.removeListener('acquireSuccess', onGranted);
    pool?.removeListener('acquireFail', onGranted);
  };
}

interface TarnPool {
  on(event: 'acquireRequest' | 'acquireSuccess' | 'acquireFail', fn: (eventId: number) => void): void;
  removeListener(event: string, fn: (eventId: number) => void): void;
}
