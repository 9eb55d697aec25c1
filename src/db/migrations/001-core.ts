import type { Knex } from 'knex';
import { dialectOf } from '../dialect.js';
import { mysqlTableOptions } from './mysql-options.js';

// Note what is NOT here: no unique index on reservations(schedule_id, seat_no) for active rows,
// and no CHECK on inventory.remaining. Either would turn a broken strategy's oversell into an
// error and hide it; the lab's checkers find oversells afterwards instead.
export async function up(db: Knex): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    const opts = await mysqlTableOptions(db);
    for (const sql of mysqlUp(opts)) await db.raw(sql);
    return;
  }
  await db.raw(`
    CREATE TABLE users (
      id          bigserial PRIMARY KEY,
      name        text NOT NULL,
      balance     bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE balance_ledger (
      id          bigserial PRIMARY KEY,
      user_id     bigint NOT NULL REFERENCES users(id),
      kind        text NOT NULL CHECK (kind IN ('CHARGE', 'SPEND', 'REFUND')),
      amount      bigint NOT NULL,
      ref         text,
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX balance_ledger_user ON balance_ledger (user_id);

    CREATE TABLE concerts (
      id          bigserial PRIMARY KEY,
      name        text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE schedules (
      id          bigserial PRIMARY KEY,
      concert_id  bigint NOT NULL REFERENCES concerts(id),
      starts_at   timestamptz NOT NULL,
      seat_count  integer NOT NULL CHECK (seat_count >= 0),
      price       integer NOT NULL CHECK (price >= 0)
    );
    CREATE INDEX schedules_concert ON schedules (concert_id);

    CREATE TABLE seats (
      id               bigserial PRIMARY KEY,
      schedule_id      bigint NOT NULL REFERENCES schedules(id),
      seat_no          integer NOT NULL CHECK (seat_no >= 1),
      status           text NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'SOLD')),
      version          integer NOT NULL DEFAULT 0,
      holder_user_id   bigint,
      hold_expires_at  timestamptz,
      fence            bigint NOT NULL DEFAULT 0,
      UNIQUE (schedule_id, seat_no)
    );

    CREATE TABLE reservations (
      id           bigserial PRIMARY KEY,
      user_id      bigint NOT NULL REFERENCES users(id),
      schedule_id  bigint NOT NULL REFERENCES schedules(id),
      seat_no      integer,
      status       text NOT NULL CHECK (status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED')),
      amount       integer NOT NULL,
      expires_at   timestamptz NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX reservations_seat ON reservations (schedule_id, seat_no);
    CREATE INDEX reservations_user ON reservations (user_id);

    CREATE TABLE payments (
      id               bigserial PRIMARY KEY,
      reservation_id   bigint NOT NULL REFERENCES reservations(id),
      user_id          bigint NOT NULL REFERENCES users(id),
      amount           integer NOT NULL,
      idempotency_key  text NOT NULL UNIQUE,
      created_at       timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE inventory (
      schedule_id  bigint PRIMARY KEY REFERENCES schedules(id),
      total        integer NOT NULL,
      remaining    integer NOT NULL,
      version      integer NOT NULL DEFAULT 0
    );

    CREATE TABLE outbox (
      id              bigserial PRIMARY KEY,
      aggregate_type  text NOT NULL,
      aggregate_id    bigint NOT NULL,
      event_type      text NOT NULL,
      payload         jsonb NOT NULL,
      created_at      timestamptz NOT NULL DEFAULT now(),
      published_at    timestamptz
    );
    CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
  `);
}

export async function down(db: Knex): Promise<void> {
  if (dialectOf(db) === 'mysql') {
    for (const t of ['outbox', 'inventory', 'payments', 'reservations', 'seats', 'schedules', 'concerts', 'balance_ledger', 'users']) {
      await db.raw(`DROP TABLE ${t}`);
    }
    return;
  }
  await db.raw('DROP TABLE outbox, inventory, payments, reservations, seats, schedules, concerts, balance_ledger, users');
}

