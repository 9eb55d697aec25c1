import type { Knex } from 'knex';
import { dialectOf } from '../dialect.js';
import { mysqlTableOptions } from './mysql-options.js';

// Fencing tokens for lock-based strategies: strictly increasing, from PostgreSQL (a single Redis
// is not a fault-tolerant source). The inventory row gets a fence like seats already have.
export async function up(db: Knex): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    // MySQL 8 has no sequences (MariaDB has), so both use one form: a token is
    // `INSERT INTO fence_seq () VALUES ()` and its insertId. InnoDB hands auto-increment values out
    // under its auto-inc lock and never gives one back on rollback, so tokens strictly increase in
    // the order they were taken, like nextval. The counter survives a restart (MySQL 8, MariaDB
    // 10.2.4+); on older servers it restarts from MAX(id)+1, so never delete the newest row.
    await db.raw(`CREATE TABLE fence_seq (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY) ${await mysqlTableOptions(db)}`);
    await db.raw('ALTER TABLE inventory ADD COLUMN fence BIGINT NOT NULL DEFAULT 0');
    // reservations_general (schedule_id) WHERE seat_no IS NULL: no partial indexes in MySQL, and
    // reservations_seat (schedule_id, seat_no) already serves the same lookups, so none is added.
    return;
  }
  await db.raw(`
    CREATE SEQUENCE fence_seq;
    ALTER TABLE inventory ADD COLUMN fence bigint NOT NULL DEFAULT 0;
    CREATE INDEX reservations_general ON reservations (schedule_id) WHERE seat_no IS NULL;
  `);
}

export async function down(db: Knex): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    await db.raw('ALTER TABLE inventory DROP COLUMN fence');
    await db.raw('DROP TABLE fence_seq');
    return;
  }
  await db.raw('DROP INDEX reservations_general; ALTER TABLE inventory DROP COLUMN fence; DROP SEQUENCE fence_seq;');
}
