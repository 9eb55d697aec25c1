import { createDb } from '../db/knex.js';
import { InfraUnavailableError } from '../infra/errors.js';
import { loadProfile } from '../target/profile.js';
import { checkProfile, type ProfileCheckResult } from '../target/profile-check.js';
import { EXIT, UsageError } from './errors.js';
import { parseCount } from './options.js';
import { labRedis } from '../infra/redis-client.js';
import type { Io } from './run.js';

// `bench profile check FILE --target URL [--target-db URL]`: the dry run of src/target/profile-check.ts,
// printed step by step on stderr (--json: the whole result on stdout). Exit 0 when the profile has
// no problem, 1 when it has (each named with its field), 2 when the target or its database is not there.

export interface RawProfileCheckOptions { target?: string; targetDb?: string; targetRedis?: string; seats?: string; json?: boolean }

export async function profileCheck(file: string, raw: RawProfileCheckOptions, io: Io): Promise<number> {
  const problems: string[] = [];
  if (raw.target === undefined) problems.push('--target <url of the booking API> is required: the check sends each of the profile\'s operations there once');
  else if (!/^https?:\/\/[^/]+/.test(raw.target)) problems.push(`--target must be an http(s) URL such as http://127.0.0.1:3000 (got "${raw.target}")`);
  const seats = parseCount('--seats', raw.seats, 3, problems, 1000);
  if (raw.targetRedis !== undefined && !/^rediss?:\/\//.test(raw.targetRedis)) problems.push(`--target-redis must be a redis:// or rediss:// URL of the target's Redis (got "${raw.targetRedis}")`);
  if (problems.length > 0) throw new UsageError(problems);
  const profile = await loadProfile(file);
  const base = raw.target!.replace(/\/+$/, '');
  const db = raw.targetDb ? createDb({ url: raw.targetDb, poolMax: 2, applicationName: 'seatlab-profile-check' }) : undefined;
  const redis = raw.targetRedis ? labRedis(raw.targetRedis) : undefined;
  try {
    if (db) await db.raw('SELECT 1').catch((err: Error) => { throw new InfraUnavailableError(`cannot reach --target-db: ${err.message}`); });
    if (redis) await redis.connect().catch((err: Error) => { throw new InfraUnavailableError(`cannot reach --target-redis: ${err.message}`); });
    const r = await checkProfile(profile, { base, ...(db ? { db } : {}), ...(redis ? { redis } : {}), seats }).catch((err: Error & { cause?: { code?: string; message?: string } }) => {
      if (err.name === 'TypeError' && err.message === 'fetch failed') throw new InfraUnavailableError(`the target ${base} does not answer (${err.cause?.code ?? err.cause?.message ?? 'no answer'}); start it, or check --target`);
      throw err;
    });
    for (const line of render(r)) io.err(line);
    if (raw.json) io.out(`${JSON.stringify(r, null, 2)}\n`);
    return r.problems.length > 0 ? EXIT.usage : EXIT.ok;
  } finally {
    await db?.destroy();
    redis?.disconnect();
  }
}

function render(r: ProfileCheckResult): string[] {
  const out = [`profile ${r.profile} against ${r.target}`, ''];
  for (const s of r.steps) {
    out.push(`${s.where}${s.purpose ? ` — ${s.purpose}` : ''}`);
    out.push(`  sent      ${s.method} ${s.path}${s.body !== undefined ? ` ${JSON.stringify(s.body)}` : ''}`);
    out.push(`  answered  ${s.status ?? '–'} ${s.answer ? s.answer.replace(/\s+/g, ' ').slice(0, 200) : ''}`);
    if (s.outcome !== undefined) out.push(`  read as   ${s.outcome} (${s.rule !== undefined && s.rule >= 0 ? `outcomes[${s.rule}]` : 'no rule matched: by status code'})`);
    if (Object.keys(s.captured).length > 0) out.push(`  captured  ${Object.entries(s.captured).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
  }
  if (r.truth) {
    out.push('truth.reservations', `  returned  ${r.truth.rows} row(s); columns ${r.truth.columns.join(', ') || '–'}`);
    for (const row of r.truth.sample) out.push(`  row       ${JSON.stringify(row)}`);
  }
  if (r.redisTruth) {
    out.push('truth.redis', `  found     ${r.redisTruth.keys} hold key(s)`);
    for (const h of r.redisTruth.sample) out.push(`  key       ${h.key} → seat ${h.seatNo ?? '–'}, holder ${JSON.stringify(h.userId)}`);
  }
  out.push('');
  for (const n of r.notes) out.push(`note: ${n}`);
  for (const f of r.findings) out.push(`finding: ${f}`);
  for (const p of r.problems) out.push(`problem: ${p}`);
  out.push(r.problems.length === 0 ? 'profile check passed: every operation answered as the profile reads it' : `profile check failed: ${r.problems.length} problem(s) in the profile`);
  return out;
}
