import { describe, expect, it } from 'vitest';
import { scenarios } from '../scenarios/index.js';
import { createRng } from '../src/core/rng.js';
import { driveClosed } from '../src/load/closed-driver.js';
import { driveJourneys } from '../src/load/journey-driver.js';
import { Recorder } from '../src/load/recorder.js';
import { checkTickets } from '../src/check/tickets.js';
import { freshDatabase, SECRET, startApi } from './helpers.js';

// Who gets the seats, on real sales: the figures the report's "who got the seats" table prints,
// computed by the same Recorder from real answers of a real server on a real PostgreSQL.

describe('who gets the seats: general admission', () => {
  // 800 buyers for 400 tickets on 32 connections, sent as `bench run --scenario general-admission` sends
  // them. Tickets are many against connections, so the buyers who arrive together at the 400th place
  // (at most 32) cannot move the share much whoever of them the server happens to take first.
  const params = { users: 800, seats: 400, connections: 32, seed: 16 };

  it('pessimistic queues every buyer on the inventory row: the first 400 to ask get the 400 tickets, in the order they asked, and nobody is turned away busy', async () => {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const prepared = await scenarios.get('general-admission')!.prepare(db, params, { secret: SECRET, rng: createRng(params.seed) });
    const rec = new Recorder(1);
    const r = await driveClosed(prepared.plan, { urls: [api.url], connections: params.connections, recorder: rec });
    expect(r.outcomes.ok).toBe(params.seats);
    const check = await checkTickets(db, { scheduleId: prepared.scheduleId, okResponses: r.outcomes.ok, unknownResponses: 0, demandExceedsSupply: true });
    expect(check).toMatchObject({ oversold: 0, remaining: 0 });
    const f = rec.fairness(prepared.seatCount)!;
    expect(f.winners).toBe(params.seats);
    // The floor: a row lock grants waiters in the order they queued. Measured here 0.97–0.98 with the
    // machine's load average at 6.5 (0.99 with 5,000 buyers: docs/fairness.md). The same sale fails
    // the floor with a strategy that lets newcomers barge: optimistic 0.65 (222 buyers turned away),
    // pessimistic-nowait lower still.
    expect(f.firstComeShare).toBeGreaterThanOrEqual(0.9);
    expect(f.rankCorrelation).toBeGreaterThanOrEqual(0.9);
    expect(f.gaveUpWhileOnSale).toBe(0);
    expect(f.winnerRanks).toHaveLength(params.seats);
  }, 60_000);
});

describe('who gets the seats: the journey, with the waiting room and without', () => {
  const params = { users: 60, seats: 20, connections: 30, seed: 17 };

  async function sale(queue: boolean) {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic', { holdTtlMs: 60_000, ...(queue ? { queue: { maxActive: 10, ratePerSec: 200, activeTtlMs: 1_000 } } : {}) });
    const prepared = await scenarios.get('journey')!.prepare(db, params, { secret: SECRET, rng: createRng(params.seed) });
    const rec = new Recorder(1);
    const r = await driveJourneys(prepared.journeys!, { urls: [api.url], concurrency: params.connections, pollMs: 20, queue, recorder: rec });
    return { r, f: rec.fairness(prepared.seatCount)! };
  }

  it('--queue off: journeys start at the seat map, nobody joins a line, every seat is held once and who got them is measured', async () => {
    const { r, f } = await sale(false);
    expect(r.steps.join.count).toBe(0);
    expect(r.steps.status.count).toBe(0);
    expect(r.journeyOutcomes.holds).toBe(params.seats);
    expect(r.journeyOutcomes.failed).toBe(0);
    expect(f.winners).toBe(params.seats);
    expect(f.firstComeShare).not.toBeNull();
  }, 60_000);

  it('--queue on: the waiting room admits in join order, so the first to join are the first to hold', async () => {
    const { r, f } = await sale(true);
    expect(r.steps.join.count).toBe(params.users);
    expect(r.journeyOutcomes.holds).toBe(params.seats);
    expect(r.journeyOutcomes.failed + r.journeyOutcomes.gaveUpWaiting).toBe(0);
    expect(f.winners).toBe(params.seats);
    // Ten admitted at a time, in join order: the seats go to the first to join (measured 1.00 here;
    // 0.60 with the same users and seed and no waiting room, where whoever reads the map first wins).
    // Within one batch of ten the holds race, so the order kept is lower than the share; not asserted.
    expect(f.firstComeShare).toBeGreaterThanOrEqual(0.9);
  }, 60_000);
});
