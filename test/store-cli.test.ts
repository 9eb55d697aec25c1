import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runBench as bench } from './helpers.js';

// --store and --database-url (once per store) on the built CLI: every mistake is a usage error
// (exit 1) that names the flag and what is valid; a store that cannot be had is exit 2.

const noStack = (s: string) => expect(s).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
const run = ['run', '--strategy', 'pessimistic', '--scenario', 'hot-seat'];
const VALID = 'valid: pg (or postgres, postgresql), mysql (or mariadb)';
const SCHEMES = 'accepted: postgres://, postgresql:// (PostgreSQL), mysql://, mariadb:// (MySQL/MariaDB)';

describe('bench run --store / --database-url: usage errors exit 1', () => {
  it('an unknown store names --store and the valid stores', async () => {
    const r = await bench([...run, '--store', 'pg,oracle']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: --store: unknown store "oracle"; ${VALID}, several separated by commas`);
    expect(r.stdout).toBe('');
    noStack(r.stderr);
  });

  it('an empty --store says so', async () => {
    const r = await bench([...run, '--store', ',']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: --store is empty; ${VALID}`);
  });

  it('a URL of another scheme names --database-url and the accepted schemes', async () => {
    const r = await bench([...run, '--database-url', 'sqlite://x.db']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: --database-url "sqlite://x.db": unsupported scheme "sqlite:"; ${SCHEMES}`);
    const notUrl = await bench([...run, '--database-url', 'localhost:5432']);
    expect(notUrl.code).toBe(1);
    expect(notUrl.stderr).toContain('--database-url "localhost:5432"');
    noStack(notUrl.stderr);
  });

  it('two URLs for one store are refused, whatever their alias', async () => {
    const r = await bench([...run, '--database-url', 'mysql://root@127.0.0.1:3306/a', '--database-url', 'mariadb://root:pw@127.0.0.1:3306/b']);
    expect(r.code).toBe(1);
    // The password is not echoed.
    expect(r.stderr).toContain('error: --database-url given twice for MySQL/MariaDB ("mysql://root@127.0.0.1:3306/a" and "mariadb://root:***@127.0.0.1:3306/b"): give one URL per store');
    const pg2 = await bench([...run, '--database-url', 'postgres://a@h/x', '--database-url', 'postgresql://b@h/y']);
    expect(pg2.code).toBe(1);
    expect(pg2.stderr).toContain('--database-url given twice for PostgreSQL');
  });

  it('a URL whose store is not in --store is refused', async () => {
    const r = await bench([...run, '--store', 'postgres', '--database-url', 'mysql://root@127.0.0.1:3306/seatlab']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: --database-url "mysql://root@127.0.0.1:3306/seatlab" is a MySQL/MariaDB URL but --store postgres leaves mysql out; add mysql to --store, or drop that URL');
  });

  it('DATABASE_URL of another scheme is named as such', async () => {
    const r = await bench(run, { env: { DATABASE_URL: 'redis://127.0.0.1:6379' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: DATABASE_URL "redis://127.0.0.1:6379": unsupported scheme "redis:"; ${SCHEMES}`);
  });

  it('every problem at once, with the others', async () => {
    const r = await bench(['run', '--strategy', 'nope', '--scenario', 'hot-seat', '--store', 'db2', '--database-url', 'ftp://x']);
    expect(r.code).toBe(1);
    for (const s of ['unknown strategy "nope"', '--store: unknown store "db2"', '--database-url "ftp://x"']) expect(r.stderr).toContain(s);
  });

  it('a threshold on a store must name a store of the run', async () => {
    const r = await bench([...run, '--threshold', 'pessimistic@mysql:p99<250']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: --threshold "pessimistic@mysql:p99<250": mysql is not a store of this run (pg); add it with --store, or drop @mysql');
    const bad = await bench([...run, '--store', 'pg,mysql', '--threshold', '@sqlite:p99<250']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`error: --threshold "@sqlite:p99<250": unknown store "sqlite" after @; ${VALID}`);
  });

  it('--store has no meaning against a black-box --target', async () => {
    const r = await bench(['run', '--scenario', 'hot-seat', '--target', 'http://127.0.0.1:1', '--profile', 'profiles/seatlab.json', '--store', 'mysql']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--store act on seatlab\'s own servers; drop them');
  });

  it('the help names both kinds of URL and the threshold syntax for a store', async () => {
    const help = (await bench(['run', '--help'])).stdout.replace(/\s+/g, ' ');
    for (const s of ['--store <list>', 'pg (or postgres, postgresql), mysql (or mariadb)', 'postgres:// (or postgresql://) for PostgreSQL', 'mysql:// or mariadb:// for MySQL/MariaDB',
      'repeat for one URL per store', '"pessimistic@mysql:p99<250"']) expect(help).toContain(s);
    const serveHelp = (await bench(['serve', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(serveHelp).toContain('mysql:// or mariadb:// for MySQL/MariaDB');
    const compareHelp = (await bench(['compare', '--help'])).stdout.replace(/\s+/g, ' ');
    expect(compareHelp).toContain('strategy@store');
  });
});

describe('bench run: a store that cannot be had is exit 2', () => {
  it('--store mysql without a URL, MYSQL_URL or a Docker engine', async () => {
    const r = await bench([...run, '--store', 'mysql'], { env: { MYSQL_URL: '', DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/MySQL/);
    expect(r.stderr).toMatch(/testcontainers/);
    noStack(r.stderr);
  });
});

describe('bench serve --database-url / --store', () => {
  it('refuses an unknown scheme and more than one store', async () => {
    const r = await bench(['serve', '--strategy', 'pessimistic', '--database-url', 'sqlite://x.db']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: --database-url "sqlite://x.db": unsupported scheme "sqlite:"; ${SCHEMES}`);
    const two = await bench(['serve', '--strategy', 'pessimistic', '--store', 'pg,mysql']);
    expect(two.code).toBe(1);
    expect(two.stderr).toContain('error: bench serve runs on one store; give one --database-url or one --store (got pg, mysql)');
  });

  it('refuses a --host that is no address, naming the flag, before starting anything', async () => {
    const r = await bench(['serve', '--strategy', 'pessimistic', '--host', 'not a host!']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: --host must be an address to listen on, e.g. 127.0.0.1 (the default), 0.0.0.0 or ::; got "not a host!"');
    noStack(r.stderr);
  });
});

describe('bench run on one PostgreSQL store named with --store', () => {
  it('--store postgres is pg: same keys, labels and history names as without it; the store is recorded', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'seatlab-store-'));
    try {
      const r = await bench([...run, '--users', '10', '--runs', '1', '--warmup', '0', '--http-ceiling', 'off', '--json', '--out', out, '--store', 'postgres', '--database-url', inject('pgUrl'),
        '--threshold', 'pessimistic@pg:oversold==0'], { timeoutMs: 90_000 });
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.schemaVersion).toBe(1);
      expect(report.config.stores).toEqual(['pg']);
      expect(report.results.map((x: { strategy: string; store: string }) => `${x.strategy}/${x.store}`)).toEqual(['pessimistic/pg']);
      expect(report.servers.stores).toEqual([expect.objectContaining({ engine: 'postgresql', kind: 'url', isolation: expect.any(String) })]);
      expect(Object.keys(report.servers.postgres.settings)).toEqual(expect.arrayContaining(['max_connections', 'synchronous_commit', 'shared_buffers']));
      expect(report.results[0].outcomes.ok).toBe(1);
      expect(report.thresholds.map((t: { strategyName: string; pass: boolean; storeName?: string }) => [t.strategyName, t.pass, t.storeName])).toEqual([['pessimistic', true, undefined]]);
      expect(r.stderr).toContain('threshold pass  pessimistic: oversold == 0');
      expect(r.stderr).toMatch(/\nstrategy\s+req\/s/);
      expect(await readdir(path.join(out, report.runId, 'history'))).toEqual(['pessimistic.run1.jsonl.gz']);
      const md = await readFile(path.join(out, report.runId, 'report.md'), 'utf8');
      expect(md).toContain('| strategy | safe | req/s | ok/s |');
      expect(md).toContain('## Servers');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});
