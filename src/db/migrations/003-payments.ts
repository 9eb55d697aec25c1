import type { Knex } from 'knex';

// Balances become a contended resource like seats: a version for optimistic locking and a fence
// for fenced distributed locks. Idempotency keys remember the first answer to a payment request;
// sweeps record when each expiry sweep ran, so "one sweeper at a time" can be checked.
export async function up(db: Knex): Promise<void> {
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
  await db.raw(`DROP TABLE sweeps, idempotency_keys; DROP INDEX reservations_expiry;
    ALTER TABLE users DROP COLUMN version, DROP COLUMN fence;`);
}
