import type { Knex } from 'knex';
import * as sql from '../db/sql/checks.js';
import { ViolationLog, checkResponsesAgainstRows, type CheckInput, type CheckResult } from './violations.js';

export interface TicketCheckInput extends CheckInput {
  /** Ticket requests wanted more than the inventory: then every ticket must be sold. */
  demandExceedsSupply: boolean;
}

export interface TicketCheckResult extends CheckResult { remaining: number }

/** General admission: sold ≤ inventory, nothing lost (remaining + sold = total), exact sellout under excess demand. */
export async function checkTickets(db: Knex, input: TicketCheckInput): Promise<TicketCheckResult> {
  const log = new ViolationLog();
  const inv = await db('inventory').where({ schedule_id: input.scheduleId }).first('total', 'remaining');
  if (!inv) throw new Error(`schedule ${input.scheduleId} has no inventory row`);
  const row = await sql.ticketCounts(db, input.scheduleId);
  const { total, remaining } = inv as { total: number; remaining: number };
  const oversold = Math.max(0, row.sold - total);
  if (oversold > 0) log.add({ kind: 'tickets-oversold', detail: `${row.sold} tickets sold from an inventory of ${total}`, evidence: { sold: row.sold, total } });
  if (remaining < 0) log.add({ kind: 'negative-inventory', detail: `inventory remaining is ${remaining}` });
  if (remaining + row.sold !== total) {
    log.add({ kind: 'inventory-drift', detail: `remaining ${remaining} + sold ${row.sold} ≠ total ${total}: an update or a compensation was lost`, evidence: { remaining, sold: row.sold, total } });
  }
  if (input.demandExceedsSupply && input.unknownResponses === 0 && row.sold < total) {
    log.add({ kind: 'unsold-inventory', detail: `${total - row.sold} of ${total} tickets left unsold although demand exceeded supply`, evidence: { remaining, sold: row.sold, total } });
  }
  checkResponsesAgainstRows(log, row.created, input.okResponses, input.unknownResponses);
  const returned = await sql.returnedToSale(db, input.scheduleId, 'tickets');
  return { oversold, capacity: total, activeReservations: row.sold, remaining, returnedToSale: returned, violations: log.violations, violationCounts: log.counts };
}
