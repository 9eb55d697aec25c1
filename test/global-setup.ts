import type { TestProject } from 'vitest/node';
import { provisionPostgres } from '../src/infra/postgres.js';
import { maskUrl, provisionMysql } from '../src/infra/mysql.js';
import { provisionRedis } from '../src/infra/redis.js';
import { createTemplateDatabase, dropDatabase } from '../src/db/databases.js';
import { describeCause } from '../src/infra/errors.js';

const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/seatlab';

// One PostgreSQL and one Redis for the whole run, found the way `bench` finds them (explicit URL,
// then ephemeral servers, then testcontainers). If none can be had, this throws and every test fails.
// MySQL/MariaDB comes from SEATLAB_TEST_MYSQL_URL or the default; it is checked first and its
// absence fails the run loudly: the contract suite covers both stores and is never skipped.
export default async function setup(project: TestProject) {
  const mysqlUrl = process.env.SEATLAB_TEST_MYSQL_URL || DEFAULT_MYSQL_URL;
  const mysql = await provisionMysql({ url: mysqlUrl }).catch((err: unknown) => {
    throw new Error(
      `The tests need a MySQL or MariaDB server (the contract suite runs every strategy on both stores), ` +
      `and ${maskUrl(mysqlUrl)} did not answer (${describeCause((err as { cause?: unknown }).cause ?? err)}). Start one there, or point ` +
      `SEATLAB_TEST_MYSQL_URL at another (an admin URL: the tests create and drop databases; ` +
      `docker compose up -d mysql gives one at ${DEFAULT_MYSQL_URL}).`, { cause: err });
  });
  const pg = await provisionPostgres();
  const redis = await provisionRedis();
  const template = `seatlab_test_tpl_${process.pid}`;
  await dropDatabase(pg.url, template);
  await createTemplateDatabase(pg.url, template);
  await dropDatabase(mysql.url, template);
  await createTemplateDatabase(mysql.url, template);
  project.provide('pgUrl', pg.url);
  project.provide('pgTemplate', template);
  project.provide('mysqlUrl', mysql.url);
  project.provide('mysqlTemplate', template);
  project.provide('redisUrl', redis.url);
  process.stderr.write(`test servers: PostgreSQL ${pg.kind} ${pg.url}, MySQL ${mysql.kind} ${maskUrl(mysql.url)}, Redis ${redis.kind} ${redis.url}\n`);
  return async () => {
    await dropDatabase(mysql.url, template).catch(() => undefined);
    await dropDatabase(pg.url, template).catch(() => undefined);
    await redis.stop();
    await pg.stop();
    await mysql.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    pgTemplate: string;
    mysqlUrl: string;
    mysqlTemplate: string;
    redisUrl: string;
  }
}
