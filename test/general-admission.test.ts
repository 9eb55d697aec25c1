import { describe, expect, it } from 'vitest';
import { strategies } from '../strategies/index.js';
import { seedSchedule, seedUsers } from '../src/db/seed.js';
import { checkTickets } from '../src/check/tickets.js';
import type { Dialect } from '../src/db/dialect.js';
import { call, freshDatabase, freshDatabaseOn, SECRET, startApi, STORES } from './helpers.js';

const INVENTORY = 20;
const BUYERS = 60;

/** Every buyer asks for one ticket at once and, like a real client, asks again while the answer is "busy". */
async function rush(store: Dialect, strategy: string, strategyOptions?: Record<string, string>) {
  const { url, db } = await freshDatabaseOn(store);
  const schedule = await seedSchedule(db, { seats: INVENTORY });
  const users = await seedUsers(db, { count: BUYERS, secret: SECRET });
  const api = await startApi(url, strategy, { strategyOptions });
  const finals = await Promise.all(users.map(async (u) => {
    for (let attempt = 0; ; attempt++) {
      const r = await call(api.url, 'POST', '/api/reservations/general', { token: u.token, body: { scheduleId: schedule.scheduleId } });
      if (r.status !== 409 || r.body.error !== 'SEAT_BUSY' || attempt >= 200) return r;
    }
  }));
  const ok = finals.filter((r) => r.status === 201).length;
  const check = await checkTickets(db, { scheduleId: schedule.scheduleId, okResponses: ok, unknownResponses: 0, demandExceedsSupply: true });
  return { finals, ok, check, api };
}

describe.each(STORES.flatMap((store) => [...strategies.values()].filter((s) => s.safe).map((strategy) => ({ store, strategy, name: `${strategy.name} on ${store}` }))))('general admission: $name', ({ store, strategy }) => {
  it(`${BUYERS} buyers for ${INVENTORY} tickets: exactly ${INVENTORY} sold, the rest SOLD_OUT, inventory conserved`, async () => {
    const { finals, ok, check } = await rush(store, strategy.name);
    expect(ok).toBe(INVENTORY);
    expect(finals.filter((r) => r.status === 409 && r.body.error === 'SOLD_OUT')).toHaveLength(BUYERS - INVENTORY);
    expect(check).toMatchObject({ oversold: 0, remaining: 0, activeReservations: INVENTORY, violations: [] });
    const first = finals.find((r) => r.status === 201)!;
    expect(first.body).toMatchObject({ seatNo: null, status: 'HELD' });
  });
});

describe.each(STORES)('general admission, control group on %s', (store) => {
  it('none sells more tickets than exist and the checker shows the drift', async () => {
    const { ok, check } = await rush(store, 'none', { raceWindowMs: '50' });
    expect(ok).toBeGreaterThan(INVENTORY);
    expect(check.oversold).toBe(ok - INVENTORY);
    expect(Object.keys(check.violationCounts)).toEqual(expect.arrayContaining(['tickets-oversold', 'inventory-drift']));
  });
});

describe('general admission API', () => {
  it('404 for an unknown schedule and 400 for a bad body', async () => {
    const { url, db } = await freshDatabase();
    const [u] = await seedUsers(db, { count: 1, secret: SECRET });
    const api = await startApi(url, 'pessimistic');
    const missing = await call(api.url, 'POST', '/api/reservations/general', { token: u!.token, body: { scheduleId: 12345 } });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('NOT_FOUND');
    const bad = await call(api.url, 'POST', '/api/reservations/general', { token: u!.token, body: { scheduleId: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('VALIDATION_FAILED');
  });
});
