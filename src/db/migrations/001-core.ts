import type { Knex } from 'knex';

// Note what is NOT here: no unique index on reservations(schedule_id, seat_no) for active rows,
// and no CHECK on inventory.remaining. Either would turn a broken strategy's oversell into an
// error and hide it; the lab's checkers find oversells afterwards instead.
export async function up(db: Knex): Promise<void> {
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
  await db.raw('DROP TABLE outbox, inventory, payments, reservations, seats, schedules, concerts, balance_ledger, users');
}
