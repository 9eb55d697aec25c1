import type { Knex } from 'knex';
import { dialectOf, rawAffected, rawInsertId, rawRows, type Dialect } from '../dialect.js';

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

/** The rows of one statement, whichever driver answered (the result shapes are read in dialect.ts). */
export const rows = <T>(q: Q, s: Sql): Promise<T[]> => rawRows<T>(q, s.sql, s.bindings);

/** Rows changed by one INSERT/UPDATE/DELETE (pg rowCount, mysql2 affectedRows). */
export const affected = (q: Q, s: Sql): Promise<number> => rawAffected(q, s.sql, s.bindings);

/**
 * MySQL: several statements in one round trip; one result per statement (a ResultSetHeader for a
 * write, an array of rows for a read).
 */
export async function multi(q: Q, s: Sql): Promise<unknown[]> {
  const res = (await q.raw(s.sql, s.bindings as Knex.RawBinding[])) as unknown;
  return (res as [unknown[]])[0];
}

/** The AUTO_INCREMENT id of a MySQL INSERT (it travels with the answer, so any connection will do). */
export const insertId = (q: Q, s: Sql): Promise<number> => rawInsertId(q, s.sql, s.bindings);

export const dialect = (q: Q): Dialect => dialectOf(q);

/** now + ms milliseconds, with the ms as a binding. */
export const nowPlusMs = (d: Dialect) => (d === 'pg' ? `now() + (? * interval '1 millisecond')` : 'NOW(6) + INTERVAL (? * 1000) MICROSECOND');

/** A JSON value as the driver hands it back: pg parses json columns; MariaDB's JSON and LONGTEXT are strings. */
export function jsonValue<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}
