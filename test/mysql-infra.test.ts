import { describe, expect, it, onTestFinished } from 'vitest';
import { inject } from 'vitest';
import type { Knex } from 'knex';
import { createDb, mysqlConnectionIds } from '../src/db/knex.js';
import { rawRows, rawInsertId } from '../src/db/dialect.js';
import { dbErrorKind } from '../src/db/errors.js';
import { migrateLatest, migrateRollbackAll } from '../src/db/migrate.js';
import { createDatabaseFromTemplate, dropDatabase, mysqlAdminConnection } from '../src/db/databases.js';
import { provisionMysql } from '../src/infra/mysql.js';
import { provisionStore } from '../src/infra/store.js';
import { InfraUnavailableError } from '../src/infra/errors.js';
import { storeInfo } from '../src/report/metadata.js';
import { killDbConnections } from '../src/nemesis/kill-db-connections.js';
import { freshDatabaseOn } from './helpers.js';

// The MySQL/MariaDB groundwork against the real server the global setup checked: the schema has
// the same shape on both stores, databases come and go, and InnoDB's real failures (a deadlock, a
// lock wait timeout, a killed connection) are translated as the PostgreSQL ones are.

async function columnsByTable(db: Knex, dialect: 'pg' | 'mysql'): Promise<Record<string, string[]>> {
  const rows = dialect === 'pg'
    ? await rawRows<{ t: string; c: string }>(db, `SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = 'public'`)
    : await rawRows<{ t: string; c: string }>(db, 'SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()');
  const out: Record<string, string[]> = {};
  for (const { t, c } of rows) (out[t] ??= []).push(c);
  for (const t of Object.keys(out)) out[t]!.sort();
  return out;
}

/** A transaction left open is rolled back at the end, so its pool can close. */
function rollbackWhenDone(trx: Knex.Transaction): void {
  onTestFinished(async () => { await trx.rollback().catch(() => undefined); });
}

/** Two rows to fight over. */
async function twoUsers(db: Knex): Promise<void> {
  await db('users').insert([{ name: 'a', balance: 10 }, { name: 'b', balance: 10 }]);
}

describe('schema on MySQL and PostgreSQL', () => {
  it('migrations give the same tables and columns on both stores (fence_seq is a sequence on PostgreSQL, a table on MySQL)', async () => {
    const pg = await freshDatabaseOn('pg');
    const my = await freshDatabaseOn('mysql');
    const pgCols = await columnsByTable(pg.db, 'pg');
    const { fence_seq: fenceSeq, ...myCols } = await columnsByTable(my.db, 'mysql');
    expect(myCols).toEqual(pgCols);
    expect(Object.keys(myCols)).toContain('idempotency_keys');
    expect(fenceSeq).toEqual(['id']);
  });

  it('the same query-builder calls and row shapes work on MySQL: key, JSON payload, UTC timestamps, byte-wise text', async () => {
    const { db } = await freshDatabaseOn('mysql');
    const [userId] = await db('users').insert({ name: 'u', balance: 5 });
    await db('idempotency_keys').insert([{ key: 'K1', user_id: userId, request_hash: 'h' }, { key: 'k1', user_id: userId, request_hash: 'h' }]);
    expect((await db('idempotency_keys').where({ key: 'k1' })).map((r) => r.key)).toEqual(['k1']);
    const at = new Date('2030-01-02T03:04:05.678Z');
    const [concert] = await db('concerts').insert({ name: 'c' });
    await db('schedules').insert({ concert_id: concert, starts_at: at, seat_count: 1, price: 3 });
    const row = await db('schedules').first();
    expect(row.starts_at).toEqual(at);
    await expect(db('users').insert({ name: 'neg', balance: -1 })).rejects.toThrow(); // CHECK is enforced
    await db('outbox').insert({ aggregate_type: 'r', aggregate_id: 1, event_type: 'e', payload: JSON.stringify({ b: 1, a: 2 }) });
    const payload = (await db('outbox').first()).payload;
    expect(typeof payload === 'string' ? JSON.parse(payload) : payload).toEqual({ b: 1, a: 2 });
  });

  it('fencing tokens from fence_seq strictly increase and a rolled-back token is never handed out again', async () => {
    const { db } = await freshDatabaseOn('mysql');
    const take = (trx: Knex.Transaction) => rawInsertId(trx, 'INSERT INTO fence_seq () VALUES ()');
    const a = await db.transaction(take);
    const trx = await db.transaction();
    const b = await take(trx);
    await trx.rollback();
    const c = await db.transaction(take);
    expect(b).toBeGreaterThan(a);
    expect(c).toBeGreaterThan(b);
  });

  it('down migrations undo everything on MySQL, and up runs again', async () => {
    const { db } = await freshDatabaseOn('mysql');
    await migrateRollbackAll(db);
    expect(Object.keys(await columnsByTable(db, 'mysql')).sort()).toEqual(['knex_migrations', 'knex_migrations_lock']);
    await migrateLatest(db);
    expect(Object.keys(await columnsByTable(db, 'mysql'))).toContain('sweeps');
  });
});

