import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadProfile, type Profile } from '../src/target/profile.js';
import { checkProfile } from '../src/target/profile-check.js';
import { freePort } from '../src/infra/ports.js';
import { freshDatabase, runBench, startApi } from './helpers.js';

// `bench profile check` against seatlab's own API: the shipped profile passes with every step
// shown, and each kind of mistake a profile's author makes is named with its field.

const shipped = () => loadProfile('profiles/seatlab.json');

async function profileFile(p: Profile): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seatlab-profile-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'profile.json');
  await writeFile(file, JSON.stringify(p));
  return file;
}

describe('bench profile check', () => {
  it('profiles/seatlab.json passes: each operation once, what was sent and answered, the rule that matched, what was captured, the truth rows', async () => {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const r = await checkProfile(await shipped(), { base: api.url, db });
    expect(r.problems).toEqual([]);
    expect(r.findings).toEqual([]);
    expect(r.steps.map((s) => s.where)).toEqual(['health', 'schedule.http', 'users.http', 'hold', 'hold', 'holdTicket', 'seatMap']);
    const [, , , first, second, ticket, map] = r.steps;
    expect(first).toMatchObject({ status: 201, outcome: 'ok', rule: 0, method: 'POST', path: '/api/reservations' });
    expect(first!.captured.reservationId).toEqual(expect.any(Number));
    expect(second).toMatchObject({ status: 409, outcome: 'conflict', rule: 2 });
    expect(second!.answer).toContain('SEAT_TAKEN');
    expect(ticket).toMatchObject({ status: 201, outcome: 'ok' });
    expect(map!.captured).toEqual({ seats: 3, taken: 1, statuses: ['HELD', 'AVAILABLE'] });
    expect(r.truth).toMatchObject({ rows: 2, columns: ['id', 'userId', 'seatNo', 'active', 'startUs', 'endUs'] });
    expect(r.truth!.sample.map((x) => x.id)).toEqual([first!.captured.reservationId, ticket!.captured.reservationId]);
  });

  it('names a wrong capture path, a status no outcome rule matches, truth columns without their names, and a seat-map status never taken', async () => {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const p = await shipped();
    const broken: Profile = {
      ...p,
      hold: { ...p.hold!, capture: { reservationId: 'data.id' } },
      outcomes: [{ status: 201, outcome: 'ok' }],
      truth: { reservations: 'SELECT id, user_id, seat_no, status, created_at FROM reservations WHERE schedule_id = {{scheduleId}}' },
      seatMap: { ...p.seatMap!, taken: ['RESERVED'] },
    };
    const r = await checkProfile(broken, { base: api.url, db });
    expect(r.problems).toEqual([
      'hold.capture.reservationId: data.id is not in the success answer (its fields: reservationId, scheduleId, seatNo, status, expiresAt): the history cannot tie this hold to its row in the database',
      expect.stringMatching(/^outcomes: hold answered 409 ".*SEAT_TAKEN.*" and no rule matches it; the lab would read it as conflict by its status alone — add a rule such as \{ "status": 409, "outcome": "…" \}$/),
      'seatMap.taken: a seat was held but none shows as taken; the statuses the API shows are HELD, AVAILABLE',
      'truth.reservations: the rows have no userId, seatNo, active, startUs or createdAt (they have id, user_id, seat_no, status, created_at); name the columns with AS "…"',
    ]);
    expect(r.steps.find((s) => s.where === 'hold' && s.status === 409)).toMatchObject({ rule: -1, outcome: 'conflict' });
  });

  it('a seeding step that fails or captures nothing stops the check there, naming the step', async () => {
    const { url, db } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const p = await shipped();
    const noToken = await checkProfile({ ...p, users: { ...p.users, http: { ...p.users.http!, capture: { userId: 'userId', token: 'accessToken' } } } }, { base: api.url, db });
    expect(noToken.problems).toEqual(['users.http.capture.token: accessToken is not in the answer (its fields: userId, token)']);
    expect(noToken.steps.map((s) => s.where)).toEqual(['health', 'schedule.http', 'users.http']);
    const wrongPath = await checkProfile({ ...p, schedule: { http: { ...p.schedule.http!, path: '/lab/schedule' } } }, { base: api.url, db });
    expect(wrongPath.problems).toEqual([expect.stringMatching(/^schedule\.http: POST \/lab\/schedule answered 404: /)]);
    const typo = await checkProfile({ ...p, hold: { ...p.hold!, body: { scheduleId: '{{scheduleId}}', seatNo: '{{seat}}' } } }, { base: api.url, db });
    expect(typo.problems[0]).toMatch(/^hold\.body: unknown variable \{\{seat\}\} \(known: .*seatNo/);
  });

  it('the command: exit 1 with the problems listed (and --json), 2 for a target that is not there, 1 for a missing --target', async () => {
    const { url } = await freshDatabase();
    const api = await startApi(url, 'pessimistic');
    const p = await shipped();
    const file = await profileFile({ ...p, outcomes: [{ status: 201, outcome: 'ok' }] });
    const bad = await runBench(['profile', 'check', file, '--target', api.url, '--target-db', url, '--json']);
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stderr).toContain('  read as   conflict (no rule matched: by status code)');
    expect(bad.stderr).toContain('profile check failed: 1 problem(s) in the profile');
    expect(JSON.parse(bad.stdout).problems).toHaveLength(1);
    const good = await runBench(['profile', 'check', 'profiles/seatlab.json', '--target', api.url]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stderr).toContain('note: truth.reservations was not run: give --target-db');
    const closed = await freePort();
    const gone = await runBench(['profile', 'check', 'profiles/seatlab.json', '--target', `http://127.0.0.1:${closed}`]);
    expect(gone.code, gone.stderr).toBe(2);
    expect(gone.stderr).toContain(`error: the target http://127.0.0.1:${closed} does not answer (ECONNREFUSED); start it, or check --target`);
    const none = await runBench(['profile', 'check', 'profiles/seatlab.json']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('error: --target <url of the booking API> is required');
  });
});
