import type { TestProject } from 'vitest/node';
import { provisionPostgres } from '../src/infra/postgres.js';
import { provisionRedis } from '../src/infra/redis.js';
import { createTemplateDatabase, dropDatabase } from '../src/db/databases.js';

// One PostgreSQL and one Redis for the whole run, found the way `bench` finds them (explicit URL,
// then ephemeral servers, then testcontainers). If none can be had, this throws and every test fails.
export default async function setup(project: TestProject) {
  const pg = await provisionPostgres();
  const redis = await provisionRedis();
  const template = `seatlab_test_tpl_${process.pid}`;
  await dropDatabase(pg.url, template);
  await createTemplateDatabase(pg.url, template);
  project.provide('pgUrl', pg.url);
  project.provide('pgTemplate', template);
  project.provide('redisUrl', redis.url);
  process.stderr.write(`test servers: PostgreSQL ${pg.kind} ${pg.url}, Redis ${redis.kind} ${redis.url}\n`);
  return async () => {
    await dropDatabase(pg.url, template).catch(() => undefined);
    await redis.stop();
    await pg.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    pgTemplate: string;
    redisUrl: string;
  }
}
