import pg from 'pg';
import mysql from 'mysql2/promise';
import { migrateLatest } from './migrate.js';
import { createDb, withDatabase } from './knex.js';
import { dialectOfUrl } from './dialect.js';
import { quoteIdent, quoteIdentMysql } from './identifiers.js';

// Databases per run and per test, on either store. The admin URL may create and drop databases;
// the database named in its path is only a default and need not exist.

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A single MySQL connection on the server of `url`, with no database selected. */
export async function mysqlAdminConnection(url: string, connectTimeoutMs = 10_000): Promise<mysql.Connection> {
  const u = new URL(url);
  const conn = await mysql.createConnection({
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    connectTimeout: connectTimeoutMs,
  });
  conn.on('error', () => undefined);
  return conn;
}

async function withMysqlAdmin<T>(adminUrl: string, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysqlAdminConnection(adminUrl);
  try {
    // A leftover transaction's metadata lock would otherwise hold DROP DATABASE for a year (the default).
    await conn.query('SET SESSION lock_wait_timeout = 30');
    return await fn(conn);
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** Creates a database holding the migrated schema, to be cloned per run. */
export async function createTemplateDatabase(adminUrl: string, name: string): Promise<void> {
  if (dialectOfUrl(adminUrl) === 'mysql') {
    await withMysqlAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${quoteIdentMysql(name)} CHARACTER SET utf8mb4`));
  } else {
    await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
  }
  await migrate(withDatabase(adminUrl, name));
}

/**
 * A fresh, migrated database: a copy of the template, so no run sees another's state.
 * MySQL has no CREATE DATABASE … TEMPLATE, so there the new database is created empty and
 * migrated (about 60 ms on MariaDB 10.11 here, no slower than copying the tables one by one with
 * CREATE TABLE … LIKE, which would also lose the foreign keys). The template must still exist,
 * so both stores fail alike when it does not.
 */
export async function createDatabaseFromTemplate(adminUrl: string, name: string, template: string): Promise<string> {
  if (dialectOfUrl(adminUrl) === 'pg') {
    await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`));
    return withDatabase(adminUrl, name);
  }
  await withMysqlAdmin(adminUrl, async (c) => {
    const [rows] = await c.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [template]);
    if ((rows as unknown[]).length === 0) throw new Error(`template database "${template}" does not exist`);
    await c.query(`CREATE DATABASE ${quoteIdentMysql(name)} CHARACTER SET utf8mb4`);
  });
  const url = withDatabase(adminUrl, name);
  await migrate(url);
  return url;
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  if (dialectOfUrl(adminUrl) === 'pg') {
    await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
    return;
  }
  // PostgreSQL's WITH (FORCE) ends the sessions on the database; on MySQL they are killed first,
  // so an open transaction cannot hold the drop on its metadata lock.
  await withMysqlAdmin(adminUrl, async (c) => {
    const [rows] = await c.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()', [name]);
    for (const { id } of rows as { id: number }[]) {
      await c.query(`KILL CONNECTION ${Number(id)}`).catch(() => undefined); // it may have gone meanwhile
    }
    await c.query(`DROP DATABASE IF EXISTS ${quoteIdentMysql(name)}`);
  });
}

async function migrate(url: string): Promise<void> {
  const db = createDb({ url, poolMax: 1 });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }
}
