import http from 'node:http';
import { existsSync } from 'node:fs';

/** True when a Docker engine answers /_ping. The `docker` CLI alone is not enough. */
export async function dockerEngineReachable(timeoutMs = 1500): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  let socketPath: string | undefined;
  let url: URL | undefined;
  if (!host) socketPath = '/var/run/docker.sock';
  else if (host.startsWith('unix://')) socketPath = host.slice('unix://'.length);
  else if (host.startsWith('tcp://')) url = new URL(host.replace('tcp://', 'http://'));
  else return false;
  if (socketPath && !existsSync(socketPath)) return false;
  return new Promise((resolve) => {
    const req = http.request(
      socketPath
        ? { socketPath, path: '/_ping', method: 'GET', timeout: timeoutMs }
        : { host: url!.hostname, port: url!.port, path: '/_ping', method: 'GET', timeout: timeoutMs },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export interface ContainerServer {
  url: string;
  stop(): Promise<void>;
}

// testcontainers is imported lazily: it is heavy and only used where a Docker engine exists.
/** `settings`: server settings given as -c flags, the same ones an embedded server would get. */
export async function startPostgresContainer(settings: Readonly<Record<string, string>> = {}): Promise<ContainerServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('postgres:16-alpine')
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'postgres' })
    .withCommand(['postgres', ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])])
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const url = `postgres://postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
  return { url, stop: async () => void (await container.stop()) };
}

export async function startRedisContainer(): Promise<ContainerServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('redis:7-alpine')
    .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  return { url, stop: async () => void (await container.stop()) };
}

// The server's entrypoint starts a temporary server to initialise the data directory, stops it and
// starts the real one: "ready for connections" twice, and the port open, mean the real one answers.
// MySQL first (what the published comparisons measured); MariaDB where that image cannot start.
export async function startMysqlContainer(image: 'mysql:8.4' | 'mariadb:11' = 'mysql:8.4'): Promise<ContainerServer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(image)
    .withEnvironment({ MYSQL_ALLOW_EMPTY_PASSWORD: 'yes', MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1', MYSQL_ROOT_HOST: '%' })
    .withCommand(['--max-connections=300', '--innodb-buffer-pool-size=256M'])
    .withExposedPorts(3306)
    .withWaitStrategy(Wait.forAll([Wait.forLogMessage(/ready for connections/, 2), Wait.forListeningPorts()]))
    .withStartupTimeout(120_000)
    .start();
  const url = `mysql://root@${container.getHost()}:${container.getMappedPort(3306)}/seatlab`;
  return { url, stop: async () => void (await container.stop()) };
}
