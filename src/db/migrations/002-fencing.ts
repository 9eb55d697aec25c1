import type { Knex } from 'knex';

// Fencing tokens for lock-based strategies: strictly increasing, from PostgreSQL (a single Redis
// is not a fault-tolerant source). The inventory row gets a fence like seats already have.
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    CREATE SEQUENCE fence_seq;
    ALTER TABLE inventory ADD COLUMN fence bigint NOT NULL DEFAULT 0;
    CREATE INDEX reservations_general ON reservations (schedule_id) WHERE seat_no IS NULL;
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX reservations_general; ALTER TABLE inventory DROP COLUMN fence; DROP SEQUENCE fence_seq;');
}