describe('MySQL databases and provisioning', () => {
  const admin = () => inject('mysqlUrl');
  const exists = async (name: string) => {
    const c = await mysqlAdminConnection(admin());
    try {
      const [rows] = await c.query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name]);
      return (rows as unknown[]).length === 1;
    } finally {
      await c.end();
    }
  };

  it('creates a database from the template and drops it, even while a transaction holds a lock in it', async () => {
    const name = `seatlab_t_dbs_${process.pid}`;
    await dropDatabase(admin(), name);
    const url = await createDatabaseFromTemplate(admin(), name, inject('mysqlTemplate'));
    expect(await exists(name)).toBe(true);
    const db = createDb({ url, poolMax: 1 });
    onTestFinished(() => db.destroy());
    const trx = await db.transaction();
    await trx('users').insert({ name: 'x' });
    await dropDatabase(admin(), name); // kills the session, as PostgreSQL's WITH (FORCE) does
    expect(await exists(name)).toBe(false);
    await trx.rollback().catch(() => undefined); // gives the dead connection back, so the pool can close
    await dropDatabase(admin(), name); // IF EXISTS
    await expect(createDatabaseFromTemplate(admin(), name, 'seatlab_no_such_template')).rejects.toThrow(/template/);
    expect(await exists(name)).toBe(false);
  });

  it('an explicit URL that does not answer is InfraUnavailableError naming it, password masked', async () => {
    const err = await provisionMysql({ url: 'mysql://root:hunter2@127.0.0.1:1/seatlab' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraUnavailableError);
    expect((err as Error).message).toContain('mysql://root:***@127.0.0.1:1/seatlab');
    expect((err as Error).message).not.toContain('hunter2');
    const wrong = await provisionStore('pg', { url: inject('mysqlUrl') }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(InfraUnavailableError);
  });

  it('with no URL and no Docker engine the error names both ways to get a MySQL', async () => {
    const saved = { url: process.env.MYSQL_URL, docker: process.env.DOCKER_HOST };
    delete process.env.MYSQL_URL;
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    try {
      const err = await provisionMysql().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InfraUnavailableError);
      expect((err as Error).message).toMatch(/--database-url mysql:\/\/.*MYSQL_URL.*Docker engine.*mysql:8\.4/s);
    } finally {
      if (saved.url === undefined) delete process.env.MYSQL_URL; else process.env.MYSQL_URL = saved.url;
      if (saved.docker === undefined) delete process.env.DOCKER_HOST; else process.env.DOCKER_HOST = saved.docker;
    }
  });

  it('the given URL comes back as the admin URL with its dialect', async () => {
    const p = await provisionStore('mysql', { url: inject('mysqlUrl') });
    expect(p).toMatchObject({ url: inject('mysqlUrl'), kind: 'url', dialect: 'mysql' });
  });
});

