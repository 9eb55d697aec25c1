import type { Fault } from './types.js';
import { processState } from './pause-instance.js';

// A crashed pod: SIGKILL one server instance mid-load, then start it again on the same port. Its
// in-flight requests get no answer (unknown outcomes); requests sent while it is down are refused.
export const killInstance = {
  name: 'kill-instance',
  description: 'SIGKILL one server instance mid-load, then start it again on the same port',
  defaults: () => ({ everyMs: 5000, forMs: 1000 }),
  async inject(t, round) {
    const live = t.instances.filter((i) => i.alive);
    const inst = live[round % Math.max(1, live.length)];
    if (!inst) return { target: 'none', detail: 'no running instance to kill', applied: false, heal: async () => '' };
    const pid = inst.pid;
    await inst.kill();
    const state = await processState(pid);
    return {
      target: `instance ${inst.index} (pid ${pid})`,
      detail: `SIGKILL pid ${pid} (afterwards: ${state === 'gone' ? 'process gone' : `state ${state}`})`,
      applied: true,
      async heal() {
        await inst.restart();
        return `started again as pid ${inst.pid}`;
      },
    };
  },
} satisfies Fault;
