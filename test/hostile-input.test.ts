import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { beforeEach, describe, expect, inject, it, onTestFinished } from 'vitest';
import type { Knex } from 'knex';
import { seedSchedule, seedUsers, type SeededSchedule, type SeededUser } from '../src/db/seed.js';
import { signQueueToken } from '../src/core/tokens.js';
import { startCore } from '../src/server/start.js';
import { createApp } from '../src/server/app.js';
import { WaitingRoom } from '../src/queue/waiting-room.js';
import { connectAll, createRedisClient } from '../src/infra/redis-client.js';
import { call, freshDatabase, SECRET, startApi } from './helpers.js';

// NUL and lone surrogates, as the JSON escapes a client writes (raw body text).
const HOSTILE = ['\\u0000', 'Ada\\u0000Lovelace', '\\ud800', 'Ada\\udc00', '\\ude00\\ud83d', '\\u0000\\ud800'];
const NAME_PROBLEM = 'name must not contain NUL characters or unpaired UTF-16 surrogates';
const invalid = (message: string) => ({ status: 400, body: { error: 'VALIDATION_FAILED', message } });
const intProblem = (field: string, got: string, max = 2_147_483_647) => `${field} must be an integer from 1 to ${max} (got "${got}")`;
// The UTF-8 form of U+D800 (not UTF-8 at all): what a WTF-8/CESU-8 client would send for a lone surrogate.
const SURROGATE_BYTES = Buffer.from([0xed, 0xa0, 0x80]);

/**
 * One request over a bare socket, byte for byte: fetch refuses NUL and non-Latin-1 header values
 * before sending. Header values are Buffers (raw bytes) or strings (written as Latin-1).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the parsed JSON answer, like call()'s in helpers.ts
function rawRequest(base: string, method: string, path: string, headers: Record<string, string | Buffer>, body?: Buffer): Promise<{ status: number; body: any }> {
  const { port } = new URL(base);
  const lines: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n`)];
  for (const [k, v] of Object.entries(headers)) lines.push(Buffer.from(`${k}: `), typeof v === 'string' ? Buffer.from(v, 'latin1') : v, Buffer.from('\r\n'));
  if (body) lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`));
  lines.push(Buffer.from('\r\n'), body ?? Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // write, not end: a half-closed client makes Node drop a response still being prepared.
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(Buffer.concat(lines)));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', rest = ''] = text.split(/\r\n\r\n(.*)/s);
      let parsed: unknown = rest || undefined;
      try { parsed = JSON.parse(rest); } catch { /* not JSON: Node's own 400 has no body */ }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), body: parsed });
    });
  });
}

