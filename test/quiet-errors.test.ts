import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { ErrorTally, connectionErrorCode, parseReportLine, reportLine, summaryLine, tally } from '../src/infra/error-tally.js';
import { createDb } from '../src/db/knex.js';
import { mysqlAdminConnection } from '../src/db/databases.js';
import { freePort } from '../src/infra/ports.js';
import { EXIT } from '../src/cli/errors.js';
import { interruptBench } from './helpers.js';

// A store that goes away is counted and summarised once per component, never printed per
// connection with a stack trace: neither under Ctrl-C in the middle of a load nor anywhere else.

/** Processes still in the run's process group, or running from its temp dirs (orphans of the run). */
async function leftovers(pid: number): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const cmd = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    if (stat && !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z') && (pgrp === pid || cmd.includes(`seatlab-pg-${pid}-`) || cmd.includes(`seatlab-redis-${pid}-`))) out.push(`${name} ${cmd}`);
  }
  return out;
}

describe('Ctrl-C in the middle of a load', () => {
  it('says what it stops and what went away in a few lines, no stack traces, exits 130 and leaves nothing behind', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'quiet-errors-'));
    try {
      // redlock makes the run start a Redis too, so its cleanup is checked as well; the interrupt comes
      // at pessimistic's first progress line, one second into its load.
      const r = await interruptBench(['run', '--strategy', 'pessimistic,redlock', '--scenario', 'flash-sale', '--users', '2000', '--seats', '200',
        '--runs', '1', '--warmup', '0', '--out', out], /pessimistic\] \d+ s · /);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      const context = `stderr:\n${r.stderr.slice(-4000)}`;
      expect(r.interruptedAfter, context).toBeDefined();
      expect(r.code, context).toBe(EXIT.interrupted);
      expect(lines.length, context).toBeLessThan(60);
      expect(r.stderr, context).not.toMatch(/^\s+at /m);
      expect(r.stderr, context).not.toContain('Acquire connection error');
      expect(r.stderr, context).toMatch(/^interrupted: stopping \d+ servers seatlab started/m);
      // After the interrupt only summaries: one line per component, each with a count.
      const after = lines.slice(lines.findIndex((l) => l.startsWith('interrupted:')) + 1);
      for (const l of after) expect(l, context).toMatch(/^(lab|server \d+): \d+ (database|Redis) connection errors? \(/);
      expect(r.stdout).toBe('');

      const tmp = await readdir(os.tmpdir());
      expect(tmp.filter((n) => n.startsWith(`seatlab-pg-${r.pid}-`) || n.startsWith(`seatlab-redis-${r.pid}-`))).toEqual([]);
      expect(await leftovers(r.pid)).toEqual([]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('the connection error tally', () => {
  it('counts real refused connections from node-postgres as one summary line', async () => {
    const port = await freePort(); // nobody listens there
    const errors: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      client.on('error', () => undefined);
      await client.connect().then(() => client.end(), (e: unknown) => errors.push(e));
    }
    expect(errors).toHaveLength(5);
    const t = new ErrorTally('server 0');
    for (const e of errors) expect(t.record('database', e)).toBe(true);
    const counts = t.take();
    expect(counts).toEqual([{ component: 'server 0', store: 'database', count: 5, codes: { ECONNREFUSED: 5 }, first: `connect ECONNREFUSED 127.0.0.1:${port}` }]);
    expect(counts.map(summaryLine)).toEqual([`server 0: 5 database connection errors (ECONNREFUSED 5; first: connect ECONNREFUSED 127.0.0.1:${port})`]);
    expect(t.take()).toEqual([]);
  });

  it("counts knex's own 'Acquire connection error' log lines in the process tally instead of printing them", async () => {
    tally.take();
    const port = await freePort();
    const db = createDb({ url: `postgres://postgres@127.0.0.1:${port}/postgres`, poolMax: 2 });
    try {
      for (let i = 0; i < 3; i++) await expect(db.raw('SELECT 1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      await db.destroy();
    }
    const counts = tally.take();
    expect(counts).toEqual([{ component: 'lab', store: 'database', count: 3, codes: { ECONNREFUSED: 3 }, first: `connect ECONNREFUSED 127.0.0.1:${port}` }]);
  });

  it('knows a connection an administrator terminated mid-query (57P01), and leaves a programming error alone', async () => {
    const client = new pg.Client({ connectionString: inject('pgUrl') });
    client.on('error', () => undefined);
    await client.connect();
    const syntax = await client.query('SELEC 1').catch((e: unknown) => e);
    const inFlight = client.query('SELECT pg_sleep(10)').catch((e: unknown) => e);
    const admin = new pg.Client({ connectionString: inject('pgUrl') });
    await admin.connect();
    try {
      // Until the sleeping backend is seen, then terminate it.
      let n = 0;
      for (let i = 0; i < 100 && n === 0; i++) {
        n = (await admin.query(`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)' AND state = 'active'`)).rows[0].n;
        if (n === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(n).toBe(1);
    } finally {
      await admin.end();
    }
    const lost = await inFlight;
    // The server's FATAL 57P01 arrives first as a rule; a bare closed socket is the same news.
    expect(['57P01', 'connection terminated']).toContain(connectionErrorCode(lost));
    expect(connectionErrorCode(syntax)).toBeUndefined();
    const t = new ErrorTally();
    expect(t.record('database', syntax)).toBe(false);
    expect(t.record('database', lost)).toBe(true);
    expect(t.take()).toMatchObject([{ component: 'lab', store: 'database', count: 1 }]);
  });

  it('knows a MySQL/MariaDB connection killed by an administrator, and leaves a programming error alone', async () => {
    const victim = await mysqlAdminConnection(inject('mysqlUrl'));
    const admin = await mysqlAdminConnection(inject('mysqlUrl'));
    const syntax = await victim.query('SELEC 1').catch((e: unknown) => e);
    const inFlight = victim.query('SELECT SLEEP(10)').catch((e: unknown) => e);
    try {
      await new Promise((r) => setTimeout(r, 200));
      await admin.query(`KILL CONNECTION ${victim.threadId}`);
    } finally {
      await admin.end();
    }
    const lost = await inFlight;
    const after = await victim.query('SELECT 1').catch((e: unknown) => e);
    victim.destroy();
    // The killed query's error (MariaDB may first say ER_CONNECTION_KILLED), then mysql2's on the closed connection.
    expect(['PROTOCOL_CONNECTION_LOST', 'ER_CONNECTION_KILLED'], String(lost)).toContain(connectionErrorCode(lost));
    expect(connectionErrorCode(after), String(after)).toBe('PROTOCOL_CONNECTION_LOST');
    expect(connectionErrorCode(syntax), String(syntax)).toBeUndefined();
  });

  it("a server's report line carries its counts to the lab, which names the component", () => {
    const t = new ErrorTally('server');
    t.record('redis', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' }));
    const line = reportLine(t.take());
    expect(parseReportLine('knex: something else')).toBeUndefined();
    const lab = new ErrorTally();
    lab.add(parseReportLine(line)!, 'server 1');
    lab.add(parseReportLine(line)!, 'server 1');
    expect(lab.take()).toEqual([{ component: 'server 1', store: 'redis', count: 2, codes: { ECONNREFUSED: 2 }, first: 'connect ECONNREFUSED 127.0.0.1:6390' }]);
  });
});
