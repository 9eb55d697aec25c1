import type { Knex } from 'knex';
import { dialectOf } from '../dialect.js';
import { mysqlTableOptions } from './mysql-options.js';

// Balances become a contended resource like seats: a version for optimistic locking and a fence
// for fenced distributed locks. Idempotency keys remember the first answer to a payment request;
// sweeps record when each expiry sweep ran, so "one sweeper at a time" can be checked.
export async function up(db: Knex): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    for (const sql of await mysqlUp(db)) await db.raw(sql);
    return;
  }
  await db.raw(`
    ALTER TABLE users ADD COLUMN version integer NOT NULL DEFAULT 0, ADD COLUMN fence bigint NOT NULL DEFAULT 0;
    CREATE TABLE idempotency_keys (
      key              text PRIMARY KEY,
      user_id          bigint NOT NULL REFERENCES users(id),
      request_hash     text NOT NULL,
      response_status  integer,
      -- json, not jsonb: a replay must return the first answer byte for byte (jsonb reorders keys)
      response_body    json,
      created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX reservations_expiry ON reservations (expires_at) WHERE status = 'HELD';
    CREATE TABLE sweeps (
      id           bigserial PRIMARY KEY,
      owner        text NOT NULL,
      started_at   timestamptz NOT NULL,
      finished_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      expired      integer NOT NULL
    );
  `);
}

export async function down(db: Knex): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    await db.raw('DROP TABLE sweeps');
    await db.raw('DROP TABLE idempotency_keys');
    await db.raw('DROP INDEX reservations_expiry ON reservations');
    await db.raw('ALTER TABLE users DROP COLUMN version, DROP COLUMN fence');
    return;
  }
  await db.raw(`DROP TABLE sweeps, idempotency_keys; DROP INDEX reservations_expiry;
    ALTER TABLE users DROP COLUMN version, DROP COLUMN fence;`);
}

async function mysqlUp(db: Knex): Promise<string[]> {
  const opts = await mysqlTableOptions(db);
  return [
    'ALTER TABLE users ADD COLUMN version INT NOT NULL DEFAULT 0, ADD COLUMN fence BIGINT NOT NULL DEFAULT 0',
    // `key` is reserved in MySQL: the name stays (the query builder quotes it), DDL quotes it here.
    // response_body is LONGTEXT, not JSON: MySQL 8 stores JSON in a binary form that reorders keys
    // (MariaDB's JSON is LONGTEXT anyway), and a replay must return the first answer byte for byte.
    // The driver hands it back as a string, so the writer stores JSON text and the reader parses it.
    // No foreign key on user_id here: InnoDB checks one by taking a SHARED lock on the users row,
    // held to commit, so every concurrent payment of one user would hold a lock that conflicts with
    // the balance lock taken next (FOR UPDATE deadlocks, FOR UPDATE NOWAIT is refused every time —
    // measured: 1 of 50 payable payments in 100 retries each). PostgreSQL avoids the same trap with
    // FOR KEY SHARE vs FOR NO KEY UPDATE; InnoDB has no such lock modes. The token's user is checked
    // by the API before the key is written.
    `CREATE TABLE idempotency_keys (
      \`key\`          VARCHAR(255) NOT NULL PRIMARY KEY,
      user_id          BIGINT NOT NULL,
      request_hash     VARCHAR(255) NOT NULL,
      response_status  INT,
      response_body    LONGTEXT,
      created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      INDEX idempotency_keys_user (user_id)
    ) ${opts}`,
    // No partial index: (status, expires_at) reaches the HELD rows in expiry order just the same.
    'CREATE INDEX reservations_expiry ON reservations (status, expires_at)',
    // clock_timestamp() has no MySQL twin; CURRENT_TIMESTAMP(6) is the start of the INSERT
    // statement (not of the transaction, as now() is on PostgreSQL), which is when the sweep is recorded.
    `CREATE TABLE sweeps (
      id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      owner        VARCHAR(255) NOT NULL,
      started_at   DATETIME(6) NOT NULL,
      finished_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      expired      INT NOT NULL
    ) ${opts}`,
  ];
}