const jsonBody = (base: string, path: string, body: Buffer, token?: string, charset = 'utf-8') =>
  rawRequest(base, 'POST', path, { 'Content-Type': `application/json; charset=${charset}`, ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body);

let base: string;
let db: Knex;
let schedule: SeededSchedule;
let user: SeededUser;

const count = async (table: string) => Number((await db(table).count({ n: '*' }))[0]!.n);
const nothingWritten = async () => {
  expect(await count('reservations')).toBe(0);
  expect(await count('payments')).toBe(0);
  expect(await count('idempotency_keys')).toBe(0);
  expect(await count('balance_ledger')).toBe(0);
  expect(await count('users')).toBe(1);
  expect(await db('seats').where({ schedule_id: schedule.scheduleId }).whereNot({ status: 'AVAILABLE' }).count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(0);
};

describe('hostile input, strict HTTP parser (the server as shipped)', () => {
  beforeEach(async () => {
    const fresh = await freshDatabase();
    db = fresh.db;
    schedule = await seedSchedule(db, { seats: 5, price: 10 });
    [user] = (await seedUsers(db, { count: 1, secret: SECRET })) as [SeededUser];
    base = (await startApi(fresh.url, 'pessimistic', { holdTtlMs: 60_000 })).url;
  });

  it.each(HOSTILE)('POST /api/users with name "%s" (JSON escapes) is 400 and creates no user', async (escaped) => {
    expect(await call(base, 'POST', '/api/users', { rawBody: `{"name":"${escaped}"}` })).toEqual(invalid(NAME_PROBLEM));
    expect(await call(base, 'POST', '/api/users', { body: { name: JSON.parse(`"${escaped}"`) } })).toEqual(invalid(NAME_PROBLEM));
    await nothingWritten();
  });

  it('POST /api/users with real NUL or surrogate characters on the wire is 400 and creates no user', async () => {
    // A raw control character is not allowed inside a JSON string, in any charset.
    expect(await jsonBody(base, '/api/users', Buffer.from('{"name":"Ada\u0000"}'))).toEqual(invalid('the request body is not valid JSON'));
    expect(await jsonBody(base, '/api/users', Buffer.from('{"name":"Ada\u0000"}', 'utf16le'), undefined, 'utf-16le')).toEqual(invalid('the request body is not valid JSON'));
    // UTF-8 cannot carry a surrogate; the bytes that try are refused instead of becoming U+FFFD.
    const notUtf8 = invalid('the request body is not valid UTF-8; send JSON encoded as UTF-8');
    expect(await jsonBody(base, '/api/users', Buffer.concat([Buffer.from('{"name":"Ada'), SURROGATE_BYTES, Buffer.from('"}')]))).toEqual(notUtf8);
    expect(await jsonBody(base, '/api/users', Buffer.from([...Buffer.from('{"name":"Ad'), 0xff, ...Buffer.from('"}')]))).toEqual(notUtf8);
    // UTF-16 can carry a real lone surrogate, and the field check catches it.
    expect(await jsonBody(base, '/api/users', Buffer.from('{"name":"Ada\ud800"}', 'utf16le'), undefined, 'utf-16le')).toEqual(invalid(NAME_PROBLEM));
    expect(await call(base, 'POST', '/api/users', { rawBody: '"\\u0000"' })).toEqual(invalid('the body must be a JSON object; name is required'));
    await nothingWritten();
  });

  it('names with paired surrogates and other non-ASCII text are kept exactly', async () => {
    const a = await jsonBody(base, '/api/users', Buffer.from('{"name":"Zoë 😀"}'));
    const b = await jsonBody(base, '/api/users', Buffer.from('{"name":"Ĳssel \ud83d\ude00"}', 'utf16le'), undefined, 'utf-16le');
    expect([a.status, b.status]).toEqual([201, 201]);
    expect((await db('users').where({ id: a.body.userId }).first()).name).toBe('Zoë 😀');
    expect((await db('users').where({ id: b.body.userId }).first()).name).toBe('Ĳssel 😀');
  });

  it('NUL and lone surrogates in integer fields are 400 on every route, every problem listed, nothing written', async () => {
    const t = user.token;
    expect(await call(base, 'POST', '/api/reservations', { token: t, rawBody: '{"scheduleId":"\\u0000","seatNo":"\\ud800"}' }))
      .toEqual(invalid(`${intProblem('scheduleId', '\\u0000')}; ${intProblem('seatNo', '\\ud800')}`));
    expect(await call(base, 'POST', '/api/reservations/general', { token: t, rawBody: '{"scheduleId":"\\u0000\\ud800"}' }))
      .toEqual(invalid(intProblem('scheduleId', '\\u0000\\ud800')));
    expect(await call(base, 'POST', '/api/balance/charge', { token: t, rawBody: '{"amount":"\\udc00"}' }))
      .toEqual(invalid(intProblem('amount', '\\udc00', 1_000_000_000)));
    expect(await call(base, 'POST', '/api/queue/tokens', { token: t, rawBody: '{"scheduleId":"\\u0000"}' }))
      .toEqual(invalid(intProblem('scheduleId', '\\u0000')));
    const pay = await rawRequest(base, 'POST', '/api/payments', { 'Content-Type': 'application/json', Authorization: `Bearer ${t}`, 'Idempotency-Key': 'k-1' }, Buffer.from('{"reservationId":"\\ud800\\u0000"}'));
    expect(pay).toEqual(invalid(intProblem('reservationId', '\\ud800\\u0000')));
    await nothingWritten();
  });

  it('NUL and undecodable escapes in path ids are 400 VALIDATION_FAILED; the held seat stays held', async () => {
    const held = await call(base, 'POST', '/api/reservations', { token: user.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    expect(held.status).toBe(201);
    expect(await call(base, 'GET', '/api/schedules/%00/seats', { token: user.token })).toEqual(invalid(intProblem('schedule id', '\\u0000')));
    expect(await call(base, 'DELETE', '/api/reservations/%00', { token: user.token })).toEqual(invalid(intProblem('reservation id', '\\u0000')));
    const undecodable = (v: string) => invalid(`Failed to decode param '${v}': a path segment is not valid percent-encoded UTF-8; ids in the path are plain digits`);
    expect(await call(base, 'GET', '/api/schedules/%ED%A0%80/seats', { token: user.token })).toEqual(undecodable('%ED%A0%80'));
    expect(await call(base, 'DELETE', '/api/reservations/%ED%A0%80', { token: user.token })).toEqual(undecodable('%ED%A0%80'));
    expect(await call(base, 'DELETE', `/api/reservations/${held.body.reservationId}%FF`, { token: user.token })).toEqual(undecodable(`${held.body.reservationId}%FF`));
    expect((await db('reservations').where({ id: held.body.reservationId }).first()).status).toBe('HELD');
  });

  it('bearer tokens: NUL never reaches the app (Node answers 400), other bytes are 401, nothing written', async () => {
    const body = Buffer.from(JSON.stringify({ scheduleId: schedule.scheduleId, seatNo: 1 }));
    const reserve = (auth: string | Buffer) => rawRequest(base, 'POST', '/api/reservations', { 'Content-Type': 'application/json', Authorization: auth }, body);
    expect(await reserve(`Bearer ${user.token}\u0000`)).toEqual({ status: 400, body: undefined });
    for (const auth of [Buffer.concat([Buffer.from(`Bearer ${user.token}`), SURROGATE_BYTES]), Buffer.concat([Buffer.from('Bearer '), SURROGATE_BYTES]), `Bearer v1.${user.id}.9999999999.\u00ff`]) {
      const res = await reserve(auth);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('UNAUTHORIZED');
    }
    await nothingWritten();
  });

  it('Idempotency-Key: NUL never reaches the app (Node answers 400); nothing is paid', async () => {
    await db('users').where({ id: user.id }).update({ balance: 100 });
    const held = await call(base, 'POST', '/api/reservations', { token: user.token, body: { scheduleId: schedule.scheduleId, seatNo: 2 } });
    const res = await rawRequest(base, 'POST', '/api/payments', { 'Content-Type': 'application/json', Authorization: `Bearer ${user.token}`, 'Idempotency-Key': 'pay\u0000-1' }, Buffer.from(JSON.stringify({ reservationId: held.body.reservationId })));
    expect(res).toEqual({ status: 400, body: undefined });
    expect(await count('payments')).toBe(0);
    expect(await count('idempotency_keys')).toBe(0);
    expect((await db('reservations').where({ id: held.body.reservationId }).first()).status).toBe('HELD');
  });
});

describe('hostile input, waiting room on', () => {
  it('queue tokens with NUL or surrogates, by header or ?token=, are 401 (403 on gated routes); nothing written', async () => {
    const fresh = await freshDatabase();
    db = fresh.db;
    schedule = await seedSchedule(db, { seats: 5, price: 10 });
    [user] = (await seedUsers(db, { count: 1, secret: SECRET })) as [SeededUser];
    base = (await startApi(fresh.url, 'pessimistic', { queue: { maxActive: 5, ratePerSec: 100, activeTtlMs: 60_000 } })).url;
    const malformed = { error: 'UNAUTHORIZED', message: 'the queue token is malformed, forged or expired; join again' };
    for (const q of ['%00', '%ED%A0%80', '%00%ED%A0%80', `${encodeURIComponent(signQueueToken(SECRET, user.id, schedule.scheduleId))}%00`]) {
      expect(await call(base, 'GET', `/api/queue/status?token=${q}`)).toEqual({ status: 401, body: malformed });
      expect(await call(base, 'GET', `/api/queue/events?token=${q}`)).toEqual({ status: 401, body: malformed });
    }
    expect((await call(base, 'GET', '/api/queue/status?token=a&token=b')).status).toBe(401);
    expect(await rawRequest(base, 'GET', '/api/queue/status', { 'X-Queue-Token': SURROGATE_BYTES })).toEqual({ status: 401, body: malformed });
    expect(await rawRequest(base, 'GET', '/api/queue/status', { 'X-Queue-Token': 'q1.1.1.1.\u0000' })).toEqual({ status: 400, body: undefined });
    const gated = await rawRequest(base, 'POST', '/api/reservations', { 'Content-Type': 'application/json', Authorization: `Bearer ${user.token}`, 'X-Queue-Token': SURROGATE_BYTES }, Buffer.from(JSON.stringify({ scheduleId: schedule.scheduleId, seatNo: 1 })));
    expect([gated.status, gated.body.error]).toEqual([403, 'NOT_ADMITTED']);
    await nothingWritten();
    // A good token sent as ?token= is echoed back as it came.
    const joined = await call(base, 'POST', '/api/queue/tokens', { token: user.token, body: { scheduleId: schedule.scheduleId } });
    const viaQuery = await call(base, 'GET', `/api/queue/status?token=${encodeURIComponent(joined.body.queueToken)}`);
    expect([viaQuery.status, viaQuery.body.queueToken]).toEqual([200, joined.body.queueToken]);
  });
});

// `--insecure-http-parser` (e.g. in NODE_OPTIONS) lets NUL and control bytes in headers reach the app.
describe('hostile input, lenient HTTP parser', () => {
  it('NUL in Idempotency-Key is 400 VALIDATION_FAILED, in a bearer or queue token 401; nothing written', async () => {
    const fresh = await freshDatabase();
    db = fresh.db;
    schedule = await seedSchedule(db, { seats: 5, price: 10 });
    [user] = (await seedUsers(db, { count: 1, secret: SECRET, balance: 100 })) as [SeededUser];
    const core = await startCore({ databaseUrl: fresh.url, strategy: 'pessimistic', tokenSecret: SECRET, poolSize: 2, holdTtlMs: 60_000 });
    const redis = createRedisClient(inject('redisUrl'), `${fresh.name}:`);
    const room = new WaitingRoom(redis, { maxActive: 5, ratePerSec: 100, activeTtlMs: 60_000 }, 'lenient-test');
    await connectAll([redis], 1);
    await room.init();
    const app = createApp({ booking: core.booking, db, strategyName: 'pessimistic', strategy: core.runtime, tokenSecret: SECRET, log: () => undefined });
    const roomApp = createApp({ booking: core.booking, db, room, strategyName: 'pessimistic', strategy: core.runtime, tokenSecret: SECRET, log: () => undefined });
    const servers = [http.createServer({ insecureHTTPParser: true }, app), http.createServer({ insecureHTTPParser: true }, roomApp)];
    onTestFinished(async () => {
      for (const s of servers) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
      room.stop();
      redis.disconnect();
      await core.close();
    });
    const [plain, queued] = await Promise.all(servers.map((s) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)))));

    const held = await call(plain!, 'POST', '/api/reservations', { token: user.token, body: { scheduleId: schedule.scheduleId, seatNo: 1 } });
    expect(held.status).toBe(201);
    const payBody = Buffer.from(JSON.stringify({ reservationId: held.body.reservationId }));
    for (const key of ['pay\u0000-1', '\u0000']) {
      expect(await rawRequest(plain!, 'POST', '/api/payments', { 'Content-Type': 'application/json', Authorization: `Bearer ${user.token}`, 'Idempotency-Key': key }, payBody))
        .toEqual(invalid('the Idempotency-Key header must not contain NUL characters or unpaired UTF-16 surrogates'));
    }
    expect(await count('payments')).toBe(0);
    expect(await count('idempotency_keys')).toBe(0);
    expect((await db('reservations').where({ id: held.body.reservationId }).first()).status).toBe('HELD');

    for (const auth of [`Bearer ${user.token}\u0000`, 'Bearer \u0000', `Bearer v1.${user.id}.\u0000.x`]) {
      const res = await rawRequest(plain!, 'POST', '/api/reservations', { 'Content-Type': 'application/json', Authorization: auth }, Buffer.from(JSON.stringify({ scheduleId: schedule.scheduleId, seatNo: 2 })));
      expect([res.status, res.body?.error]).toEqual([401, 'UNAUTHORIZED']);
    }
    expect(await rawRequest(queued!, 'GET', '/api/queue/status', { 'X-Queue-Token': `${signQueueToken(SECRET, user.id, schedule.scheduleId)}\u0000` }))
      .toEqual({ status: 401, body: { error: 'UNAUTHORIZED', message: 'the queue token is malformed, forged or expired; join again' } });
    expect(await count('reservations')).toBe(1);
  });
});
