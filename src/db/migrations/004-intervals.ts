import type { Knex } from 'knex';

// Overselling is judged on intervals (DESIGN §7): a reservation is active from created_at until
// ended_at (NULL while HELD or CONFIRMED). Both ends are clock_timestamp(), the moment of the write,
// not now(): now() is the transaction's start, so a hold that waited on a row lock would appear to
// begin before the hold it replaced had ended, a false overlap. The default changes too, so rows
// written by code that does not name created_at (seeds, tests) get the same meaning.
// Rows that ended before this migration get updated_at, the best record of that moment we have.
export async function up(db: Knex): Promise<void> {
  await db.raw(`
    ALTER TABLE reservations ADD COLUMN ended_at timestamptz NULL,
                             ALTER COLUMN created_at SET DEFAULT clock_timestamp();
    UPDATE reservations SET ended_at = updated_at WHERE status IN ('EXPIRED', 'CANCELLED');
  `);
}

export async function down(db: Knex): Promise<void> {
  await db.raw('ALTER TABLE reservations DROP COLUMN ended_at, ALTER COLUMN created_at SET DEFAULT now();');
}
