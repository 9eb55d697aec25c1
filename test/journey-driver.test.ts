import { describe, expect, it } from 'vitest';
import { scenarios } from '../scenarios/index.js';
import { createRng } from '../src/core/rng.js';
import { driveJourneys } from '../src/load/journey-driver.js';
import { checkHistoryInDb } from '../src/check/history.js';
import { freshDatabase, SECRET, startApi } from './helpers.js';

// The stateful journeys on the Recorder: holds and payments are the history's operations, the
// other steps count as requests only, and the history agrees with the database.
describe('journey driver', () => {
  it('queue → seat map → hold → pay or walk away: the history\'s acknowledged holds and payments are exactly the journeys\' and all exist', async () => {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic', { queue: { maxActive: 50, ratePerSec: 500, activeTtlMs: 10_000 }, holdTtlMs: 60_000 });
    const params = { users: 80, seats: 30, connections: 20, seed: 7 };
    const prepared = await scenarios.get('journey')!.prepare(db, params, { secret: SECRET, rng: createRng(params.seed) });
    const r = await driveJourneys(prepared.journeys!, { urls: [api.url], concurrency: 20, pollMs: 50 });
    const jo = r.journeyOutcomes;
    expect(jo.holds).toBe(30);
    expect(jo.holds + jo.noSeat + jo.failed + jo.gaveUpWaiting).toBe(80);
    expect(jo.failed + jo.gaveUpWaiting).toBe(0);
    const okHolds = r.history.filter((op) => op.op === 'hold' && op.outcome === 'ok');
    const okPays = r.history.filter((op) => op.op === 'pay' && op.outcome === 'ok');
    expect(okHolds).toHaveLength(jo.holds);
    expect(okPays).toHaveLength(jo.paid);
    expect(r.outcomes.ok).toBe(jo.holds + jo.paid);
    // Every journey joined once; polls and seat-map reads are requests, not operations of the history.
    expect(r.steps.join.count).toBe(80);
    expect(r.requests).toBe(r.history.length + r.steps.join.count + r.steps.status.count + r.steps.seats.count);
    expect(r.instances).toEqual([expect.objectContaining({ instance: 0, requests: r.requests })]);
    const hist = await checkHistoryInDb(db, r.history, { scheduleId: prepared.scheduleId });
    expect(hist).toMatchObject({ oversold: 0, lostAcks: 0, unexplainedWrites: 0, unknown: 0 });
  }, 60_000);
});
