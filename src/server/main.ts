// Entry point of the booking server child process started by `bench run` / `bench serve`.
// Config arrives as JSON in SEATLAB_SERVER_CONFIG; one JSON line on stdout says it is ready.
import { startServer, type ServerConfig } from './start.js';
import { reportLine, tally } from '../infra/error-tally.js';

// Lost store connections are counted (src/infra/error-tally.ts) and reported to the lab on stderr
// once a second and on shutdown, as one line it takes out of the log; a killed process loses at
// most its last second of counts.
const REPORT_EVERY_MS = 1000;
tally.component = 'server';
const reportTally = () => {
  const counts = tally.take();
  if (counts.length > 0) process.stderr.write(`${reportLine(counts)}\n`);
};

async function main(): Promise<void> {
  const raw = process.env.SEATLAB_SERVER_CONFIG;
  if (!raw) throw new Error('SEATLAB_SERVER_CONFIG is not set');
  const cfg = JSON.parse(raw) as ServerConfig;
  const server = await startServer(cfg);
  setInterval(reportTally, REPORT_EVERY_MS).unref();
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    const exit = (code: number) => () => { reportTally(); process.exit(code); };
    server.close().then(exit(0), exit(1));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.stdout.write(`${JSON.stringify({ ready: true, url: server.url, port: server.port, pid: process.pid })}\n`);
}

main().catch((err) => {
  reportTally();
  process.stderr.write(`seatlab server failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
