import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Knex } from 'knex';
import { provisionPostgres, type Durability } from '../src/infra/postgres.js';
import type { Provisioned } from '../src/infra/chain.js';
import { childrenOf, procStat } from '../src/infra/processes.js';
import { portOpen } from '../src/infra/ports.js';
import { createDb, withDatabase } from '../src/db/knex.js';
import { createTemplateDatabase } from '../src/db/databases.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { startInstances } from '../src/load/instances.js';
import type { HistoryOp } from '../src/load/history.js';
import { checkHistoryInDb } from '../src/check/history.js';
import { crashDb, recoverySummary } from '../src/nemesis/crash-db.js';
import { faults } from '../src/nemesis/index.js';
import type { NemesisTargets } from '../src/nemesis/types.js';
import { renderFaultsMarkdown, renderFaultsConsole } from '../src/report/render-faults.js';
import { machineLine } from '../src/report/render-md.js';
import type { Report } from '../src/report/schema.js';
import { call, SECRET } from './helpers.js';

// crash-db on a PostgreSQL of the test's own (never the suite's shared one): the whole cluster is
// really killed and really comes back through crash recovery; with synchronous_commit off a hold
// acknowledged just before the kill is really gone afterwards, and with it on none is.

/** An embedded PostgreSQL of this test's own, whatever DATABASE_URL says; stopped when the test ends. */
async function ownPostgres(durability: Durability): Promise<Provisioned> {
  const saved = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  try {
    const p = await provisionPostgres({ durability });
    onTestFinished(() => p.stop());
    expect(p.kind).toBe('embedded');
    return p;
  } finally {
    if (saved !== undefined) process.env.DATABASE_URL = saved;
  }
}

/** Every process whose working directory is the data directory: PostgreSQL's processes all chdir there. */
function processesIn(dataDir: string): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).flatMap((n) => {
    try { return readlinkSync(`/proc/${n}/cwd`) === dataDir ? [Number(n)] : []; } catch { return []; }
  });
}
const dead = (pid: number) => { const s = procStat(pid); return !s || s.state === 'Z'; };

const targets = (db: Provisioned | undefined, adminDbUrl: string): NemesisTargets => ({ instances: [], redis: [], db, adminDbUrl, dbName: 'x' });

/** WAL positions in bytes: inserted into PostgreSQL's buffers, written to the OS, flushed to disk. */
async function wal(admin: Knex): Promise<{ inserted: number; written: number; flushed: number }> {
  return (await admin.raw(`SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint AS inserted,
    pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS written, pg_wal_lsn_diff(pg_current_wal_flush_lsn(), '0/0')::bigint AS flushed`)).rows[0];
}

