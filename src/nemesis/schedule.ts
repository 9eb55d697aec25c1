import type { ActiveFault, Fault, FaultEvent, NemesisTargets } from './types.js';

export interface NemesisPlan {
  fault: Fault;
  /** A fault starts every `everyMs` (start to start), lasts `forMs`, the first one `firstMs` into the load. */
  everyMs: number;
  forMs: number;
  firstMs: number;
}

export interface RunningNemesis {
  /** Ends the schedule, heals a fault still in force, and returns every event. */
  stop(): Promise<FaultEvent[]>;
}

/**
 * Runs one fault on its schedule against the targets until stopped. `now` is the load phase's
 * clock (ms since it began), so events line up with the history and the per-second series.
 */
export function startNemesis(plan: NemesisPlan, targets: NemesisTargets, now: () => number, onEvent?: (e: FaultEvent) => void): RunningNemesis {
  const events: FaultEvent[] = [];
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) => new Promise<void>((resolve) => {
    const t = setTimeout(() => { wake = undefined; resolve(); }, Math.max(0, ms));
    wake = () => { clearTimeout(t); wake = undefined; resolve(); };
  });

  async function once(round: number): Promise<void> {
    const startMs = now();
    const startedAt = new Date().toISOString();
    let active: ActiveFault;
    try {
      active = await plan.fault.inject(targets, round);
    } catch (err) {
      record({ target: 'unknown', detail: `injection failed: ${(err as Error).message}`, applied: false }, startMs, startedAt, '');
      return;
    }
    // The fault stays in force for forMs even if the load ends meanwhile (stop() waits for the heal).
    if (active.applied && plan.forMs > 0) await new Promise((r) => setTimeout(r, plan.forMs));
    let healed: string;
    try {
      healed = await active.heal();
    } catch (err) {
      healed = `healing failed: ${(err as Error).message}`;
    }
    record(active, startMs, startedAt, healed);
  }

  function record(a: { target: string; detail: string; applied: boolean }, startMs: number, startedAt: string, healed: string): void {
    const e: FaultEvent = {
      fault: plan.fault.name, target: a.target, startMs: Math.round(startMs), endMs: Math.round(now()), startedAt,
      endedAt: new Date().toISOString(), detail: healed ? `${a.detail}; ${healed}` : a.detail, applied: a.applied,
    };
    events.push(e);
    onEvent?.(e);
  }

  const loop = (async () => {
    await sleep(plan.firstMs - now());
    for (let round = 0; !stopped; round++) {
      const started = now();
      await once(round);
      if (stopped) break;
      await sleep(started + plan.everyMs - now());
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      return events;
    },
  };
}
