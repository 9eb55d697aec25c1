import { buildNamedRegistry } from '../src/core/registry.js';
import type { Scenario } from './types.js';
import { hotSeat } from './hot-seat.js';
import { flashSale } from './flash-sale.js';
import { generalAdmission } from './general-admission.js';
import { balanceSpend } from './balance-spend.js';
import { queueRush } from './queue-rush.js';
import { journey } from './journey.js';

export const scenarios = buildNamedRegistry<Scenario>('scenario', [hotSeat, flashSale, generalAdmission, balanceSpend, queueRush, journey]);

export function scenarioNames(): string[] {
  return [...scenarios.keys()];
}