describe('crash-db', () => {
  it('is registered and says why it cannot act on a store given by URL or on MySQL', async () => {
    expect(faults.get('crash-db')).toBe(crashDb);
    const byUrl = await crashDb.inject(targets({ url: 'postgres://x@127.0.0.1:1/postgres', kind: 'url', stop: async () => {} }, 'postgres://x@127.0.0.1:1/postgres'), 0);
    expect(byUrl).toMatchObject({ applied: false, target: 'none' });
    expect(byUrl.detail).toContain('given by URL');
    const mysql = await crashDb.inject(targets({ url: 'mysql://root@127.0.0.1:1/x', kind: 'url', stop: async () => {} }, 'mysql://root@127.0.0.1:1/x'), 0);
    expect(mysql.detail).toContain('MySQL');
  });

  it('SIGKILLs the postmaster and every backend, then the server recovers on the same data directory and port', async () => {
    const p = await ownPostgres('full');
    const admin = createDb({ url: p.url, poolMax: 2 });
    onTestFinished(() => admin.destroy());
    await admin.raw('CREATE TABLE kept (id int PRIMARY KEY)');
    await admin.raw('INSERT INTO kept SELECT generate_series(1, 500)');
    // A second, idle session: one more backend that must die with the rest.
    await Promise.all([admin.raw('SELECT pg_sleep(0.05)'), admin.raw('SELECT pg_sleep(0.05)')]);

    const postmaster = p.pid!;
    const before = processesIn(p.dataDir!);
    expect(before).toContain(postmaster);
    // The long-lived ones (checkpointer, bgwriter, walwriter, launchers, our 2 sessions); an
    // autovacuum worker may come and go on its own meanwhile.
    const backends = childrenOf(postmaster).map((c) => c.pid).filter((pid) => !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('autovacuum worker'));
    expect(backends.length).toBeGreaterThanOrEqual(6);
    expect(before).toEqual(expect.arrayContaining(backends));

    const active = await crashDb.inject(targets(p, p.url), 0);
    expect(active.applied).toBe(true);
    expect(active.target).toContain(`postmaster pid ${postmaster}`);
    const killed = /SIGKILL (\d+) processes \(pids ([\d, ]+)\)/.exec(active.detail)!;
    expect(killed).not.toBeNull();
    const pids = killed[2]!.split(', ').map(Number);
    expect(Number(killed[1])).toBe(pids.length);
    expect(pids[0]).toBe(postmaster);
    expect(pids).toEqual(expect.arrayContaining(backends));
    expect(active.detail).toMatch(/bytes unwritten/);
    // Gone: no process of that data directory is left, every killed pid is gone, the port is closed.
    expect(processesIn(p.dataDir!)).toEqual([]);
    expect(pids.filter((pid) => !dead(pid))).toEqual([]);
    expect(await portOpen(p.port!)).toBe(false);

    const healed = await active.heal();
    expect(p.pid).not.toBe(postmaster);
    expect(healed).toContain(`started again as pid ${p.pid}`);
    expect(healed).toMatch(/accepting connections \d+ ms after the kill; recovery: redo starts at [0-9A-F]+\/[0-9A-F]+/);
    expect(processesIn(p.dataDir!)).toContain(p.pid);
    // Committed before the crash (synchronous_commit on): still there after recovery, through a fresh pool.
    const after = createDb({ url: p.url, poolMax: 1 });
    onTestFinished(() => after.destroy());
    expect(Number((await after.raw('SELECT count(*) AS n FROM kept')).rows[0].n)).toBe(500);

    // stop() after a revive stops the new postmaster and removes the data directory.
    await after.destroy();
    await admin.destroy();
    const revived = p.pid!;
    await p.stop();
    expect(dead(revived)).toBe(true);
    expect(processesIn(p.dataDir!)).toEqual([]);
    expect(readdirSync('/tmp').includes(p.dataDir!.split('/').pop()!)).toBe(false);
  });

  it('stop() after a crash without a revive returns and cleans up', async () => {
    const p = await ownPostgres('full');
    const crashed = await p.crash!();
    expect(crashed && crashed.pids.length).toBeGreaterThan(3);
    await p.stop();
    expect(readdirSync('/tmp').includes(p.dataDir!.split('/').pop()!)).toBe(false);
  });

  /**
   * A booking server on the test's PostgreSQL, holds acknowledged one at a time, then crash-db.
   * `untilUnwritten`: keep holding until the last acknowledged hold's WAL is known not to have been
   * written to the OS (the write position is still at or before where that hold's WAL began), then
   * crash at once.
   */
  async function holdThenCrash(durability: Durability, untilUnwritten: boolean) {
    const p = await ownPostgres(durability);
    const name = 'seatlab_crash';
    await createTemplateDatabase(p.url, name);
    const url = withDatabase(p.url, name);
    const seedDb = createDb({ url, poolMax: 1 });
    const { scheduleId } = await seedSchedule(seedDb, { seats: 300 });
    const users = await seedUsers(seedDb, { count: 300, secret: SECRET });
    await seedDb.destroy();
    const admin = createDb({ url: p.url, poolMax: 1 });
    onTestFinished(() => admin.destroy());
    // The seed is made durable first: only the holds are at stake.
    await admin.raw('CHECKPOINT');
    const [server] = await startInstances(1, { databaseUrl: url, strategy: 'pessimistic', tokenSecret: SECRET, poolSize: 4, sweepIntervalMs: 0 });
    onTestFinished(() => server!.stop());

    const history: HistoryOp[] = [];
    const hold = async (i: number) => {
      const t = performance.now();
      const r = await call(server!.url, 'POST', '/api/reservations', { token: users[i]!.token, body: { scheduleId, seatNo: i + 1 } });
      const outcome = r.status === 201 ? 'ok' : r.status >= 500 ? 'unknown' : 'fail';
      history.push({ index: history.length, process: 0, instance: 0, op: 'hold', invokeMs: t, completeMs: performance.now(), outcome, status: r.status,
        userId: users[i]!.id, scheduleId, seatNo: i + 1, ...(r.status === 201 ? { reservationId: r.body.reservationId as number } : {}) });
      return r.status;
    };
    let i = 0;
    let last: Awaited<ReturnType<typeof wal>>;
    for (;;) {
      const start = (await wal(admin)).inserted;
      expect(await hold(i++)).toBe(201);
      last = await wal(admin);
      // Acknowledged: with synchronous_commit on its WAL is flushed before the 201; with it off it may not even be written.
      if (durability === 'full') expect(last.flushed).toBeGreaterThan(start);
      if (i >= 5 && (!untilUnwritten || last.written <= start)) break;
      expect(i).toBeLessThan(250); // a full WAL page is written out at once; the hold after it starts a new unwritten tail
    }
    const acked = i;
    const active = await crashDb.inject(targets(p, p.url), 0);
    const healed = await active.heal();

    // The booking server survived the restart: its pool reconnects and a new hold is acknowledged
    // (the first tries may meet a dead pooled connection: 503, never a crash).
    const statuses: number[] = [];
    for (let tries = 0; tries < 40 && statuses.at(-1) !== 201; tries++) {
      statuses.push(await hold(i++));
      if (statuses.at(-1) !== 201) await new Promise((r) => setTimeout(r, 100));
    }
    expect(statuses.at(-1)).toBe(201);
    expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
    expect(dead(server!.pid)).toBe(false);

    const db = createDb({ url, poolMax: 1 });
    onTestFinished(() => db.destroy());
    const hist = await checkHistoryInDb(db, history, { scheduleId });
    return { hist, acked, last, detail: `${active.detail}; ${healed}` };
  }

  it('async durability: holds acknowledged just before the kill are lost, and the history checker counts them', async () => {
    const { hist, acked, last, detail } = await holdThenCrash('async', true);
    expect(last.written).toBeLessThan(last.inserted);
    expect(detail).toContain('synchronous_commit=off');
    expect(hist.lostAcks).toBeGreaterThan(0);
    expect(hist.lostAcks).toBeLessThanOrEqual(acked);
    // The last acknowledged hold before the crash is among them: its WAL was never written.
    const lost = hist.violations.filter((v) => v.kind === 'lost-acknowledgement').map((v) => (v.evidence as { op: HistoryOp }).op.index);
    expect(lost).toContain(acked - 1);
    expect(hist.oversold).toBe(0);
  });

  it('full durability: the same holds and crash lose nothing', async () => {
    const { hist, acked, detail } = await holdThenCrash('full', false);
    expect(detail).toContain('synchronous_commit=on');
    expect(acked).toBe(5);
    expect(hist).toMatchObject({ lostAcks: 0, oversold: 0, unexplainedWrites: 0 });
  });
});

