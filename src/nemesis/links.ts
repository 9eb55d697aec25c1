import type { ActiveFault, NemesisTargets } from './types.js';
import type { InstanceLinks } from '../load/instance-links.js';

// Shared by the faults that act on links: which instance's links a round hits (in turn, skipping
// instances that are down), and what to record when the run has no links.

export function pickInstanceLinks(t: NemesisTargets, round: number): { instance: number; links: InstanceLinks } | undefined {
  const all = t.links ?? [];
  if (all.length === 0) return undefined;
  const links = all[round % all.length]!;
  return { instance: links.index, links };
}

export function noLinks(): ActiveFault {
  return { target: 'none', detail: 'the servers reach the stores without links (a black-box target, or --transport direct)', applied: false, heal: async () => '' };
}
