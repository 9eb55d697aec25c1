import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { provisionPostgres, processAlive } from '../src/infra/postgres.js';
import { provisionRedis } from '../src/infra/redis.js';
import { InfraUnavailableError } from '../src/infra/errors.js';
import { portOpen } from '../src/infra/ports.js';

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe('ephemeral servers', () => {
  it('an embedded PostgreSQL answers, and after stop its process, port and data directory are gone', async () => {
    delete process.env.DATABASE_URL;
    const server = await provisionPostgres();
    expect(server.kind).toBe('embedded');
    const c = new pg.Client(server.url);
    await c.connect();
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
    expect(processAlive(server.pid!)).toBe(true);
    expect(existsSync(server.dataDir!)).toBe(true);

    await server.stop();
    expect(processAlive(server.pid!)).toBe(false);
    expect(await portOpen(server.port!)).toBe(false);
    expect(existsSync(server.dataDir!)).toBe(false);
  });

  it('a redis-server from PATH answers, and after stop its process, port and directory are gone', async () => {
    delete process.env.REDIS_URL;
    const server = await provisionRedis();
    expect(server.kind).toBe('embedded');
    expect(await portOpen(server.port!)).toBe(true);
    await server.stop();
    expect(processAlive(server.pid!)).toBe(false);
    expect(await portOpen(server.port!)).toBe(false);
    expect(existsSync(server.dataDir!)).toBe(false);
  });
});

describe('process exit', () => {
  it('loading the provisioning layer keeps a process\'s own exit code (async-exit-hook would force 0)', async () => {
    const { spawnSync } = await import('node:child_process');
    const script = "await import('./dist/src/infra/postgres.js'); await import('./dist/src/infra/redis.js'); process.exitCode = 7;";
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(7);
  });
});

describe('when no way works', () => {
  it('Redis: one error naming the three ways to get a server', async () => {
    delete process.env.REDIS_URL;
    process.env.PATH = '/nonexistent';
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
    const err = await provisionRedis().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraUnavailableError);
    const msg = (err as Error).message;
    expect(msg).toContain('redis-server is not on PATH');
    expect(msg).toContain('--redis-url or REDIS_URL');
    expect(msg).toContain('testcontainers');
    expect((err as InfraUnavailableError).exitCode).toBe(2);
  });

  it('an explicit URL that does not answer is an infrastructure error, not a fallback', async () => {
    await expect(provisionPostgres({ url: 'postgres://postgres@127.0.0.1:1/postgres' })).rejects.toThrow(/cannot connect to PostgreSQL/);
    await expect(provisionRedis({ url: 'redis://127.0.0.1:1' })).rejects.toThrow(/cannot reach Redis/);
  });
});
