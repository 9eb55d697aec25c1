import type { Knex } from 'knex';
import { dialectOf, type Dialect } from '../dialect.js';

// Named statements (DESIGN §6): the booking core, the strategies and the checkers call functions of
// src/db/sql, never SQL text. Each takes a pool or a transaction and returns plain rows. Where the
// dialects differ, the function has a PostgreSQL form and a MySQL form side by side; otherwise one.
//
// The main difference: PostgreSQL writes a seat, its reservation and its outbox event in ONE
// statement (a writable CTE with RETURNING); MySQL has neither, so its form runs the same writes as
// several statements in one transaction: more round trips, the same atomicity.
export type Q = Knex | Knex.Transaction;

export interface Sql { sql: string; bindings: (string | number | null | Date | readonly number[])[] }

/** Runs fn in the caller's transaction, or in a new one when the caller passed a pool. */
export function atomic<T>(q: Q, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return (q as Knex.Transaction).isTransaction ? fn(q as Knex.Transaction) : (q as Knex).transaction(fn);
}

/** The rows of one statement, whichever driver answered. */
export async function rows<T>(q: Q, s: Sql): Promise<T[]> {
  const res = (await q.raw(s.sql, s.bindings as Knex.RawBinding[])) as unknown;
  if (Array.isArray(res)) return (Array.isArray(res[0]) ? res[0] : []) as T[];
  return ((res as { rows?: T[] }).rows ?? []) as T[];
}

/** Rows changed by one INSERT/UPDATE/DELETE (pg rowCount, mysql2 affectedRows). */
export async function affected(q: Q, s: Sql): Promise<number> {
  const res = (await q.raw(s.sql, s.bindings as Knex.RawBinding[])) as unknown;
  if (Array.isArray(res)) return Number((res[0] as { affectedRows?: number })?.affectedRows ?? 0);
  return Number((res as { rowCount?: number }).rowCount ?? 0);
}

/**
 * MySQL: several statements in one round trip; one result per statement (a ResultSetHeader for a
 * write, an array of rows for a read).
 */
export async function multi(q: Q, s: Sql): Promise<unknown[]> {
  const res = (await q.raw(s.sql, s.bindings as Knex.RawBinding[])) as unknown;
  return (res as [unknown[]])[0];
}

/** The AUTO_INCREMENT id of a MySQL INSERT (it travels with the answer, so any connection will do). */
export async function insertId(q: Q, s: Sql): Promise<number> {
  const res = (await q.raw(s.sql, s.bindings as Knex.RawBinding[])) as unknown;
  return Number((res as [{ insertId?: number }])[0]?.insertId ?? 0);
}

export const dialect = (q: Q): Dialect => dialectOf(q);

/** now + ms milliseconds, with the ms as a binding. */
export const nowPlusMs = (d: Dialect) => (d === 'pg' ? `now() + (? * interval '1 millisecond')` : 'NOW(6) + INTERVAL (? * 1000) MICROSECOND');

/** A JSON value as the driver hands it back: pg parses json columns; MariaDB's JSON and LONGTEXT are strings. */
export function jsonValue<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}