describe('crash-db in the report', () => {
  it('recoverySummary keeps where redo started and ended and why it stopped', () => {
    const log = [
      '2026-01-01 00:00:00.000 UTC [1] LOG:  database system was not properly shut down; automatic recovery in progress',
      '2026-01-01 00:00:00.000 UTC [1] LOG:  redo starts at 0/15047A8',
      '2026-01-01 00:00:00.000 UTC [1] LOG:  invalid magic number 0000 in WAL segment 000000010000000000000001, LSN 0/1506000, offset 5267456',
      '2026-01-01 00:00:00.000 UTC [1] LOG:  redo done at 0/15047E0 system usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.00 s',
      '2026-01-01 00:00:00.000 UTC [1] LOG:  database system is ready to accept connections',
    ];
    expect(recoverySummary(log)).toBe('redo starts at 0/15047A8; invalid magic number 0000 in WAL segment 000000010000000000000001, LSN 0/1506000, offset 5267456; redo done at 0/15047E0');
  });

  it('the fault matrix gives lost acknowledgements per run, the injections of every run are listed, and the machine line names the durability', () => {
    const result = {
      strategy: 'pessimistic', fault: 'crash-db', safe: true, oversold: 0, unknown: 12, stuck: 0, verdict: 'fail', outcomes: { error: 12, timeout: 0 },
      history: { file: 'h', ops: 10, unknown: 12, unknownByError: {}, lostAcks: 3, unexplainedWrites: 0, explainedByUnknown: 0 },
      runs: [3, 0, 1].map((lostAcks, i) => ({ run: i + 1, lostAcks, faults: [{ fault: 'crash-db', target: 'PostgreSQL', startMs: 1000, endMs: 2000, startedAt: 't', endedAt: 't', applied: true, detail: `crash ${i + 1}` }] })),
      nemesis: { fault: 'crash-db', everyMs: 5000, forMs: 0, firstMs: 1000, events: [] },
    };
    const report = {
      config: { instances: 1, livenessGraceMs: 5000 }, results: [result],
      machine: { cpuModel: 'cpu', cores: 2, memGiB: 4, node: 'v20', os: 'Linux' }, git: { commit: null, dirty: null },
      servers: { stores: [{ engine: 'postgresql', version: '16.14', kind: 'embedded', isolation: 'read committed', durability: 'async',
        settings: { synchronous_commit: 'off', wal_writer_delay: '10000ms', shared_buffers: '256MB', max_connections: '200' } }] },
    } as unknown as Report;
    expect(renderFaultsMarkdown(report).join('\n')).toContain('| pessimistic | yes | oversold 0 · unknown 12 · errors 12 · stuck 0 · **lost acks 3/0/1** |');
    expect(renderFaultsConsole(report).join('\n')).toContain('lost 3/0/1');
    // Every run's injections, not only the first run's.
    expect(renderFaultsMarkdown(report).join('\n')).toMatch(/3 injection\(s\) in 3 runs[\s\S]*run 1, 1\.00–2\.00 s \(t\): PostgreSQL: crash 1[\s\S]*run 3, 1\.00–2\.00 s \(t\): PostgreSQL: crash 3/);
    expect(machineLine(report)).toContain('PostgreSQL 16.14 (embedded; durability async: synchronous_commit=off, wal_writer_delay=10000ms, shared_buffers=256MB');
  });
});
