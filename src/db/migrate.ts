import type { Knex } from 'knex';
import { dialectOf } from './dialect.js';
import * as core001 from './migrations/001-core.js';
import * as fencing002 from './migrations/002-fencing.js';
import * as payments003 from './migrations/003-payments.js';
import * as intervals004 from './migrations/004-intervals.js';

interface Migration { up(db: Knex): Promise<void>; down(db: Knex): Promise<void> }

// Migrations are listed in code, not discovered on disk, so the same list works from the compiled
// dist/ folder and from TypeScript under vitest.
const migrations: Record<string, Migration> = {
  '001-core': core001,
  '002-fencing': fencing002,
  '003-payments': payments003,
  '004-intervals': intervals004,
};

const source: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};

// MySQL commits implicitly before and after every DDL statement, so a migration cannot run in a
// transaction there: a failure leaves the statements before it applied (and each migration's
// MySQL form is written one statement per call). knex is told so rather than left to pretend.
function config(db: Knex): Knex.MigratorConfig {
  return { migrationSource: source, disableTransactions: dialectOf(db) === 'mysql' };
}

export async function migrateLatest(db: Knex): Promise<void> {
  await db.migrate.latest(config(db));
}

/** Undoes every migration, newest first (used to check the down migrations). */
export async function migrateRollbackAll(db: Knex): Promise<void> {
  await db.migrate.rollback(config(db), true);
}
