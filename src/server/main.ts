// Entry point of the booking server child process started by `bench run` / `bench serve`.
// Config arrives as JSON in SEATLAB_SERVER_CONFIG; one JSON line on stdout says it is ready.
import { startServer, type ServerConfig } from './start.js';

async function main(): Promise<void> {
  const raw = process.env.SEATLAB_SERVER_CONFIG;
  if (!raw) throw new Error('SEATLAB_SERVER_CONFIG is not set');
  const cfg = JSON.parse(raw) as ServerConfig;
  const server = await startServer(cfg);
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.stdout.write(`${JSON.stringify({ ready: true, url: server.url, port: server.port, pid: process.pid })}\n`);
}

main().catch((err) => {
  process.stderr.write(`seatlab server failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
