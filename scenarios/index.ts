import type { Scenario } from './types.js';
import { hotSeat } from './hot-seat.js';
import { flashSale } from './flash-sale.js';
import { generalAdmission } from './general-admission.js';
import { balanceSpend } from './balance-spend.js';
import { queueRush } from './queue-rush.js';
import { journey } from './journey.js';

export function buildScenarioRegistry(list: readonly Scenario[]): ReadonlyMap<string, Scenario> {
  const map = new Map<string, Scenario>();
  for (const s of list) {
    if (map.has(s.name)) throw new Error(`duplicate scenario name "${s.name}"`);
    map.set(s.name, s);
  }
  return map;
}

export const scenarios = buildScenarioRegistry([hotSeat, flashSale, generalAdmission, balanceSpend, queueRush, journey]);

export function scenarioNames(): string[] {
  return [...scenarios.keys()];
}
