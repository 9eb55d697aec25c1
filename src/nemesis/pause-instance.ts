import { readFile } from 'node:fs/promises';
import type { Fault } from './types.js';

/** The process state letter from /proc (T = stopped), to record that the signal really took. */
export async function processState(pid: number): Promise<string> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '?';
  } catch {
    return 'gone';
  }
}

// Kleppmann's GC pause: SIGSTOP one server instance for longer than the lock lease, then SIGCONT.
// Whatever it was doing (holding a lock, between a read and a write) resumes as if no time passed.
export const pauseInstance = {
  name: 'pause-instance',
  description: 'SIGSTOP one server instance for longer than the lock TTL, then SIGCONT',
  defaults: (t) => ({ everyMs: 6000, forMs: Math.max(3000, (t.lockTtlMs ?? 2000) + 1000) }),
  async inject(t, round) {
    const live = t.instances.filter((i) => i.alive && !i.paused);
    const inst = live[round % Math.max(1, live.length)];
    if (!inst) return { target: 'none', detail: 'no running instance to pause', applied: false, heal: async () => '' };
    const pid = inst.pid;
    inst.pause();
    // Signals are delivered asynchronously: wait until the kernel reports the process stopped.
    let state = await processState(pid);
    for (let i = 0; i < 40 && state !== 'T' && state !== 't' && state !== 'gone'; i++) {
      await new Promise((r) => setTimeout(r, 5));
      state = await processState(pid);
    }
    return {
      target: `instance ${inst.index} (pid ${pid})`,
      detail: `SIGSTOP pid ${pid} (process state ${state})`,
      applied: true,
      async heal() {
        inst.resume();
        return `SIGCONT pid ${pid} (process state ${await processState(pid)})`;
      },
    };
  },
} satisfies Fault;