// The same tables in InnoDB terms (see mysql-options.ts for the type mapping). Foreign keys are
// table constraints: MySQL parses a column-level REFERENCES and silently ignores it. Each index is
// declared inside its table so the foreign key uses it instead of InnoDB adding one of its own.
// DEFAULT CURRENT_TIMESTAMP(6) is the start of the INSERT statement, not of the transaction.
function mysqlUp(opts: string): string[] {
  return [
    `CREATE TABLE users (
      id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      name        VARCHAR(255) NOT NULL,
      balance     BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
      created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ${opts}`,
    `CREATE TABLE balance_ledger (
      id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      user_id     BIGINT NOT NULL,
      kind        VARCHAR(255) NOT NULL CHECK (kind IN ('CHARGE', 'SPEND', 'REFUND')),
      amount      BIGINT NOT NULL,
      ref         VARCHAR(255),
      created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      INDEX balance_ledger_user (user_id),
      FOREIGN KEY (user_id) REFERENCES users (id)
    ) ${opts}`,
    `CREATE TABLE concerts (
      id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      name        VARCHAR(255) NOT NULL,
      created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
    ) ${opts}`,
    `CREATE TABLE schedules (
      id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      concert_id  BIGINT NOT NULL,
      starts_at   DATETIME(6) NOT NULL,
      seat_count  INT NOT NULL CHECK (seat_count >= 0),
      price       INT NOT NULL CHECK (price >= 0),
      INDEX schedules_concert (concert_id),
      FOREIGN KEY (concert_id) REFERENCES concerts (id)
    ) ${opts}`,
    `CREATE TABLE seats (
      id               BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      schedule_id      BIGINT NOT NULL,
      seat_no          INT NOT NULL CHECK (seat_no >= 1),
      status           VARCHAR(255) NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'SOLD')),
      version          INT NOT NULL DEFAULT 0,
      holder_user_id   BIGINT,
      hold_expires_at  DATETIME(6),
      fence            BIGINT NOT NULL DEFAULT 0,
      UNIQUE (schedule_id, seat_no),
      FOREIGN KEY (schedule_id) REFERENCES schedules (id)
    ) ${opts}`,
    `CREATE TABLE reservations (
      id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      user_id      BIGINT NOT NULL,
      schedule_id  BIGINT NOT NULL,
      seat_no      INT,
      status       VARCHAR(255) NOT NULL CHECK (status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED')),
      amount       INT NOT NULL,
      expires_at   DATETIME(6) NOT NULL,
      created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      updated_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      INDEX reservations_seat (schedule_id, seat_no),
      INDEX reservations_user (user_id),
      FOREIGN KEY (user_id) REFERENCES users (id),
      FOREIGN KEY (schedule_id) REFERENCES schedules (id)
    ) ${opts}`,
    `CREATE TABLE payments (
      id               BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      reservation_id   BIGINT NOT NULL,
      user_id          BIGINT NOT NULL,
      amount           INT NOT NULL,
      idempotency_key  VARCHAR(255) NOT NULL UNIQUE,
      created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      FOREIGN KEY (reservation_id) REFERENCES reservations (id),
      FOREIGN KEY (user_id) REFERENCES users (id)
    ) ${opts}`,
    `CREATE TABLE inventory (
      schedule_id  BIGINT NOT NULL PRIMARY KEY,
      total        INT NOT NULL,
      remaining    INT NOT NULL,
      version      INT NOT NULL DEFAULT 0,
      FOREIGN KEY (schedule_id) REFERENCES schedules (id)
    ) ${opts}`,
    // No partial indexes in MySQL: (published_at, id) finds the unpublished rows (published_at IS
    // NULL sorts first) in id order, as outbox_unpublished does on PostgreSQL.
    `CREATE TABLE outbox (
      id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      aggregate_type  VARCHAR(255) NOT NULL,
      aggregate_id    BIGINT NOT NULL,
      event_type      VARCHAR(255) NOT NULL,
      payload         JSON NOT NULL,
      created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
      published_at    DATETIME(6),
      INDEX outbox_unpublished (published_at, id)
    ) ${opts}`,
  ];
}
