import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { registerCleanup } from '../infra/cleanup.js';
import { stopChild } from '../infra/chain.js';
import type { ServerConfig } from '../server/start.js';
import { parseReportLine, tally } from '../infra/error-tally.js';

export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
  /** Sends a signal (SIGSTOP, SIGCONT, SIGKILL …) to the server process. */
  signal(sig: NodeJS.Signals): void;
  /** Resolves when the process has exited, for whatever reason. */
  exited: Promise<void>;
}

/** The compiled server entry; under vitest this file is .ts, so fall back to dist/. */
function serverEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = path.join(path.dirname(here), '..', 'server', 'main.js');
  if (existsSync(sibling)) return sibling;
  const root = path.resolve(path.dirname(here), '..', '..');
  return path.join(root, 'dist', 'src', 'server', 'main.js');
}

/**
 * Starts the booking server in a child process and waits for its ready line. Its stderr is relayed
 * line by line to `onLog`, except its connection-error reports, which go into this process's tally
 * under `component` (e.g. "server 0").
 */
export async function startServerProcess(cfg: ServerConfig, opts: { onLog?: (line: string) => void; readyTimeoutMs?: number; component?: string } = {}): Promise<ServerProcess> {
  const entry = serverEntry();
  if (!existsSync(entry)) throw new Error(`server entry ${entry} is missing; run npm run build`);
  const child: ChildProcess = spawn(process.execPath, [entry], {
    env: { ...process.env, SEATLAB_SERVER_CONFIG: JSON.stringify(cfg) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  // Everything it wrote has been read once the pipes close, which may come after 'exit'.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let partial = '';
  const onLine = (line: string) => {
    const counts = parseReportLine(line);
    if (counts) return tally.add(counts, opts.component ?? 'server');
    stderr += `${line}\n`;
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
    opts.onLog?.(line);
  };
  child.stderr!.on('data', (d) => {
    const lines = (partial + String(d)).split('\n');
    partial = lines.pop()!;
    for (const l of lines) onLine(l);
  });
  child.stderr!.once('end', () => { if (partial) onLine(partial); partial = ''; });
  const stop = () => {
    // A stopped (SIGSTOP) process cannot act on SIGTERM until it runs again.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
    // Its last connection-error report is on the pipe; a little grace for it, not a hang.
    return stopChild(child, 5000).then(() => Promise.race([closed, new Promise<void>((r) => setTimeout(r, 1000).unref())]));
  };
  const unregister = registerCleanup(`booking server pid ${child.pid}`, stop, () => child.kill('SIGKILL'));
  try {
    const ready = await new Promise<{ url: string; port: number }>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`server did not start within ${opts.readyTimeoutMs ?? 20_000} ms`)), opts.readyTimeoutMs ?? 20_000);
      child.stdout!.on('data', (d) => {
        buf += String(d);
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          try { resolve(JSON.parse(buf.slice(0, nl)) as { url: string; port: number }); } catch (e) { reject(e as Error); }
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with code ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      });
    });
    return {
      url: ready.url, port: ready.port ?? Number(new URL(ready.url).port), pid: child.pid!, exited,
      stop: async () => { unregister(); await stop(); },
      signal: (sig) => { if (child.exitCode === null && child.signalCode === null) child.kill(sig); },
    };
  } catch (err) {
    unregister();
    await stop();
    throw err;
  }
}
