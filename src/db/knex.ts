import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { assertIdentifier } from './identifiers.js';

// BIGINT (int8) ids and counts come back as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));
const INT8_ARRAY = 1016 as Parameters<typeof pg.types.getTypeParser>[0]; // not in the TypeId enum
const parseInt8Array = pg.types.getTypeParser(INT8_ARRAY) as (v: string) => (string | null)[];
pg.types.setTypeParser(INT8_ARRAY, (v: string) => parseInt8Array(v).map((x) => (x === null ? null : Number(x))));

export interface DbOptions {
  url: string;
  poolMax?: number;
  applicationName?: string;
  /** SET name = value on every new pooled connection (e.g. lock_timeout). */
  session?: Record<string, string>;
}

export function createDb({ url, poolMax = 10, applicationName = 'seatlab', session = {} }: DbOptions): Knex {
  const settings = Object.entries(session).map(([k, v]) => `SET ${assertIdentifier(k)} = ${pgLiteral(v)}`).join('; ');
  const db = knexFactory({
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
  });
  return db;
}

/** Swaps the database name in a postgres URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function pgLiteral(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}