describe('InnoDB errors mean what PostgreSQL errors mean', () => {
  it('a real deadlock is "deadlock"', async () => {
    const { db } = await freshDatabaseOn('mysql');
    await twoUsers(db);
    const t1 = await db.transaction();
    const t2 = await db.transaction();
    await t1('users').where({ id: 1 }).update({ balance: 1 });
    await t2('users').where({ id: 2 }).update({ balance: 2 });
    const results = await Promise.allSettled([
      t1('users').where({ id: 2 }).update({ balance: 1 }),
      new Promise((r) => setTimeout(r, 200)).then(() => t2('users').where({ id: 1 }).update({ balance: 2 })),
    ]);
    await t1.rollback().catch(() => undefined);
    await t2.rollback().catch(() => undefined);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failures).toHaveLength(1);
    expect(failures[0]!.reason.errno).toBe(1213);
    expect(dbErrorKind(failures[0]!.reason)).toBe('deadlock');
  });

  it('a lock wait timeout, and NOWAIT, are "lock-not-available"', async () => {
    const { db } = await freshDatabaseOn('mysql');
    await twoUsers(db);
    const holder = await db.transaction();
    rollbackWhenDone(holder);
    await holder('users').where({ id: 1 }).forUpdate();
    const waiter = await db.transaction();
    rollbackWhenDone(waiter);
    await waiter.raw('SET SESSION innodb_lock_wait_timeout = 1');
    const started = Date.now();
    const timeout = await waiter('users').where({ id: 1 }).update({ balance: 0 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect((timeout as { errno: number }).errno).toBe(1205);
    expect(dbErrorKind(timeout)).toBe('lock-not-available');
    await waiter.raw('SET SESSION innodb_lock_wait_timeout = 50');
    const nowait = await waiter.raw('SELECT id FROM users WHERE id = 1 FOR UPDATE NOWAIT').catch((e: unknown) => e);
    expect(dbErrorKind(nowait)).toBe('lock-not-available');
  });

  it('KILL CONNECTION on a pooled connection mid-transaction is "connection", in flight and on the next statement', async () => {
    const { db } = await freshDatabaseOn('mysql');
    await twoUsers(db);
    const kill = async (id: number) => {
      const c = await mysqlAdminConnection(inject('mysqlUrl'));
      try { await c.query(`KILL CONNECTION ${id}`); } finally { await c.end(); }
    };
    const idOf = async (trx: Knex.Transaction) => (await rawRows<{ id: number }>(trx, 'SELECT CONNECTION_ID() AS id'))[0]!.id;

    const idle = await db.transaction();
    await idle('users').where({ id: 1 }).update({ balance: 3 });
    await kill(await idOf(idle));
    const next = await idle('users').where({ id: 2 }).update({ balance: 3 }).catch((e: unknown) => e);
    expect(dbErrorKind(next)).toBe('connection');
    await idle.rollback().catch(() => undefined);

    const busy = await db.transaction();
    await busy('users').where({ id: 1 }).update({ balance: 4 });
    const id = await idOf(busy);
    const inFlight = busy.raw('SELECT SLEEP(10)').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    await kill(id);
    expect(dbErrorKind(await inFlight)).toBe('connection');
    await busy.rollback().catch(() => undefined);

    // The killed transactions rolled back, and the pool hands out working connections again.
    expect((await db('users').orderBy('id')).map((u) => u.balance)).toEqual([10, 10]);
  });
});

describe('reports and faults on MySQL', () => {
  it('storeInfo names the engine and the isolation level on both stores', async () => {
    const my = await freshDatabaseOn('mysql');
    const pg = await freshDatabaseOn('pg');
    const mi = await storeInfo(my.db, 'url');
    expect(['mysql', 'mariadb']).toContain(mi.engine);
    expect(mi.isolation).toBe('repeatable read');
    expect(mi.settings.innodb_lock_wait_timeout).toMatch(/^\d+$/);
    const pi = await storeInfo(pg.db, 'embedded');
    expect(pi).toMatchObject({ engine: 'postgresql', isolation: 'read committed' });
  });

  it("kill-db-connections kills the booking servers' connections and spares the lab's pools", async () => {
    const { url, name } = await freshDatabaseOn('mysql');
    const lab = createDb({ url, poolMax: 1, applicationName: 'seatlab-lab' });
    const server = createDb({ url, poolMax: 3, applicationName: 'seatlab-pessimistic' });
    onTestFinished(async () => { await lab.destroy(); await server.destroy(); });
    await lab.raw('SELECT 1');
    await twoUsers(server);
    const trx = await server.transaction();
    rollbackWhenDone(trx);
    await trx('users').where({ id: 1 }).forUpdate();
    await Promise.all([server.raw('SELECT 1'), server.raw('SELECT SLEEP(0.1)')]);
    expect(mysqlConnectionIds.get('seatlab-lab')?.size).toBeGreaterThan(0);

    const active = await killDbConnections.inject({ instances: [], redis: [], adminDbUrl: inject('mysqlUrl'), dbName: name });
    expect(active.applied).toBe(true);
    expect(active.detail).toMatch(/^terminated [2-4] connections \([1-4] running a statement or in a transaction\)$/);
    expect(dbErrorKind(await trx.raw('SELECT 1').catch((e: unknown) => e))).toBe('connection');
    await expect(lab.raw('SELECT 1')).resolves.toBeDefined();
    await expect(server('users').count({ n: '*' })).resolves.toEqual([{ n: 2 }]);
  });
});
