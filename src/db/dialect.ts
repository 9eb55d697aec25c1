import type { Knex } from 'knex';

// The two stores seatlab runs on. Statements differ only where the dialects must (DESIGN §6):
// PostgreSQL has writable CTEs, RETURNING and sequences; MySQL/MariaDB (InnoDB) has none of them.
export type Dialect = 'pg' | 'mysql';

export const DIALECTS: readonly Dialect[] = ['pg', 'mysql'];

/** The dialect a database URL speaks; throws a message naming the accepted schemes. */
export function dialectOfUrl(url: string): Dialect {
  let scheme: string;
  try {
    scheme = new URL(url).protocol.replace(/:$/, '');
  } catch {
    throw new Error(`not a database URL: ${JSON.stringify(url)}; expected postgres://…, postgresql://…, mysql://… or mariadb://…`);
  }
  if (scheme === 'postgres' || scheme === 'postgresql') return 'pg';
  if (scheme === 'mysql' || scheme === 'mariadb') return 'mysql';
  throw new Error(`unsupported database URL scheme "${scheme}:"; expected postgres://, postgresql://, mysql:// or mariadb://`);
}

/** The dialect of a knex instance or transaction. */
export function dialectOf(db: Knex | Knex.Transaction): Dialect {
  const client = (db as unknown as { client: { config: { client: unknown } } }).client.config.client;
  return client === 'mysql2' ? 'mysql' : 'pg';
}

/** The rows of a raw query, whichever driver answered (pg: result.rows; mysql2: [rows, fields]). */
export async function rawRows<T>(db: Knex | Knex.Transaction, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  const res = (await db.raw(sql, bindings as Knex.RawBinding[])) as unknown;
  if (Array.isArray(res)) return (Array.isArray(res[0]) ? res[0] : []) as T[];
  return ((res as { rows?: T[] }).rows ?? []) as T[];
}

/** Rows changed by a raw INSERT/UPDATE/DELETE (pg: rowCount; mysql2: affectedRows). */
export async function rawAffected(db: Knex | Knex.Transaction, sql: string, bindings: readonly unknown[] = []): Promise<number> {
  const res = (await db.raw(sql, bindings as Knex.RawBinding[])) as unknown;
  if (Array.isArray(res)) return Number((res[0] as { affectedRows?: number })?.affectedRows ?? 0);
  return Number((res as { rowCount?: number }).rowCount ?? 0);
}

/** The id an INSERT … AUTO_INCREMENT just generated (MySQL; same connection, so call it inside a transaction). */
export async function rawInsertId(db: Knex | Knex.Transaction, sql: string, bindings: readonly unknown[] = []): Promise<number> {
  const res = (await db.raw(sql, bindings as Knex.RawBinding[])) as unknown;
  return Number((res as [{ insertId?: number }])[0]?.insertId ?? 0);
}
